"""Report schedules: cron, formats, timezone; every change is an event in the log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from adapters.scheduler import list_schedules
from adapters.unit_of_work import Write
from adapters.wire import to_command
from api.dependencies import Admin, Reader, ServicesDep
from api.projection_reads import ProjectionRead
from api.schemas import ADMIN_PROBLEMS, READ_PROBLEMS, ScheduleIn, problems
from domain.commands import DefineSchedule, RemoveSchedule
from domain.errors import NotFound
from domain.schedule import ReportSchedule
from domain.views import ScheduleResource, schedule_resource

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])


@router.get(
    "",
    response_model=list[ScheduleResource],
    summary="Report schedules (from the projection; ?min_position= to read your change)",
    responses=READ_PROBLEMS,
)
def get_schedules(
    _: Reader, projection: Annotated[ProjectionRead, Depends()], include_removed: bool = False
) -> Any:
    return projection.read(
        lambda connection: list_schedules(connection, include_removed=include_removed)
    )


@router.get(
    "/{name}",
    response_model=ScheduleResource,
    summary="One report schedule (removed ones too)",
    responses=READ_PROBLEMS | problems(e404="No such schedule"),
)
def get_schedule(name: str, _: Reader, projection: Annotated[ProjectionRead, Depends()]) -> Any:
    found = [
        s
        for s in projection.read(lambda c: list_schedules(c, include_removed=True))
        if s["name"] == name
    ]
    if not found:
        raise NotFound(f"no schedule named {name!r}")
    return found[0]


@router.post(
    "",
    status_code=201,
    response_model=ScheduleResource,
    summary="Define a schedule (or redefine the one with that name)",
    responses=ADMIN_PROBLEMS
    | problems(e409="The schedule already has exactly these settings", e422="Invalid schedule"),
)
def define(body: ScheduleIn, services: ServicesDep, principal: Admin, response: Response) -> Any:
    written = services.unit_of_work.run(Write(principal, to_command(DefineSchedule, body)))
    assert written.change is not None
    schedule: ReportSchedule = written.change.aggregate
    response.headers["Location"] = f"{router.prefix}/{schedule.name}"
    response.headers["X-Log-Position"] = str(written.position)
    return schedule_resource(schedule)


@router.delete(
    "/{name}",
    status_code=204,
    summary="Remove a schedule (its history stays in the log)",
    responses=ADMIN_PROBLEMS | problems(e404="No such schedule", e409="Already removed"),
)
def remove(name: str, services: ServicesDep, principal: Admin) -> Response:
    written = services.unit_of_work.run(Write(principal, RemoveSchedule(name=name)))
    return Response(status_code=204, headers={"X-Log-Position": str(written.position)})
