"""Administration: rebuilding the projections."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks

from api.dependencies import Admin, ServicesDep
from api.json_body import JsonRoute
from api.schemas import ADMIN_PROBLEMS, RebuildAccepted

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], route_class=JsonRoute)


@router.post(
    "/projections/rebuild",
    status_code=202,
    response_model=RebuildAccepted,
    summary="Wipe the read models and replay the whole log into them",
    description=(
        "Returns at once; the active projection worker (in this server, or the one holding "
        "the lease elsewhere) replays from position 0. Watch `/readyz` for the lag."
    ),
    responses=ADMIN_PROBLEMS,
)
def rebuild_projections(services: ServicesDep, _: Admin, background: BackgroundTasks) -> Any:
    projection = services.projection
    projection.rebuild()
    if services.follower.running:
        services.follower.wake()
    else:
        # No follower in this process: catch up here; compare-and-set keeps it safe
        # should a worker elsewhere be catching up too.
        background.add_task(projection.catch_up)
    return {"status": "rebuilding", "position": 0}
