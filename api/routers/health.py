"""Liveness and readiness probes (no auth, no prefix)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from adapters.event_store import engine_of
from adapters.migrate import SchemaNotCurrent, require_current_schema
from adapters.projection import projection_position
from adapters.tables import events
from api.dependencies import FollowerDep, SettingsDep, TrackerDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database and schema; the projection's position and lag in events",
    responses={503: {"description": "Not ready; `detail` says why"}},
)
def readyz(tracker: TrackerDep, settings: SettingsDep, follower: FollowerDep) -> Any:
    engine = engine_of(tracker)
    try:
        require_current_schema(engine, settings.database_url)
        with engine.connect() as connection:
            head = connection.execute(select(func.max(events.c.id))).scalar_one() or 0
            projected = projection_position(engine)
    except (SQLAlchemyError, SchemaNotCurrent) as error:
        return JSONResponse({"status": "unavailable", "detail": str(error)}, status_code=503)
    if follower is None:
        state = "off"
    elif follower.last_error is not None:
        state = "failing"
    else:
        state = "running" if follower.active.is_set() else "waiting"
    return {
        "status": "ready",
        "log_position": head,
        "projection": {
            "position": projected,
            "lag": max(0, head - projected),
            "follower": state,
            "last_error": follower.last_error if follower is not None else None,
        },
    }
