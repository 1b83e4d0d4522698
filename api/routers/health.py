"""Liveness and readiness probes (no auth, no prefix)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from adapters.leases import lease_states
from adapters.log_guard import shrinkage
from adapters.migrate import SchemaNotCurrent, require_current_schema
from adapters.projection import log_head, projection_position
from adapters.rebuild import rebuild_progress
from api.dependencies import ServicesDep
from api.json_body import JsonRoute

router = APIRouter(tags=["health"], route_class=JsonRoute)
log = logging.getLogger(__name__)


@router.get("/healthz", summary="Liveness: the process answers")
def get_liveness() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database and schema; the projection's position and lag in events "
    "(and the read replica's, if any); the leases of the projection and the scheduler",
    responses={
        503: {
            "description": "Not ready; `detail` says why",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def get_readiness(services: ServicesDep) -> Any:
    try:
        require_current_schema(services.database)
        with services.database.reading() as connection:
            head = log_head(connection)
            projected = projection_position(connection)
            shrunk = shrinkage(connection)
            rebuild = rebuild_progress(connection)
            leases = lease_states(connection)
        replicated = None
        if services.replica is not None:
            with services.replica.database.one_query() as connection:
                replicated = projection_position(connection)
    except SchemaNotCurrent as error:
        return JSONResponse({"status": "unavailable", "detail": str(error)}, status_code=503)
    except SQLAlchemyError as error:
        # The driver's message names hosts, users and SQL: the log's, not the prober's.
        log.warning("readiness: database error: %s", error)
        detail = "the database is unreachable or failing (the server's log says why)"
        return JSONResponse({"status": "unavailable", "detail": detail}, status_code=503)
    if shrunk is not None:  # the read models hold what the log no longer does
        return JSONResponse(
            {"status": "unavailable", "detail": shrunk, "log_position": head},
            status_code=503,
        )
    follower = services.follower
    if not follower.running:
        state = "off"
    elif follower.last_error is not None:
        state = "failing"
    else:
        state = "running" if follower.active.is_set() else "waiting"
    # Who leads, without naming hosts to an unauthenticated prober: the epoch (it grows
    # at each takeover) and whether this process is the leader.
    mine = {services.follower.lease.holder, services.scheduler.lease.holder}
    ready: dict[str, Any] = {
        "status": "ready",
        "log_position": head,
        "projection": {
            "position": projected,
            "lag": max(0, head - projected),
            "follower": state,
            "last_error": follower.last_error,
            # A replay into the shadow tables (adapters/rebuild.py): "N of M" events.
            "rebuild": None
            if rebuild is None
            else {
                "position": rebuild.position,
                "of": head,
                "updated_at": rebuild.updated_at.isoformat(),
            },
        },
        "leases": {
            name: {"epoch": epoch, "held_here": holder in mine}
            for name, (holder, epoch) in sorted(leases.items())
        },
    }
    if replicated is not None:  # COMMITMENTS_READ_DATABASE_URL's: what its readers see
        ready["replica"] = {"position": replicated, "lag": max(0, head - replicated)}
    return ready
