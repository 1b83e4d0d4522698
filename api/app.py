"""The FastAPI application. Its lifespan builds the process's services once
(adapters/bootstrap.py) and runs the projection follower and the report scheduler beside
them unless COMMITMENTS_PROJECTOR / COMMITMENTS_SCHEDULER say false."""

from __future__ import annotations

import asyncio
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
from api.projection_reads import PositionWaits
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
from api.security import CsrfTokens, SecurityHeaders


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    # The app's own registry: many apps in one process (the tests) never clash.
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services = bootstrap(settings, metrics=metrics)
        # Readers waiting for `min_position` wait on this loop; the follower tells them.
        waits = PositionWaits(services.database, limit=settings.max_position_waiters)
        waits.attach(asyncio.get_running_loop())
        services.follower.on_progress.append(waits.advanced)
        app.state.position_waits = waits
        services.start(follower=settings.projector, scheduler=settings.scheduler)
        try:
            yield
        finally:
            waits.close()
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
    app.state.csrf = CsrfTokens(settings.secret_key)
    # Added last, so outside BodyLimit: its request id and timing cover the 413s too.
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
    _secure_every_response(app)
    return app


def _secure_every_response(app: FastAPI) -> None:
    """SecurityHeaders around the whole stack, outside Starlette's ServerErrorMiddleware
    (which add_middleware would put it inside of), so a 500 carries the headers too."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeaders(build())  # type: ignore[method-assign]


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
