"""Administration: rebuilding the projections."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from adapters.projection import log_head
from adapters.rebuild import RebuildRefused, rebuild_progress
from api.dependencies import Admin, ServicesDep
from api.json_body import JsonRoute
from api.problems import Problem
from api.schemas import ADMIN_PROBLEMS, REBUILD_PROBLEMS, RebuildAccepted, RebuildStatus

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], route_class=JsonRoute)


@router.post(
    "/projections/rebuild",
    status_code=202,
    response_model=RebuildAccepted,
    summary="Replay the whole log into new read models, then switch to them at once",
    description=(
        "Returns at once; this server replays the log into shadow tables while the read "
        "models in use go on following the log, then replaces them in one transaction: "
        "readers see the old read models until the new ones are complete. Watch "
        "`GET /admin/projections/rebuild` or `/readyz`. 409 while a rebuild is running."
    ),
    responses=REBUILD_PROBLEMS,
)
def rebuild_projections(services: ServicesDep, _: Admin) -> Any:
    with services.database.reading() as connection:
        head = log_head(connection)
    try:
        services.rebuilder.start()
    except RebuildRefused as error:
        raise Problem(409, str(error), kind="rebuild-running") from None
    return {"status": "rebuilding", "position": 0, "head": head}


@router.get(
    "/projections/rebuild",
    response_model=RebuildStatus,
    summary="How far a rebuild of the read models has got",
    responses=ADMIN_PROBLEMS,
)
def rebuild_status(services: ServicesDep, _: Admin) -> Any:
    with services.database.reading() as connection:
        progress = rebuild_progress(connection)
        head = log_head(connection)
    return {
        "status": "idle" if progress is None else "rebuilding",
        "position": None if progress is None else progress.position,
        "head": head,
        "updated_at": None if progress is None else progress.updated_at,
        "last_error": services.rebuilder.last_error,
    }
