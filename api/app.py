"""The FastAPI application: one Tracker per process, created in the lifespan, and the
projection follower running beside it unless COMMITMENTS_PROJECTOR=false."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from adapters.event_store import open_tracker
from adapters.follower import ProjectionFollower
from adapters.projection import ReadModelProjection
from adapters.scheduler import ReportScheduler
from adapters.settings import Settings, load_settings
from api import problems
from api.body_limit import BodyLimit
from api.routers import (
    admin,
    commitments,
    dashboard,
    events,
    health,
    ledger,
    reports,
    schedules,
)
from api.schemas import ProblemOut


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.tracker = tracker = open_tracker(settings.database_url)
        app.state.follower = None
        app.state.scheduler = None
        if settings.projector:
            app.state.follower = ProjectionFollower(ReadModelProjection(tracker))
            app.state.follower.start()
        if settings.scheduler:
            app.state.scheduler = ReportScheduler(tracker)
            app.state.scheduler.start()
        try:
            yield
        finally:
            if app.state.scheduler is not None:
                app.state.scheduler.stop()
            if app.state.follower is not None:
                app.state.follower.stop()
            tracker.close()

    app = FastAPI(
        title="Commitments tracker",
        summary="Event-sourced tracker of the Canada-Mexico Action Plan 2025-2028",
        description=(
            "Officials log progress on bilateral commitments; every change is an event. "
            "Authenticate with `Authorization: Bearer <token>` (`commitments token create`). "
            "Errors are `application/problem+json` (RFC 9457)."
        ),
        version="0.2.0",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit)
    problems.install(app)
    app.include_router(health.router)
    app.include_router(commitments.router)
    app.include_router(events.router)
    app.include_router(ledger.router)
    app.include_router(reports.router)
    app.include_router(schedules.router)
    app.include_router(admin.router)
    app.include_router(dashboard.router)
    _document_problems(app)
    return app


def _document_problems(app: FastAPI) -> None:
    """Responses refer to ProblemOut by $ref (as application/problem+json): add it."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {}).setdefault("schemas", {})["ProblemOut"] = (
                ProblemOut.model_json_schema(ref_template="#/components/schemas/{model}")
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
