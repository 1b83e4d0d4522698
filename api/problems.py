"""RFC 9457 problem+json responses for every error a client can cause."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from adapters.idempotency import KeyReused
from adapters.migrate import SchemaNotCurrent
from domain.errors import (
    DomainError,
    Forbidden,
    InvalidValue,
    NotFound,
    StateConflict,
    VersionMismatch,
)

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)

_DOMAIN_STATUS: list[tuple[type[DomainError], int, str]] = [
    (Forbidden, 403, "forbidden"),
    (NotFound, 404, "not-found"),
    (VersionMismatch, 412, "version-mismatch"),
    (StateConflict, 409, "conflict"),
    (InvalidValue, 422, "invalid-value"),
]


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind or HTTPStatus(status).phrase.lower().replace(" ", "-")
        self.headers = headers or {}


def problem_response(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    kind = kind or HTTPStatus(status).phrase.lower().replace(" ", "-")
    body: dict[str, Any] = {
        "type": f"urn:commitments:problem:{kind}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, error: Problem) -> JSONResponse:
        return problem_response(error.status, error.detail, kind=error.kind, headers=error.headers)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, error: DomainError) -> JSONResponse:
        for kind, status, name in _DOMAIN_STATUS:
            if isinstance(error, kind):
                return problem_response(status, error.message, kind=name)
        return problem_response(422, error.message, kind="rule-violated")

    @app.exception_handler(KeyReused)
    async def _key_reused(_: Request, error: KeyReused) -> JSONResponse:
        return problem_response(422, str(error), kind="idempotency-key-reused")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [_describe_error(e) for e in error.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
        return problem_response(422, detail, kind="invalid-request", extra={"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = _allowed(request, headers.get("Allow", ""))
        return problem_response(error.status_code, str(error.detail), headers=headers)

    @app.exception_handler(PersistenceError)
    @app.exception_handler(SQLAlchemyError)
    async def _database(_: Request, error: Exception) -> JSONResponse:
        # Busy or unreachable database (e.g. SQLite locked by another process): retryable.
        log.warning("database error answered with 503: %s", error)
        return problem_response(
            503,
            "the database is busy or unavailable; retry shortly",
            kind="database-unavailable",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(SchemaNotCurrent)
    async def _schema(_: Request, error: SchemaNotCurrent) -> JSONResponse:
        return problem_response(503, str(error), kind="schema-not-current")


def _allowed(request: Request, named: str) -> str:
    """Every method the API takes on this path (RFC 9110 section 15.5.6), as its OpenAPI
    document lists them: each method of a path is a route of its own, and Starlette
    names only those of the first route it tried (`named`, kept for the pages)."""
    state = request.app.state
    if not hasattr(state, "path_methods"):
        state.path_methods = [
            (path, compile_path(path)[0], {method.upper() for method in operations})
            for path, operations in request.app.openapi()["paths"].items()
        ]
    path = request.scope["path"]
    # A fixed path is its own resource (/reports/verify), not one of /reports/{report_id}.
    exact = [methods for fixed, _, methods in state.path_methods if fixed == path]
    found = exact or [
        methods for _, template, methods in state.path_methods if template.match(path)
    ]
    return ", ".join(sorted(set().union(*found))) if found else named


def _describe_error(error: Any) -> dict[str, str]:
    location = [str(p) for p in error.get("loc", ())]
    kind = error.get("type", "")
    if kind == "json_invalid":
        position = location[1] if len(location) > 1 else "?"
        return {"field": "body", "message": f"the body is not valid JSON (at character {position})"}
    if location == ["body"] and kind in ("model_attributes_type", "dict_type"):
        return {
            "field": "body",
            "message": "the body must be a JSON object sent as Content-Type: application/json",
        }
    return {"field": ".".join(location), "message": str(error.get("msg", ""))}
