"""The FastAPI application: one Tracker per process, created in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from adapters.event_store import open_tracker
from adapters.settings import Settings, load_settings
from api import problems
from api.routers import commitments, health


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.tracker = open_tracker(settings.database_url)
        try:
            yield
        finally:
            app.state.tracker.close()

    app = FastAPI(
        title="Commitments tracker",
        summary="Event-sourced tracker of the Canada-Mexico Action Plan 2025-2028",
        version="0.1.0",
        lifespan=lifespan,
    )
    problems.install(app)
    app.include_router(health.router)
    app.include_router(commitments.router)
    return app
