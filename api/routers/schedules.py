"""Report schedules: cron, formats, timezone; every change is an event in the log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from adapters.scheduler import cron_trigger, list_schedules
from api.dependencies import Admin, Reader, TrackerDep
from api.projection_reads import ProjectionRead
from api.schemas import ADMIN_PROBLEMS, READ_PROBLEMS, ScheduleIn, ScheduleOut, problems
from domain.errors import NotFound
from domain.schedule import ReportSchedule

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])


def _describe(schedule: ReportSchedule) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "cron": schedule.cron,
        "formats": list(schedule.formats),
        "timezone": schedule.timezone,
        "period_days": schedule.period_days,
        "active": schedule.active,
        "changed_by": schedule.changed_by,
        "changed_at": schedule.modified_on.isoformat(),
        "version": schedule.version,
    }


@router.get(
    "",
    response_model=list[ScheduleOut],
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
    response_model=ScheduleOut,
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
    response_model=ScheduleOut,
    summary="Define a schedule (or redefine the one with that name)",
    responses=ADMIN_PROBLEMS
    | problems(e409="The schedule already has exactly these settings", e422="Invalid schedule"),
)
def define(body: ScheduleIn, tracker: TrackerDep, principal: Admin, response: Response) -> Any:
    cron_trigger(body.cron, body.timezone)  # refuse what APScheduler could not run
    schedule, position = tracker.define_schedule(
        actor=principal.name,
        name=body.name,
        cron=body.cron,
        formats=body.formats,
        timezone=body.timezone,
        period_days=body.period_days,
    )
    response.headers["Location"] = f"{router.prefix}/{schedule.name}"
    response.headers["X-Log-Position"] = str(position)
    return _describe(schedule)


@router.delete(
    "/{name}",
    status_code=204,
    summary="Remove a schedule (its history stays in the log)",
    responses=ADMIN_PROBLEMS | problems(e404="No such schedule", e409="Already removed"),
)
def remove(name: str, tracker: TrackerDep, principal: Admin) -> Response:
    _, position = tracker.remove_schedule(name, actor=principal.name)
    return Response(status_code=204, headers={"X-Log-Position": str(position)})
