"""The progress report's data: a pure function of (the events up to a log position,
an as-of date, a period). Every other format is rendered from this dict, so the same
inputs always give the same bytes, and every figure can be traced to events.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import func, select

from adapters.event_store import engine_of
from adapters.tables import event_chain, events, report_archive
from domain.commitment import Commitment, replay
from domain.errors import InvalidValue
from domain.tracker import Tracker
from domain.vocabulary import EARLIEST_DATE, LATEST_DATE, Health, Pillar, Status

REPORT_FORMAT_VERSION = 1
DEFAULT_PERIOD_DAYS = 30
DUE_SOON_DAYS = 90
KEY_DATES_DAYS = 365
KEY_DATES_LIMIT = 20
TREND_MONTHS = 12
RISK_RATINGS = (Health.AMBER_RED, Health.RED)
_STREAM_BATCH = 5_000


@dataclass(frozen=True)
class ReportInputs:
    """Everything a report depends on: the same inputs give the same bytes."""

    at_position: int
    as_of: date
    period_days: int = DEFAULT_PERIOD_DAYS


def resolve_inputs(
    tracker: Tracker,
    *,
    at_position: int | None,
    as_of: date | None,
    period_days: int | None,
    today: date,
) -> ReportInputs:
    head = log_head(tracker)
    position = head if at_position is None else at_position
    if position < 0 or position > head:
        raise InvalidValue(f"at_position must be from 0 to {head} (the last event)")
    if at_position is not None and as_of is None:
        # "As the log stood at that position": take the date and period of the report
        # archived then, so that the bytes are the archived ones.
        archived = _archived_inputs(tracker, at_position)
        if archived is not None:
            as_of = archived[0]
            period_days = archived[1] if period_days is None else period_days
    if as_of is not None and not EARLIEST_DATE <= as_of <= LATEST_DATE:
        raise InvalidValue(f"as_of must be from {EARLIEST_DATE} to {LATEST_DATE}")
    period = DEFAULT_PERIOD_DAYS if period_days is None else period_days
    if not 1 <= period <= 366:
        raise InvalidValue("period_days must be from 1 to 366")
    return ReportInputs(position, as_of or today, period)


def _archived_inputs(tracker: Tracker, position: int) -> tuple[date, int] | None:
    with engine_of(tracker).connect() as connection:
        row = connection.execute(
            select(report_archive.c.as_of, report_archive.c.period_days)
            .where(report_archive.c.log_position == position)
            .order_by(report_archive.c.generated_at.desc())
            .limit(1)
        ).first()
    return None if row is None else (row.as_of, row.period_days)


def log_head(tracker: Tracker) -> int:
    with engine_of(tracker).connect() as connection:
        return int(connection.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one())


def chain_head_at(tracker: Tracker, position: int) -> str | None:
    """The chain entry of the last event at or before `position`."""
    with engine_of(tracker).connect() as connection:
        value = connection.execute(
            select(event_chain.c.hash)
            .where(event_chain.c.position <= position)
            .order_by(event_chain.c.position.desc())
            .limit(1)
        ).scalar_one_or_none()
    return None if value is None else str(value)


def commitment_events(tracker: Tracker, at_position: int) -> dict[UUID, list[Commitment.Event]]:
    """Each commitment's events recorded at or before `at_position`, in log order."""
    grouped: dict[UUID, list[Commitment.Event]] = defaultdict(list)
    query = (
        select(events.c.originator_id, events.c.originator_version, events.c.topic, events.c.state)
        .where(events.c.id <= at_position, events.c.topic.like("domain.commitment:%"))
        .order_by(events.c.id)
    )
    with engine_of(tracker).connect() as connection:
        rows = connection.execution_options(stream_results=True, yield_per=_STREAM_BATCH).execute(
            query
        )
        for row in rows:
            event: Commitment.Event = tracker.mapper.to_domain_event(
                StoredEvent(row.originator_id, row.originator_version, row.topic, bytes(row.state))
            )  # type: ignore[assignment]
            grouped[event.originator_id].append(event)
    return grouped


def build_report(tracker: Tracker, inputs: ReportInputs) -> dict[str, Any]:
    return compose(
        commitment_events(tracker, inputs.at_position).values(),
        inputs,
        chain_head=chain_head_at(tracker, inputs.at_position),
    )


