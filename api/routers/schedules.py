"""Report schedules: cron, formats, timezone; every change is an event in the log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from adapters.scheduler import list_schedules as read_schedules
from adapters.wire import to_command
from api.dependencies import Reader
from api.json_body import JsonRoute
from api.projection_reads import ProjectionReadDep
from api.schemas import (
    PROJECTION_READ_PROBLEMS,
    SCHEDULE_WRITE_PROBLEMS,
    ScheduleIn,
    problems,
    written,
)
from api.writes import WRITE_HEADERS, AdminWriteDep
from domain.commands import DefineSchedule, RemoveSchedule
from domain.errors import NotFound
from domain.schedule import ReportSchedule
from domain.views import ScheduleResource, schedule_resource

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"], route_class=JsonRoute)


@router.get(
    "",
    response_model=list[ScheduleResource],
    summary="Report schedules (from the projection; ?min_position= to read your change)",
    responses=PROJECTION_READ_PROBLEMS,
)
def list_schedules(_: Reader, projection: ProjectionReadDep, include_removed: bool = False) -> Any:
    return projection.read(
        lambda connection: read_schedules(connection, include_removed=include_removed)
    )


@router.get(
    "/{name}",
    response_model=ScheduleResource,
    summary="One report schedule (removed ones too)",
    responses=PROJECTION_READ_PROBLEMS | problems(e404="No such schedule"),
)
def get_schedule(name: str, _: Reader, projection: ProjectionReadDep, response: Response) -> Any:
    found = [
        s
        for s in projection.read(lambda c: read_schedules(c, include_removed=True))
        if s["name"] == name
    ]
    if not found:
        raise NotFound(f"no schedule named {name!r}")
    response.headers["ETag"] = f'"{found[0]["version"]}"'  # for If-Match on its next change
    return found[0]


@router.post(
    "",
    status_code=201,
    response_model=ScheduleResource,
    summary="Define a schedule (or redefine the one with that name)",
    responses=SCHEDULE_WRITE_PROBLEMS | written(201, location=True),
    openapi_extra=WRITE_HEADERS,
)
def define_schedule(body: ScheduleIn, write: AdminWriteDep) -> Response:
    command = to_command(DefineSchedule, body)
    return write.run(command, body, status_code=201, render=_resource, location=_url)


@router.delete(
    "/{name}",
    status_code=204,
    summary="Remove a schedule (its history stays in the log)",
    responses=SCHEDULE_WRITE_PROBLEMS | written(204),
    openapi_extra=WRITE_HEADERS,
)
def remove_schedule(name: str, write: AdminWriteDep) -> Response:
    return write.run(RemoveSchedule(name=name), None, status_code=204)


def _resource(schedule: ReportSchedule, _: str | None) -> ScheduleResource:
    return schedule_resource(schedule)


def _url(schedule: ReportSchedule, _: str | None) -> str:
    return f"{router.prefix}/{schedule.name}"
