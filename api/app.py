"""The FastAPI application. Its lifespan builds the process's services once
(adapters/bootstrap.py) and runs the projection follower and the report scheduler beside
them unless COMMITMENTS_PROJECTOR / COMMITMENTS_SCHEDULER say false."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline

from adapters.bootstrap import bootstrap
from adapters.metrics import Metrics
from adapters.settings import Settings, load_settings
from api import problems
from api.body_limit import BodyLimit
from api.input_guard import InputGuard
from api.observability import RequestContext
from api.projection_reads import PositionWaits, projection_read
from api.routers import (
    admin,
    checkpoints,
    commitments,
    dashboard,
    events,
    feeds,
    forms,
    health,
    ledger,
    proofs,
    reports,
    schedules,
    tokens,
    webhooks,
)
from api.routers import (
    metrics as metrics_router,
)
from api.schemas import ProblemOut
from api.schemas import problems as documented_problems
from api.security import DOCS_ASSETS, CsrfTokens, SecurityHeaders
from domain.vocabulary import ISO_3166_ALPHA2


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    # The app's own registry: many apps in one process (the tests) never clash.
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services = bootstrap(settings, metrics=metrics, readers=True)
        # Readers waiting for `min_position` wait on this loop; the follower tells them,
        # unless they read a replica: then what counts is what it has replayed (polled).
        replica = services.replica is not None
        waits = PositionWaits(
            services.read_database,
            limit=settings.max_position_waiters,
            primary=services.database if replica else None,
        )
        waits.attach(asyncio.get_running_loop())
        # A rebuild may put different rows behind the same position (it exists to mend
        # read models): pages kept before it are dropped when it switches.
        services.rebuilder.on_switch.append(lambda _: waits.answers.clear())
        if not replica:
            services.follower.on_progress.append(waits.advanced)
            services.rebuilder.on_switch.append(waits.advanced)
        app.state.position_waits = waits
        services.start(
            follower=settings.projector, scheduler=settings.scheduler, webhooks=settings.webhooks
        )
        try:
            yield
        finally:
            waits.close()
            services.close()

    # FastAPI with /docs and /redoc whose assets come from the installed package, so the
    # docs work with no network (fastapi-offline); DOCS_ASSETS in api/security.py.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        # Swagger UI would send the document to validator.swagger.io for a badge.
        swagger_ui_parameters={"validatorUrl": None},
        title="Commitments tracker",
        summary="Event-sourced tracker of the Canada-Mexico Action Plan 2025-2028",
        description=(
            "Officials log progress on bilateral commitments; every change is an event. "
            "Authenticate with `Authorization: Bearer <token>` (`commitments token create`). "
            "Errors are `application/problem+json` (RFC 9457)."
        ),
        version="0.7.0",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.add_middleware(BodyLimit)
    # A path or query no route can take is refused before any route runs.
    app.add_middleware(InputGuard, templates=lambda: app.openapi()["paths"])
    app.state.csrf = CsrfTokens(settings.secret_key)
    # Added last, so outside BodyLimit: its request id and timing cover the 413s too.
    app.add_middleware(RequestContext, metrics=metrics)
    problems.install(app)
    # Requests are matched against routes in this order, one by one: the busiest first.
    routers = [
        commitments.router,
        events.router,
        reports.router,
        schedules.router,
        tokens.router,
        webhooks.router,
        ledger.router,
        proofs.router,
        checkpoints.router,
        admin.router,
        health.router,
        metrics_router.router,
        feeds.router,
        dashboard.router,
        forms.router,
    ]
    for router in routers:
        app.include_router(router)
    _document_problems(app, routers)
    _secure_every_response(app)
    return app


def _secure_every_response(app: FastAPI) -> None:
    """SecurityHeaders around the whole stack, outside Starlette's ServerErrorMiddleware
    (which add_middleware would put it inside of), so a 500 carries the headers too."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeaders(build())  # type: ignore[method-assign]