# ---- composing (pure) -------------------------------------------------------------------


def compose(
    histories: Iterable[list[Commitment.Event]], inputs: ReportInputs, *, chain_head: str | None
) -> dict[str, Any]:
    as_of = inputs.as_of
    start = as_of - timedelta(days=inputs.period_days)
    rows: list[_Row] = []
    for history in histories:
        now = replay(history, as_of=as_of)
        before = replay(history, as_of=start)
        if now is None or before is None:
            continue
        rows.append(_Row(now, before, history))
    rows.sort(key=lambda r: r.now.code)
    return {
        "report": "progress",
        "format_version": REPORT_FORMAT_VERSION,
        "title": "Canada-Mexico Action Plan 2025-2028: progress report",
        "as_of": as_of.isoformat(),
        "period": {
            "start": start.isoformat(),
            "end": as_of.isoformat(),
            "days": inputs.period_days,
        },
        "headline": _headline(rows),
        "commitments": [_commitment(r, as_of) for r in rows],
        "changes": _changes(rows, start, as_of),
        "milestones": _milestones(rows, as_of),
        "indicators": _indicators(rows),
        "risks": _risks(rows),
        "drift": _drift(rows),
        "key_dates": _key_dates(rows, as_of),
        "trend": _trend(rows, as_of),
        "method": METHOD,
        "sources": _sources(rows),
        "footer": {
            "as_of": as_of.isoformat(),
            "period_days": inputs.period_days,
            "log_position": inputs.at_position,
            "chain_head": chain_head,
            "generator": f"commitments-tracker progress report v{REPORT_FORMAT_VERSION}",
        },
    }


METHOD = [
    "Built only from the event log up to the log position in the footer, as it stood then; "
    "regenerating with the same position, as-of date and period gives the same bytes.",
    "Facts count when their effective date is on or before the as-of date; the change over "
    "the period compares with the state as of the period's start.",
    "Progress is the latest percent logged by effective date; weighted progress is the mean "
    "over commitments, each weighing the same, a commitment without a figure counting as 0.",
    "Health is the latest rating by effective date on a five-point scale (green, amber_green, "
    "amber, amber_red, red); a risk is a commitment rated amber_red or red.",
    "A milestone is overdue when its due date is before the as-of date and it is not "
    "completed by then; a commitment is overdue when its target date has passed likewise.",
    "The footer's as-of date, period, log position and chain head let anyone check this "
    "report against the log: commitments verify --report FILE regenerates it and compares.",
]


@dataclass
class _Row:
    now: Commitment
    before: Commitment
    history: list[Commitment.Event]


def _progress(commitments: list[Commitment]) -> float:
    if not commitments:
        return 0.0
    return round(sum(c.progress or 0 for c in commitments) / len(commitments), 1)


def _group(rows: list[_Row]) -> dict[str, Any]:
    now = [r.now for r in rows]
    before = [r.before for r in rows]
    start, end = _progress(before), _progress(now)
    return {
        "commitments": len(rows),
        "by_status": _count_status(now),
        "by_status_at_start": _count_status(before),
        "by_health": _count_health(now),
        "by_health_at_start": _count_health(before),
        "progress": {"start": start, "end": end, "change": round(end - start, 1)},
    }


def _count_status(commitments: list[Commitment]) -> dict[str, int]:
    counts = Counter(c.status for c in commitments)
    return {s.value: counts.get(s, 0) for s in Status}


def _count_health(commitments: list[Commitment]) -> dict[str, int]:
    counts = Counter(c.health for c in commitments)
    result = {h.value: counts.get(h, 0) for h in Health}
    result["unrated"] = counts.get(None, 0)
    return result


