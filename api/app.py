"""The FastAPI application. Its lifespan builds the process's services once
(adapters/bootstrap.py) and runs the projection follower and the report scheduler beside
them unless COMMITMENTS_PROJECTOR / COMMITMENTS_SCHEDULER say false."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from adapters.bootstrap import bootstrap
from adapters.metrics import Metrics
from adapters.settings import Settings, load_settings
from api import problems
from api.body_limit import BodyLimit
from api.observability import RequestContext
from api.routers import (
    admin,
    checkpoints,
    commitments,
    dashboard,
    events,
    health,
    ledger,
    proofs,
    reports,
    schedules,
    tokens,
)
from api.routers import (
    metrics as metrics_router,
)
from api.schemas import ProblemOut


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    # The app's own registry: many apps in one process (the tests) never clash.
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services = bootstrap(settings, metrics=metrics)
        services.start(follower=settings.projector, scheduler=settings.scheduler)
        try:
            yield
        finally:
            services.close()

    app = FastAPI(
        title="Commitments tracker",
        summary="Event-sourced tracker of the Canada-Mexico Action Plan 2025-2028",
        description=(
            "Officials log progress on bilateral commitments; every change is an event. "
            "Authenticate with `Authorization: Bearer <token>` (`commitments token create`). "
            "Errors are `application/problem+json` (RFC 9457)."
        ),
        version="0.5.0",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit)
    # Added last, so outermost: its request id and timing cover the 413s of BodyLimit.
    app.add_middleware(RequestContext, metrics=metrics)
    problems.install(app)
    # Requests are matched against routes in this order, one by one: the busiest first.
    app.include_router(commitments.router)
    app.include_router(events.router)
    app.include_router(reports.router)
    app.include_router(schedules.router)
    app.include_router(tokens.router)
    app.include_router(ledger.router)
    app.include_router(proofs.router)
    app.include_router(checkpoints.router)
    app.include_router(admin.router)
    app.include_router(health.router)
    app.include_router(metrics_router.router)
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