def operation_id(route: APIRoute) -> str:
    """What a generated client calls the operation: the route's name (`log_progress`),
    not FastAPI's default of name, path and method."""
    return route.name


def _document_problems(app: FastAPI, routers: list[APIRouter]) -> None:
    """Complete the OpenAPI document with what every route really answers: ProblemOut
    (referred to by $ref as application/problem+json), problem+json for every 422 (FastAPI
    documents its own JSON shape), the 400/413 of any body, the 503s of the database and
    of `min_position`, and the media types of report artefacts."""
    build = app.openapi
    waits = {
        (route.path, method.lower())
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and _depends_on(route, projection_read)
        for method in route.methods or ()
    }

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["ProblemOut"] = ProblemOut.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            for path, operations in schema["paths"].items():
                for method, operation in operations.items():
                    _complete(operation, waits=(path, method) in waits)
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(operation: dict[str, Any], *, waits: bool) -> None:
    responses = operation.setdefault("responses", {})
    # Any path or query parameter may be refused (api/input_guard.py), any body too.
    needed = documented_problems(e422="Invalid parameter or body (`errors` names each field)")
    if "requestBody" in operation:
        needed |= documented_problems(
            e400="The body is not UTF-8, or holds a non-JSON number such as NaN",
            e413="Body over its limit (64 KiB)",
        )
    if "401" in responses:  # every authenticated operation (adapters/tokens.py)
        needed |= documented_problems(e429=_AUTH_LIMITED)
    needed |= documented_problems(
        e503="The database is busy or unavailable (see Retry-After)"
        + ("; or min_position not reached within 5 s" if waits else "")
    )
    for code, response in needed.items():
        documented = responses.get(str(code))
        if documented is None or (
            code == 422 and "application/json" in documented.get("content", {})
        ):
            responses[str(code)] = response  # FastAPI's own 422 shape is not what is sent
        elif code == 503 and waits:
            responses[str(code)]["description"] = response["description"]
    for parameter in operation.get("parameters", ()):
        _constrain(parameter)


_AUTH_LIMITED = "Too many failed authentications from this address lately (see Retry-After)"
# What api/input_guard.py lets through in a path or query parameter: no C0 control or DEL.
_NO_CONTROL = "^[^\\u0000-\\u001f\\u007f]*$"
# The write headers as api/writes.py parses them; anything else is a 400.
_HEADER_PATTERNS = {
    "if-match": '^[ \\t]*(\\*|(W/)?"[^",]*"|[0-9]+)[ \\t]*$',
    "idempotency-key": "^[\\x21-\\x7e]{1,200}$",
}


# A party filter: an ISO 3166 alpha-2 code in either case (domain/vocabulary.py).
_PARTY = (
    "^("
    + "|".join("".join(f"[{c}{c.lower()}]" for c in code) for code in sorted(ISO_3166_ALPHA2))
    + ")$"
)
_QUERY_PATTERNS = {"party": _PARTY}


def _constrain(parameter: dict[str, Any]) -> None:
    """Say in the document what the guards refuse: text parameters hold no control
    characters, a party is an ISO code, the write headers have their syntax."""
    schema = parameter.get("schema", {})
    where, name = parameter["in"], parameter["name"]
    if where == "header" and name in _HEADER_PATTERNS:
        schema["pattern"] = _HEADER_PATTERNS[name]
        return
    if where not in ("path", "query"):
        return
    pattern = (_QUERY_PATTERNS.get(name) if where == "query" else None) or _NO_CONTROL
    for option in schema.get("anyOf", [schema]):
        # A filter that repeats (`status=a&status=b`) is an array: each value is checked.
        target = option.get("items", {}) if option.get("type") == "array" else option
        if target.get("type") == "string" and not {"enum", "format", "pattern"} & set(target):
            target["pattern"] = pattern


def _depends_on(route: APIRoute, call: Any) -> bool:
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if dependency.call is call:
            return True
        pending.extend(dependency.dependencies)
    return False
