"""The commitment and its events as plain JSON-ready data (docs/api.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

from typing_extensions import TypedDict

from domain import clock
from domain.commitment import Commitment, Indicator, Milestone, MilestoneStatus, PendingClosure
from domain.schedule import ReportSchedule
from domain.translations import structured

# Fields every event has; `event_data` leaves them out of an event's `data`.
_ENVELOPE = {"originator_id", "originator_version", "timestamp", "actor", "originator_topic"}


def jsonable(value: Any) -> Any:
    """Dates as ISO strings, enums as values, decimals exact (`exact`), dataclasses as dicts."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return exact(value)
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


class StoredNextMilestone(TypedDict):
    """The open milestone due first, as a read model keeps it."""

    id: str
    title: str
    due_date: str


class NextMilestone(StoredNextMilestone):
    """The open milestone due first, with its status on the day read (planned or missed)."""

    status: MilestoneStatus


class PendingClosureResource(TypedDict):
    """A closure proposed by an editor of one party, awaiting another party's."""

    status: str
    reason: str
    as_of: str
    superseded_by: str | None
    proposed_by: str
    proposed_by_party: str
    proposed_at: str
    version: int
    awaiting: list[str]


class TranslationResource(TypedDict, total=False):
    """A commitment's text in one language other than its original: what has been
    translated (domain/translations.py; `localized` reads a view in one language)."""

    title: str
    description: str
    milestones: dict[str, str]
    indicators: dict[str, str]


class _Summary(TypedDict):
    """The fields of a list item that do not depend on the day it is read on."""

    id: str
    code: str
    version: int
    title: str
    description: str
    pillar: str
    sectors: list[str]
    parties: list[str]
    lead_party: str
    start_date: str | None
    target_date: str | None
    status: str
    status_as_of: str | None
    health: str | None
    health_rationale: str | None
    health_as_of: str | None
    progress: int | None
    progress_as_of: str | None
    confidence: int | None
    milestones_total: int
    milestones_completed: int
    indicators_total: int
    evidence_total: int
    pending_closure: PendingClosureResource | None
    translations: dict[str, TranslationResource]
    text_languages: dict[str, str]
    registered_at: str
    updated_at: str


class StoredSummary(_Summary):
    """A commitment's list item without the fields derived from the day it is read on."""

    next_milestone: StoredNextMilestone | None


class CommitmentSummary(_Summary):
    """A commitment as the list shows it: every scalar field, counts, the next milestone."""

    next_milestone: NextMilestone | None
    overdue: bool
    milestones_missed: int


class MilestoneResource(TypedDict):
    id: str
    title: str
    due_date: str
    original_due_date: str
    times_rescheduled: int
    status: MilestoneStatus
    completed_on: str | None
    completion_note: str | None


