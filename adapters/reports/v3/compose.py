"""Report format version 3, frozen: the data of reports archived with format version 3.

Kept verbatim so that those reports regenerate byte for byte (`commitments report
--reproduce ID`, `verify --report FILE`); never change what this module computes. The
current format is adapters/reports/data.py.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from domain import clock
from domain.commitment import Commitment, replay
from domain.views import summarize
from domain.vocabulary import Health, Pillar, Status

REPORT_FORMAT_VERSION = 3  # this module's, for ever
LANGUAGE = "en"  # the only language of format 3
DUE_SOON_DAYS = 90
KEY_DATES_DAYS = 365
KEY_DATES_LIMIT = 20
TREND_MONTHS = 12
RISK_RATINGS = (Health.AMBER_RED, Health.RED)


# ---- composing (pure) -------------------------------------------------------------------


def compose(
    histories: Iterable[list[Commitment.Event]],
    inputs: Any,
    *,
    chain_head: str | None,
    tree_size: int = 0,
    root_hash: str = "",
) -> dict[str, Any]:
    """The report's data (format 3). `inputs`: a ReportInputs (adapters/reports/data.py)."""
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
        # Only when some are pending: reports of logs without any keep their bytes.
        **({"pending_closures": pending} if (pending := _pending_closures(rows)) else {}),
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
            "tree_size": tree_size,
            "root_hash": root_hash,
            "language": inputs.language,
            "format_version": REPORT_FORMAT_VERSION,
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
    "The footer records every input of this report (as-of date, period, log position, "
    "language, format version), the log's chain head at that position and the log's "
    "Merkle tree there (size and root, RFC 9162): commitments verify --report FILE "
    "regenerates the report from them, compares it with the file byte for byte, says "
    "where they differ, checks the chain head, and checks that a checkpoint signed by the "
    "operator (and co-signed by the parties' witnesses) includes that tree.",
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
    """As report format 3 writes a decimal: whole numbers as integers, others as floats
    (changing this changes the bytes of every report regenerated from the log)."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _commitment(row: _Row, as_of: date) -> dict[str, Any]:
    """The report's row: fields of the commitment's summary (domain/views.py), with its
    state at the period's start beside them."""
    s = summarize(row.now, as_of)
    upcoming = s["next_milestone"]
    return {
        "code": s["code"],
        "title": s["title"],
        "pillar": s["pillar"],
        "lead_party": s["lead_party"],
        "parties": s["parties"],
        "sectors": s["sectors"],
        "status": s["status"],
        "status_at_start": row.before.status.value,
        "health": s["health"],
        "health_rationale": s["health_rationale"],
        "progress": s["progress"],
        "progress_at_start": row.before.progress,
        "progress_as_of": s["progress_as_of"],
        "confidence": s["confidence"],
        "target_date": s["target_date"],
        "overdue": s["overdue"],
        "milestones_total": s["milestones_total"],
        "milestones_completed": s["milestones_completed"],
        "milestones_missed": s["milestones_missed"],
        "next_milestone": None
        if upcoming is None
        else {"title": upcoming["title"], "due_date": upcoming["due_date"]},
        "version": s["version"],
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


def _pending_closures(rows: list[_Row]) -> list[dict[str, Any]]:
    """Closures proposed by one party and awaiting another's confirmation, as of the
    report's date (a proposal counts from the date of the status it proposes)."""
    pending = []
    for row in rows:
        p = row.now.pending_closure
        if p is None:
            continue
        pending.append(
            {
                "code": row.now.code,
                "title": row.now.title,
                "status": row.now.status.value,
                "proposed_status": p.status.value,
                "as_of": p.as_of.isoformat(),
                "reason": p.reason,
                "superseded_by": p.superseded_by,
                "proposed_by": p.proposed_by,
                "proposed_by_party": p.proposed_by_party,
                "proposed_at": clock.as_utc(p.proposed_at).isoformat(),
                "awaiting": [party for party in row.now.parties if party != p.proposed_by_party],
            }
        )
    pending.sort(key=lambda p: (p["as_of"], p["code"]))
    return pending


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