def _headline(rows: list[_Row]) -> dict[str, Any]:
    by_pillar = [
        {"pillar": p.value} | _group([r for r in rows if r.now.pillar is p]) for p in Pillar
    ]
    parties = sorted({r.now.lead_party for r in rows})
    by_party = [
        {"lead_party": party} | _group([r for r in rows if r.now.lead_party == party])
        for party in parties
    ]
    return _group(rows) | {"by_pillar": by_pillar, "by_lead_party": by_party}


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _number(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _commitment(row: _Row, as_of: date) -> dict[str, Any]:
    c = row.now
    open_milestones = sorted(
        (m for m in c.milestones.values() if m.completed_on is None),
        key=lambda m: (m.due_date, m.id),
    )
    return {
        "code": c.code,
        "title": c.title,
        "pillar": c.pillar.value,
        "lead_party": c.lead_party,
        "parties": list(c.parties),
        "sectors": list(c.sectors),
        "status": c.status.value,
        "status_at_start": row.before.status.value,
        "health": c.health.value if c.health else None,
        "health_rationale": c.health_rationale,
        "progress": c.progress,
        "progress_at_start": row.before.progress,
        "progress_as_of": _iso(c.progress_as_of),
        "confidence": c.confidence,
        "target_date": _iso(c.target_date),
        "overdue": c.is_overdue(as_of),
        "milestones_total": len(c.milestones),
        "milestones_completed": sum(1 for m in c.milestones.values() if m.completed_on),
        "milestones_missed": sum(1 for m in c.milestones.values() if m.status(as_of) == "missed"),
        "next_milestone": None
        if not open_milestones
        else {
            "title": open_milestones[0].title,
            "due_date": open_milestones[0].due_date.isoformat(),
        },
        "version": c.version,
    }


def _effective_evidence(row: _Row, start: date, end: date) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for event in row.history:
        documents = []
        if isinstance(event, Commitment.EvidenceAttached):
            documents = [event.evidence]
        elif isinstance(event, Commitment.ProgressLogged) and start < event.as_of <= end:
            documents = list(event.evidence)
        for doc in documents:
            published = doc.published_on
            if isinstance(event, Commitment.EvidenceAttached) and not (
                published is not None and start < published <= end
            ):
                continue
            found.append({"url": doc.url, "title": doc.title, "published_on": _iso(published)})
    return found


def _changes(rows: list[_Row], start: date, end: date) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    for row in rows:
        status: str = Status.NOT_STARTED.value
        health: str | None = None
        evidence = _effective_evidence(row, start, end)
        for event in row.history:
            previous: str | None
            value: str
            if isinstance(event, Commitment.StatusChanged):
                previous, status = status, event.status.value
                kind, value, reason = "status", status, event.reason
            elif isinstance(event, Commitment.HealthRated):
                previous, health = health, event.rating.value
                kind, value, reason = "health", event.rating.value, event.rationale
            else:
                continue
            if start < event.as_of <= end:
                changes.append(
                    {
                        "date": event.as_of.isoformat(),
                        "code": row.now.code,
                        "title": row.now.title,
                        "kind": kind,
                        "from": previous,
                        "to": value,
                        "reason": reason,
                        "actor": event.actor,
                        "recorded_at": event.timestamp.isoformat(),
                        "evidence": evidence,
                    }
                )
    changes.sort(key=lambda c: (c["date"], c["code"], c["recorded_at"]))
    return changes


def _milestones(rows: list[_Row], as_of: date) -> dict[str, list[dict[str, Any]]]:
    overdue, due_soon = [], []
    horizon = as_of + timedelta(days=DUE_SOON_DAYS)
    for row in rows:
        for m in row.now.milestones.values():
            if m.completed_on is not None:
                continue
            item = {
                "code": row.now.code,
                "milestone": m.title,
                "due_date": m.due_date.isoformat(),
                "days": (m.due_date - as_of).days,
            }
            if m.due_date < as_of:
                overdue.append(item)
            elif m.due_date <= horizon:
                due_soon.append(item)
    order = lambda i: (i["due_date"], i["code"], i["milestone"])  # noqa: E731
    return {"overdue": sorted(overdue, key=order), "due_next_90_days": sorted(due_soon, key=order)}


def _indicators(rows: list[_Row]) -> list[dict[str, Any]]:
    result = []
    for row in rows:
        for i in row.now.indicators.values():
            achieved = None
            if i.latest_value is not None and i.target != i.baseline:
                share = (i.latest_value - i.baseline) / (i.target - i.baseline) * 100
                achieved = round(float(share), 1)
            result.append(
                {
                    "code": row.now.code,
                    "indicator": i.name,
                    "unit": i.unit,
                    "baseline": _number(i.baseline),
                    "target": _number(i.target),
                    "latest": _number(i.latest_value),
                    "latest_as_of": _iso(i.latest_as_of),
                    "achieved_percent": achieved,
                }
            )
    return result


def _risks(rows: list[_Row]) -> list[dict[str, Any]]:
    risky = [r.now for r in rows if r.now.health in RISK_RATINGS]
    risky.sort(key=lambda c: (list(Health).index(c.health) * -1 if c.health else 0, c.code))
    return [
        {
            "code": c.code,
            "title": c.title,
            "pillar": c.pillar.value,
            "lead_party": c.lead_party,
            "health": c.health.value if c.health else None,
            "rationale": c.health_rationale,
            "rated_as_of": _iso(c.health_as_of),
            "status": c.status.value,
        }
        for c in risky
    ]


def _drift(rows: list[_Row]) -> dict[str, list[dict[str, Any]]]:
    rescheduled: list[dict[str, Any]] = []
    targets: list[dict[str, Any]] = []
    for row in rows:
        for m in row.now.milestones.values():
            if m.times_rescheduled:
                rescheduled.append(
                    {
                        "code": row.now.code,
                        "milestone": m.title,
                        "original_due_date": m.original_due_date.isoformat(),
                        "due_date": m.due_date.isoformat(),
                        "slip_days": (m.due_date - m.original_due_date).days,
                        "times_rescheduled": m.times_rescheduled,
                    }
                )
        target = None
        for event in row.history:
            if isinstance(event, Commitment.Registered):
                target = event.target_date
            elif isinstance(event, Commitment.DetailsRevised) and "target_date" in event.changes:
                new = event.changes["target_date"]
                targets.append(
                    {
                        "code": row.now.code,
                        "from": _iso(target),
                        "to": _iso(new),
                        "reason": event.reason,
                        "recorded_at": event.timestamp.isoformat(),
                        "actor": event.actor,
                    }
                )
                target = new
    rescheduled.sort(key=lambda d: (-int(d["slip_days"]), d["code"], d["milestone"]))
    targets.sort(key=lambda d: (d["recorded_at"], d["code"]))
    return {"rescheduled_milestones": rescheduled, "revised_target_dates": targets}


def _key_dates(rows: list[_Row], as_of: date) -> list[dict[str, Any]]:
    horizon = as_of + timedelta(days=KEY_DATES_DAYS)
    ahead = [
        {"date": m.due_date.isoformat(), "code": row.now.code, "what": m.title}
        for row in rows
        for m in row.now.milestones.values()
        if m.completed_on is None and as_of <= m.due_date <= horizon
    ]
    ahead.sort(key=lambda k: (k["date"], k["code"], k["what"]))
    return ahead[:KEY_DATES_LIMIT]


def _month_ends(as_of: date, months: int) -> Iterator[date]:
    """The last day of each of the `months - 1` months before as_of's month, then as_of."""
    first = as_of.replace(day=1)
    ends = []
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    for _ in range(months - 1):
        following = (first + timedelta(days=32)).replace(day=1)
        ends.append(following - timedelta(days=1))
        first = following
    yield from ends
    yield as_of


def _trend(rows: list[_Row], as_of: date) -> list[dict[str, Any]]:
    """Weighted progress at month ends (the progress-over-time chart)."""
    series: list[list[tuple[date, int]]] = []
    for row in rows:
        points = [
            (e.as_of, e.percent) for e in row.history if isinstance(e, Commitment.ProgressLogged)
        ]
        # Sorting is stable: among equal dates the later recorded figure stays last.
        series.append(sorted(points, key=lambda p: p[0]))
    trend = []
    for day in _month_ends(as_of, TREND_MONTHS):
        values = []
        for points in series:
            latest = [percent for when, percent in points if when <= day]
            values.append(latest[-1] if latest else 0)
        average = round(sum(values) / len(values), 1) if values else 0.0
        trend.append({"date": day.isoformat(), "progress": average})
    return trend


def _sources(rows: list[_Row]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str | None], set[str]] = defaultdict(set)
    for row in rows:
        if row.now.source is not None:
            seen[(row.now.source.title, row.now.source.url)].add(row.now.code)
    return [
        {"title": title, "url": url, "commitments": sorted(codes)}
        for (title, url), codes in sorted(seen.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
    ]
