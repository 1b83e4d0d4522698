"""The commitment and its events as plain JSON-ready data (CONTRACT section 4 shapes)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from domain.commitment import Commitment

# Fields every event has; `event_data` leaves them out of an event's `data`.
_ENVELOPE = {"originator_id", "originator_version", "timestamp", "actor", "originator_topic"}


def jsonable(value: Any) -> Any:
    """Dates as ISO strings, enums as values, decimals as numbers, dataclasses as dicts."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def judgement_day(
    commitment: Commitment,
    *,
    today: date,
    version: int | None = None,
    as_of: date | None = None,
    known_at: datetime | None = None,
) -> date:
    """The day derived fields (overdue, missed) are judged on, so that a past state reads
    the same whenever it is asked for: `as_of`; else the day of `known_at`; else, for a
    past version, the day that version was recorded; else today."""
    if as_of is not None:
        return as_of
    if known_at is not None:
        return known_at.date()
    if version is not None:
        return commitment.modified_on.date()
    return today


def describe(commitment: Commitment, today: date) -> dict[str, Any]:
    """The commitment resource; derived fields (overdue, missed) are judged on `today`."""
    return {
        "id": str(commitment.id),
        "code": commitment.code,
        "version": commitment.version,
        "title": commitment.title,
        "description": commitment.description,
        "pillar": commitment.pillar.value,
        "sectors": list(commitment.sectors),
        "parties": list(commitment.parties),
        "lead_party": commitment.lead_party,
        "agencies": jsonable(commitment.agencies),
        "start_date": jsonable(commitment.start_date),
        "target_date": jsonable(commitment.target_date),
        "status": commitment.status.value,
        "status_reason": commitment.status_reason,
        "status_as_of": jsonable(commitment.status_as_of),
        "superseded_by": commitment.superseded_by,
        "health": jsonable(commitment.health),
        "health_rationale": commitment.health_rationale,
        "health_as_of": jsonable(commitment.health_as_of),
        "progress": commitment.progress,
        "progress_as_of": jsonable(commitment.progress_as_of),
        "confidence": commitment.confidence,
        "overdue": commitment.is_overdue(today),
        "milestones": [
            {
                "id": m.id,
                "title": m.title,
                "due_date": m.due_date.isoformat(),
                "original_due_date": m.original_due_date.isoformat(),
                "times_rescheduled": m.times_rescheduled,
                "status": m.status(today),
                "completed_on": jsonable(m.completed_on),
                "completion_note": m.completion_note,
            }
            for m in commitment.milestones.values()
        ],
        "indicators": [
            {
                "id": i.id,
                "name": i.name,
                "unit": i.unit,
                "baseline": jsonable(i.baseline),
                "target": jsonable(i.target),
                "latest": None
                if i.latest_as_of is None
                else {"value": jsonable(i.latest_value), "as_of": i.latest_as_of.isoformat()},
                "measurements": i.measurements,
            }
            for i in commitment.indicators.values()
        ],
        "evidence": jsonable(commitment.evidence),
        "source": jsonable(commitment.source),
        "registered_at": commitment.created_on.isoformat(),
        "updated_at": commitment.modified_on.isoformat(),
    }


def event_type(event: Any) -> str:
    """A commitment's events by their name (ProgressLogged); others qualified by their
    aggregate (ReportSchedule.Defined)."""
    kind = type(event)
    return kind.__name__ if isinstance(event, Commitment.Event) else kind.__qualname__


def event_data(event: Commitment.Event) -> dict[str, Any]:
    """The facts an event carries, without its envelope (id, version, time, actor)."""
    return {
        f.name: jsonable(getattr(event, f.name))
        for f in dataclasses.fields(event)
        if f.name not in _ENVELOPE
    }


# Fields that change with every event and say nothing on their own.
_NOT_COMPARED = {"version", "updated_at"}


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The fields of two described states that differ, each as {from, to}."""
    return {
        name: {"from": before.get(name), "to": value}
        for name, value in after.items()
        if name not in _NOT_COMPARED and before.get(name) != value
    }