class _JsonNumber:
    """Marks a decimal that the API writes as a JSON number with its very digits
    (api/json_body.py `dumps`), never through float; so the OpenAPI document says
    `number` (pydantic calls this hook; the domain does not import pydantic)."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {"type": "number"}


# A whole number as an int, any other as the exact Decimal: `99999999999999.999999`
# reads back as written (a float keeps only about 16 digits).
Number = Annotated[int | Decimal, _JsonNumber()]


class Measurement(TypedDict):
    value: Number
    as_of: str


class IndicatorResource(TypedDict):
    id: str
    name: str
    unit: str
    baseline: Number
    target: Number
    latest: Measurement | None
    measurements: int


class EvidenceResource(TypedDict):
    url: str
    title: str
    publisher: str | None
    published_on: str | None


class SourceResource(TypedDict):
    title: str
    url: str | None
    quote: str | None


class CommitmentResource(CommitmentSummary):
    """The commitment resource (docs/api.md): the summary and everything in it."""

    agencies: dict[str, list[str]]
    status_reason: str | None
    superseded_by: str | None
    # Completed in part only: headlines count `progress`, not 100 (`counted_progress`).
    completion_partial: bool
    counted_progress: int | None
    milestones: list[MilestoneResource]
    indicators: list[IndicatorResource]
    evidence: list[EvidenceResource]
    source: SourceResource | None


class ScheduleResource(TypedDict):
    """A report schedule as the API and the CLI show it."""

    name: str
    cron: str
    formats: list[str]
    timezone: str
    period_days: int
    language: str
    active: bool
    changed_by: str
    changed_at: str
    version: int


def schedule_resource(schedule: ReportSchedule) -> ScheduleResource:
    return {
        "name": schedule.name,
        "cron": schedule.cron,
        "formats": list(schedule.formats),
        "timezone": schedule.timezone,
        "period_days": schedule.period_days,
        "language": schedule.language,
        "active": schedule.active,
        "changed_by": schedule.changed_by,
        "changed_at": clock.as_utc(schedule.modified_on).isoformat(),
        "version": schedule.version,
    }


def summarize(commitment: Commitment, today: date) -> CommitmentSummary:
    """The one place a commitment becomes its list item; derived fields judged on `today`."""
    c = commitment
    stored = stored_summary(c)
    return {
        **stored,
        "next_milestone": next_milestone_on(stored["next_milestone"], today),
        "overdue": c.is_overdue(today),
        "milestones_missed": sum(1 for m in c.milestones.values() if m.status(today) == "missed"),
    }


def next_milestone_on(stored: StoredNextMilestone | None, today: date) -> NextMilestone | None:
    """The next milestone with its status judged on `today` (missed once its due date has
    passed: the domain's one definition, Milestone.status)."""
    if stored is None:
        return None
    due = date.fromisoformat(stored["due_date"])
    status = Milestone(stored["id"], stored["title"], due, due).status(today)
    return {**stored, "status": status}


def stored_summary(commitment: Commitment) -> StoredSummary:
    """The list item as a read model keeps it (readers add the derived fields)."""
    c = commitment
    upcoming = c.next_milestone()
    return {
        "id": str(c.id),
        "code": c.code,
        "version": c.version,
        "title": c.title,
        "description": c.description,
        "pillar": c.pillar.value,
        "sectors": list(c.sectors),
        "parties": list(c.parties),
        "lead_party": c.lead_party,
        "start_date": _iso(c.start_date),
        "target_date": _iso(c.target_date),
        "status": c.status.value,
        "status_as_of": _iso(c.status_as_of),
        "health": c.health.value if c.health else None,
        "health_rationale": c.health_rationale,
        "health_as_of": _iso(c.health_as_of),
        "progress": c.progress,
        "progress_as_of": _iso(c.progress_as_of),
        "confidence": c.confidence,
        "next_milestone": None
        if upcoming is None
        else {
            "id": upcoming.id,
            "title": upcoming.title,
            "due_date": upcoming.due_date.isoformat(),
        },
        "milestones_total": len(c.milestones),
        "milestones_completed": sum(1 for m in c.milestones.values() if m.completed_on),
        "indicators_total": len(c.indicators),
        "evidence_total": len(c.evidence),
        "pending_closure": pending_closure_resource(c),
        "translations": translations_resource(c),
        # The language of each text not written in English, by path (domain/translations.py).
        "text_languages": dict(sorted(c.text_languages.items())),
        "registered_at": clock.as_utc(c.created_on).isoformat(),
        "updated_at": clock.as_utc(c.modified_on).isoformat(),
    }


def describe(commitment: Commitment, today: date) -> CommitmentResource:
    """The commitment resource; derived fields (overdue, missed) are judged on `today`."""
    c = commitment
    summary = summarize(c, today)
    return {
        **summary,
        "agencies": {party: list(names) for party, names in c.agencies.items()},
        "status_reason": c.status_reason,
        "superseded_by": c.superseded_by,
        "completion_partial": c.completion_partial,
        "counted_progress": c.counted_progress,
        "milestones": [milestone_resource(m, today) for m in c.milestones.values()],
        "indicators": [indicator_resource(i) for i in c.indicators.values()],
        "evidence": [
            {
                "url": e.url,
                "title": e.title,
                "publisher": e.publisher,
                "published_on": _iso(e.published_on),
            }
            for e in c.evidence
        ],
        "source": None
        if c.source is None
        else {"title": c.source.title, "url": c.source.url, "quote": c.source.quote},
    }


def translations_resource(commitment: Commitment) -> dict[str, TranslationResource]:
    """Each language's translated texts, languages in order, empty ones left out."""
    return {
        language: structured(texts)  # type: ignore[misc]
        for language, texts in sorted(commitment.translations.items())
        if texts
    }


def pending_closure_resource(commitment: Commitment) -> PendingClosureResource | None:
    """The pending closure proposal, if any, with the parties whose confirmation it awaits."""
    p: PendingClosure | None = commitment.pending_closure
    if p is None:
        return None
    return {
        "status": p.status.value,
        "reason": p.reason,
        "as_of": p.as_of.isoformat(),
        "superseded_by": p.superseded_by,
        "proposed_by": p.proposed_by,
        "proposed_by_party": p.proposed_by_party,
        "proposed_at": clock.as_utc(p.proposed_at).isoformat(),
        "version": p.version,
        "awaiting": [party for party in commitment.parties if party != p.proposed_by_party],
    }


def milestone_resource(m: Milestone, today: date) -> MilestoneResource:
    return {
        "id": m.id,
        "title": m.title,
        "due_date": m.due_date.isoformat(),
        "original_due_date": m.original_due_date.isoformat(),
        "times_rescheduled": m.times_rescheduled,
        "status": m.status(today),
        "completed_on": _iso(m.completed_on),
        "completion_note": m.completion_note,
    }


def indicator_resource(i: Indicator) -> IndicatorResource:
    return {
        "id": i.id,
        "name": i.name,
        "unit": i.unit,
        "baseline": exact(i.baseline),
        "target": exact(i.target),
        "latest": None
        if i.latest_as_of is None or i.latest_value is None
        else {"value": exact(i.latest_value), "as_of": i.latest_as_of.isoformat()},
        "measurements": i.measurements,
    }


def exact(value: Decimal) -> int | Decimal:
    """A decimal for a JSON answer: whole numbers as integers, others as themselves."""
    return int(value) if value == value.to_integral_value() else value


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


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


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The fields of two described states that differ, each as {from, to}."""
    return {
        name: {"from": before.get(name), "to": value}
        for name, value in after.items()
        if name not in _NOT_COMPARED and before.get(name) != value
    }
