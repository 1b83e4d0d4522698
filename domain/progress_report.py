"""The progress report's rules: pure functions over commitment states and the facts of
their logs, whichever way those were loaded.

adapters/reports/data.py loads them two ways and hands them here: by replaying every
event up to the report's position (the reference, which `commitments verify --report`
uses), or from the read models (adapters/reports/fast.py), which keep the series facts
(progress, health ratings, measurements) as rows. Both give a `CommitmentLog` per
commitment; the rules below read nothing else, so both give the same report.

What the report says in words (its title, its method) is the adapters' (they translate);
here are the figures and the items, and the texts of the commitments themselves.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

from domain import clock
from domain.commitment import Commitment, Indicator, Milestone
from domain.translations import ORIGINAL_LANGUAGE, TITLE, indicator_path, milestone_path
from domain.views import summarize
from domain.vocabulary import Health, Pillar, Status

DUE_SOON_DAYS = 90
KEY_DATES_DAYS = 365
KEY_DATES_LIMIT = 20
TREND_MONTHS = 12
RISK_RATINGS = (Health.AMBER_RED, Health.RED)
CHANGE_KINDS = (
    "milestone_completed",
    "progress",
    "evidence",
    "status",
    "health",
    "risk_new",
    "risk_resolved",
)
# The events most of a log is made of, which the read models keep as rows (one each);
# every other event of a commitment is "structural" (its plan, status, texts, evidence).
SERIES_EVENTS: tuple[type[Commitment.Event], ...] = (
    Commitment.ProgressLogged,
    Commitment.HealthRated,
    Commitment.IndicatorMeasured,
)


# ---- what a commitment's log is, for the report ------------------------------------------


@dataclass(frozen=True)
class ProgressFact:
    """A ProgressLogged event as the report counts it (`evidence`: how many documents)."""

    position: int
    as_of: date
    percent: int
    confidence: int | None
    evidence: int


@dataclass(frozen=True)
class HealthFact:
    position: int
    as_of: date
    rating: Health
    rationale: str


@dataclass(frozen=True)
class MeasurementFact:
    position: int
    indicator_id: str
    as_of: date
    value: Decimal


@dataclass(frozen=True)
class SeriesTotals:
    """What the series facts in effect on a day add up to: the evidence documents of the
    progress figures, the measurements of each indicator, and the last fact recorded
    (position and time: the commitment's last update, when no later event applies)."""

    evidence: int
    measurements: dict[str, int]
    last: tuple[int, datetime] | None


@dataclass
class CommitmentLog:
    """One commitment's events up to the report's position, as the report reads them.

    `structural`: every event that is not a series fact, with its log position, in log
    order. `version`: the commitment's version at the report's position. `shown`: series
    events by position, at least those `shown_positions` names (the report prints their
    notes, evidence and actors).

    The series facts (in log order) are either all of them, or, with `totals` for each
    day the report folds the commitment on (`report_days`), only those the report reads:
    the one in effect on each such day (of each indicator, for measurements), those of
    the period and, for each of these, the one in effect on its date before it was
    recorded. Every rule here picks the one in effect among facts, so a subset holding
    those picks what all of them would."""

    structural: list[tuple[int, Commitment.Event]]
    progress: list[ProgressFact]
    health: list[HealthFact]
    measurements: list[MeasurementFact]
    version: int
    shown: dict[int, Commitment.Event] = field(default_factory=dict)
    totals: dict[date, SeriesTotals] = field(default_factory=dict)
    # Of all series facts, when they are all here: their recorded times by position.
    recorded: dict[int, datetime] = field(default_factory=dict)

    @classmethod
    def of_events(
        cls, history: Sequence[Commitment.Event], positions: Sequence[int]
    ) -> CommitmentLog:
        """The log of a commitment from all its events (and their positions)."""
        log = cls([], [], [], [], history[-1].originator_version if history else 0)
        for position, event in zip(positions, history, strict=True):
            if isinstance(event, Commitment.ProgressLogged):
                log.progress.append(
                    ProgressFact(
                        position, event.as_of, event.percent, event.confidence, len(event.evidence)
                    )
                )
            elif isinstance(event, Commitment.HealthRated):
                log.health.append(HealthFact(position, event.as_of, event.rating, event.rationale))
            elif isinstance(event, Commitment.IndicatorMeasured):
                log.measurements.append(
                    MeasurementFact(position, event.indicator_id, event.as_of, event.value)
                )
            else:
                log.structural.append((position, event))
                continue
            log.shown[position] = event
            log.recorded[position] = event.timestamp
        return log

    def totals_on(self, day: date) -> SeriesTotals:
        """The series totals in effect on `day`: given, or worked out from all facts."""
        if day in self.totals:
            return self.totals[day]
        counts: Counter[str] = Counter(m.indicator_id for m in self.measurements if m.as_of <= day)
        applied = [
            f.position
            for facts in (self.progress, self.health, self.measurements)
            for f in facts
            if f.as_of <= day
        ]
        last = max(applied, default=None)
        return SeriesTotals(
            sum(f.evidence for f in self.progress if f.as_of <= day),
            dict(counts),
            None if last is None else (last, self.recorded[last]),
        )


@lru_cache(maxsize=64)
def report_days(as_of: date, start: date) -> tuple[date, ...]:
    """The days the report folds each commitment on: the period's start, the trend's month
    ends and the report's date (the last of them)."""
    return (start, *month_ends(as_of, TREND_MONTHS))


Fact = TypeVar("Fact", ProgressFact, HealthFact, MeasurementFact)


def in_effect(facts: Iterable[Fact], day: date, before: int | None = None) -> Fact | None:
    """The fact in effect on `day`: the latest by effective date, among equal dates the
    later recorded (as the aggregate's `apply` keeps them); `before`: among the facts
    recorded before that position only."""
    best: Fact | None = None
    for fact in facts:
        if before is not None and fact.position >= before:
            break
        if fact.as_of <= day and (best is None or fact.as_of >= best.as_of):
            best = fact
    return best


def shown_positions(log: CommitmentLog, as_of: date, start: date) -> set[int]:
    """The series events whose details the report shows: those of the period (start, as_of]
    and the progress figure in effect on the report's date (its note)."""
    wanted = {
        f.position
        for facts in (log.progress, log.health)
        for f in facts
        if start < f.as_of <= as_of
    }
    latest = in_effect(log.progress, as_of)
    if latest is not None:
        wanted.add(latest.position)
    return wanted


def state_as_of(log: CommitmentLog, day: date) -> tuple[Commitment, int] | None:
    """The commitment as of `day` and how many evidence documents it counts then: what
    domain.commitment.replay(all events, as_of=day) gives, folding the structural events
    and taking from the series facts only the ones in effect (the latest by effective
    date; measurements and evidence counted). Its `evidence` list holds the documents of
    structural events only; the count is of all."""
    aggregate: Commitment | None = None
    last_applied: int | None = None
    for position, event in log.structural:
        effective = event.effective_on()
        if aggregate is not None and effective and effective > day:
            continue
        if aggregate is not None:
            # The series events between are not folded here: as replay would, having
            # applied or skipped them.
            aggregate.version = event.originator_version - 1
        aggregate = event.mutate(aggregate)
        last_applied = position
    if aggregate is None:
        return None
    totals = log.totals_on(day)
    progress = in_effect(log.progress, day)
    if progress is not None:
        aggregate.progress = progress.percent
        aggregate.progress_as_of = progress.as_of
        aggregate.confidence = progress.confidence
    health = in_effect(log.health, day)
    if health is not None:
        aggregate.health = health.rating
        aggregate.health_rationale = health.rationale
        aggregate.health_as_of = health.as_of
    for indicator_id, count in totals.measurements.items():
        # Structural events never set these: the measurements alone do.
        indicator = aggregate.indicators[indicator_id]
        measured = [m for m in log.measurements if m.indicator_id == indicator_id]
        latest = in_effect(measured, day)
        assert latest is not None
        indicator.measurements += count
        indicator.latest_value = latest.value
        indicator.latest_as_of = latest.as_of
    assert last_applied is not None
    if totals.last is not None and totals.last[0] > last_applied:
        aggregate.modified_on = totals.last[1]
    aggregate.version = log.version
    return aggregate, len(aggregate.evidence) + totals.evidence


# ---- a commitment's row ----------------------------------------------------------------


@dataclass
class ReportRow:
    """A commitment in the report: its state as of the report's date (`now`) and the
    period's start (`before`), in the report's language, with what the report says of its
    log (worked out once, so the log itself need not be kept)."""

    now: Commitment
    before: Commitment
    language: str
    evidence_total: int = 0
    latest_note: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    target_revisions: list[dict[str, Any]] = field(default_factory=list)
    # Counted progress at each month end of the trend (month_ends).
    trend: list[int] = field(default_factory=list)
    # What the row's own functions worked out, kept: the portfolio composes its report
    # again from the same rows at each new log position (adapters/reports/fast.py).
    _untranslated: list[str] | None = field(default=None, repr=False, compare=False)
    _sections: dict[tuple[str, date], list[dict[str, Any]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def section_items(
        self, section: str, as_of: date, make: Callable[[ReportRow, date], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """The row's items of a section (`make`: its commitment item, its milestones'),
        worked out once per section and date (a copy of each item each time: reports are
        not changed, but a copy keeps one from changing another)."""
        key = (section, as_of)
        if key not in self._sections:
            self._sections[key] = make(self, as_of)
        return [dict(item) for item in self._sections[key]]

    def written_in(self, path: str) -> str:
        """The language the commitment's text at `path` is written in."""
        return self.now.text_language(path)

    def text(self, path: str, original: str) -> str:
        """The commitment's text at `path` (domain/translations.py) in the report's
        language: itself if written in it, else its translation, else the original."""
        if self.written_in(path) == self.language:
            return original
        return self.now.translations.get(self.language, {}).get(path) or original

    @property
    def title(self) -> str:
        return self.text(TITLE, self.now.title)

    def milestone(self, m: Milestone) -> str:
        return self.text(milestone_path(m.id), m.title)

    def indicator(self, i: Indicator) -> str:
        return self.text(indicator_path(i.id), i.name)

    def english(self, **paths: str) -> list[str]:
        """An item's `untranslated`: which of its fields (field=path of the text it shows)
        read in the original for want of a translation, so every format can mark them."""
        found = self._found_untranslated()
        if not found:  # as most are: every text in the report's language
            return []
        missing = set(found)
        return sorted(name for name, path in paths.items() if path in missing)

    def marks(self, **paths: str) -> dict[str, Any]:
        """An item's `untranslated` fields (`english`) and, when any of them is written in
        another language than English, `original_language`: the language of each, so
        every format marks it with its own code ("(ES)"). Left out when all are in
        English, so reports of English-only texts stay as they were."""
        fields = self.english(**paths)
        marks: dict[str, Any] = {"untranslated": fields}
        if not fields:
            return marks
        languages = {name: self.written_in(paths[name]) for name in fields}
        if any(language != ORIGINAL_LANGUAGE for language in languages.values()):
            marks["original_language"] = languages
        return marks

    def all_marks(self) -> dict[str, Any]:
        """`marks` of the commitment's row, whose `untranslated` names paths."""
        paths = self.untranslated()
        return self.marks(**dict(zip(paths, paths, strict=True))) | {"untranslated": paths}

    def untranslated(self) -> list[str]:
        """The texts of the commitment that read in their original language for want of a
        translation into the report's language (none written in it)."""
        return list(self._found_untranslated())

    def _found_untranslated(self) -> list[str]:
        """`untranslated`, worked out once (not a copy: callers only read it)."""
        if self._untranslated is None:
            self._untranslated = self._find_untranslated()
        return self._untranslated

    def _find_untranslated(self) -> list[str]:
        texts = [(TITLE, self.now.title)]
        texts += [(milestone_path(m.id), m.title) for m in self.now.milestones.values()]
        texts += [(indicator_path(i.id), i.name) for i in self.now.indicators.values()]
        known = self.now.translations.get(self.language, {})
        return sorted(
            path
            for path, original in texts
            if original and not known.get(path) and self.written_in(path) != self.language
        )


def report_row(
    log: CommitmentLog,
    now: tuple[Commitment, int],
    before: Commitment,
    *,
    start: date,
    as_of: date,
    language: str,
) -> ReportRow:
    """The commitment's row: `now` is its state as of the report's date with the count of
    its evidence documents then, `before` its state as of the period's start."""
    row = ReportRow(now[0], before, language, evidence_total=now[1])
    latest = in_effect(log.progress, as_of)
    if latest is not None:
        event = log.shown[latest.position]
        assert isinstance(event, Commitment.ProgressLogged)
        row.latest_note = event.note
    row.changes = _row_changes(row, log, start, as_of)
    row.target_revisions = _target_revisions(row, log)
    row.trend = _counted_at(log, report_days(as_of, start)[1:])
    return row


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _row_changes(
    row: ReportRow, log: CommitmentLog, start: date, end: date
) -> list[dict[str, Any]]:
    """What happened to the commitment in the period (start, end], each item traceable to
    its event; see `changes`."""
    changes: list[dict[str, Any]] = []
    status: Status = Status.NOT_STARTED

    def item(position: int, event: Commitment.Event, kind: str, day: date, **fields: Any) -> None:
        # `english`: the change's fields that show a commitment's text, and its paths.
        english: dict[str, str] = fields.pop("english", {})
        changes.append(
            {
                "date": day.isoformat(),
                "kind": kind,
                "code": row.now.code,
                "title": row.title,
                "from": None,
                "to": None,
                "note": None,
                **row.marks(title=TITLE, **english),
            }
            | fields
            | {
                "actor": event.actor,
                "recorded_at": event.timestamp.isoformat(),
                "position": position,
                "version": event.originator_version,
            }
        )

    def evidence(position: int, event: Commitment.Event, doc: Any, day: date) -> None:
        item(
            position,
            event,
            "evidence",
            day,
            note=doc.title,
            url=doc.url,
            publisher=doc.publisher,
            published_on=_iso(doc.published_on),
        )

    shown = [(p, e) for p, e in log.shown.items() if _within(e.effective_on(), start, end)]
    for position, event in sorted(log.structural + shown, key=lambda pe: pe[0]):
        if isinstance(event, Commitment.ProgressLogged):
            fact = in_effect(log.progress, event.as_of, before=position)
            previous = None if fact is None else fact.percent
            item(
                position,
                event,
                "progress",
                event.as_of,
                **{"from": previous, "to": event.percent},
                note=event.note,
                confidence=event.confidence,
            )
            for doc in event.evidence:
                evidence(position, event, doc, doc.published_on or event.as_of)
        elif isinstance(event, Commitment.StatusChanged):
            was, status = status, event.status
            if start < event.as_of <= end and was is not event.status:
                partial = event.status is Status.COMPLETED and event.partial
                item(
                    position,
                    event,
                    "status",
                    event.as_of,
                    **{"from": was.value, "to": event.status.value},
                    note=event.reason,
                    partial=partial,
                    superseded_by=event.superseded_by,
                )
        elif isinstance(event, Commitment.HealthRated):
            rated = in_effect(log.health, event.as_of, before=position)
            rating = None if rated is None else rated.rating
            if rating is event.rating:
                continue
            moved = {"from": rating.value if rating else None, "to": event.rating.value}
            item(position, event, "health", event.as_of, **moved, note=event.rationale)
            if (rating in RISK_RATINGS) != (event.rating in RISK_RATINGS):
                kind = "risk_new" if event.rating in RISK_RATINGS else "risk_resolved"
                item(position, event, kind, event.as_of, **moved, note=event.rationale)
        elif isinstance(event, Commitment.MilestoneCompleted):
            if not start < event.completed_on <= end:
                continue
            milestone = row.now.milestones[event.milestone_id]
            late = (event.completed_on - milestone.due_date).days
            item(
                position,
                event,
                "milestone_completed",
                event.completed_on,
                english={"milestone": milestone_path(milestone.id)},
                note=event.note,
                milestone=row.milestone(milestone),
                due_date=milestone.due_date.isoformat(),
                completed_on=event.completed_on.isoformat(),
                on_time=late <= 0,
                days_late=max(late, 0),
            )
        elif isinstance(event, Commitment.EvidenceAttached):
            doc = event.evidence
            day = doc.published_on or event.timestamp.date()
            if start < day <= end:
                evidence(position, event, doc, day)
    return changes


def _within(day: date | None, start: date, end: date) -> bool:
    return day is not None and start < day <= end


def _target_revisions(row: ReportRow, log: CommitmentLog) -> list[dict[str, Any]]:
    targets = []
    target = None
    for _, event in log.structural:
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
    return targets


def month_ends(as_of: date, months: int) -> list[date]:
    """The last day of each of the `months - 1` months before as_of's month, then as_of."""
    first = as_of.replace(day=1)
    ends = []
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    for _ in range(months - 1):
        following = (first + timedelta(days=32)).replace(day=1)
        ends.append(following - timedelta(days=1))
        first = following
    return [*ends, as_of]


def _counted_at(log: CommitmentLog, days: Sequence[date]) -> list[int]:
    """The commitment's progress at each day as the headline counts it: 100 once completed
    in full (by the last status change recorded with a date by then), else the figure in
    effect (0 without one)."""
    # Whether each status change made it completed in full.
    done = [
        (e.as_of, e.status is Status.COMPLETED and not e.partial)
        for _, e in log.structural
        if isinstance(e, Commitment.StatusChanged)
    ]
    values = []
    for day in days:
        completed = [full for when, full in done if when <= day]
        if completed and completed[-1]:
            values.append(100)
        else:
            latest = in_effect(log.progress, day)
            values.append(latest.percent if latest else 0)
    return values


# ---- the report's sections ---------------------------------------------------------------


def progress(commitments: list[Commitment]) -> float:
    """Weighted progress: a commitment completed in full counts 100 (counted_progress)."""
    if not commitments:
        return 0.0
    return round(sum(c.counted_progress or 0 for c in commitments) / len(commitments), 1)


def _group(rows: list[ReportRow]) -> dict[str, Any]:
    now = [r.now for r in rows]
    before = [r.before for r in rows]
    start, end = progress(before), progress(now)
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


def headline(rows: list[ReportRow]) -> dict[str, Any]:
    """Counts and weighted progress, at the period's start and end: of all, by pillar and
    by lead party."""
    by_pillar = [
        {"pillar": p.value} | _group([r for r in rows if r.now.pillar is p]) for p in Pillar
    ]
    parties = sorted({r.now.lead_party for r in rows})
    by_party = [
        {"lead_party": party} | _group([r for r in rows if r.now.lead_party == party])
        for party in parties
    ]
    return _group(rows) | {"by_pillar": by_pillar, "by_lead_party": by_party}


def _number(value: Decimal | None) -> float | int | None:
    """As report format 3 writes a decimal: whole numbers as integers, others as floats
    (changing this changes the bytes of every report regenerated from the log)."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def commitment_item(row: ReportRow, as_of: date) -> dict[str, Any]:
    """The report's row: fields of the commitment's summary (domain/views.py), with its
    state at the period's start beside them, and what an analyst reads with them. Worked
    out once per row and date (a copy each time: reports are not changed, but a copy
    keeps one from changing another)."""
    [item] = row.section_items("commitment", as_of, lambda r, day: [_commitment_item(r, day)])
    return item


def _commitment_item(row: ReportRow, as_of: date) -> dict[str, Any]:
    c = row.now
    s = summarize(c, as_of)
    upcoming = s["next_milestone"]
    return {
        "code": s["code"],
        "title": row.title,
        **row.all_marks(),
        "pillar": s["pillar"],
        "lead_party": s["lead_party"],
        "parties": s["parties"],
        "sectors": s["sectors"],
        "agencies": {party: list(names) for party, names in sorted(c.agencies.items())},
        "start_date": s["start_date"],
        "target_date": s["target_date"],
        "status": s["status"],
        "status_as_of": s["status_as_of"],
        "completion_partial": c.status is Status.COMPLETED and c.completion_partial,
        "status_at_start": row.before.status.value,
        "health": s["health"],
        "health_as_of": s["health_as_of"],
        "health_rationale": s["health_rationale"],
        "progress": s["progress"],
        "counted_progress": c.counted_progress,
        "progress_at_start": row.before.progress,
        "progress_as_of": s["progress_as_of"],
        "confidence": s["confidence"],
        "latest_note": row.latest_note,
        "overdue": s["overdue"],
        "milestones_total": s["milestones_total"],
        "milestones_completed": s["milestones_completed"],
        "milestones_missed": s["milestones_missed"],
        "next_milestone": None
        if upcoming is None
        else {
            "title": row.text(milestone_path(upcoming["id"]), upcoming["title"]),
            "due_date": upcoming["due_date"],
            "missed": date.fromisoformat(upcoming["due_date"]) < as_of,
            **row.marks(title=milestone_path(upcoming["id"])),
        },
        "evidence_total": row.evidence_total,
        "last_update": s["updated_at"],
        "version": s["version"],
    }


def changes(rows: list[ReportRow]) -> list[dict[str, Any]]:
    """What happened in the period, each item traceable to its event (log position and the
    commitment's version): milestones completed, progress figures, new evidence, status and
    health changes (a rating equal to the one before is not a change), risks that appeared
    or were resolved."""
    items = [c for row in rows for c in row.changes]
    items.sort(
        key=lambda c: (c["date"], c["code"], c["position"] or 0, CHANGE_KINDS.index(c["kind"]))
    )
    return items


def pending_closures(rows: list[ReportRow]) -> list[dict[str, Any]]:
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
                "title": row.title,
                **row.marks(title=TITLE),
                "status": row.now.status.value,
                "proposed_status": p.status.value,
                "partial": p.partial,
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


def milestones(rows: list[ReportRow], as_of: date) -> dict[str, list[dict[str, Any]]]:
    """Milestones overdue and due in the next 90 days."""
    horizon = (as_of + timedelta(days=DUE_SOON_DAYS)).isoformat()
    today = as_of.isoformat()
    open_ = [item for row in rows for item in row.section_items("open", as_of, _open)]
    order = lambda i: (i["due_date"], i["code"], i["milestone"])  # noqa: E731
    return {
        "overdue": sorted((i for i in open_ if i["due_date"] < today), key=order),
        "due_next_90_days": sorted(
            (i for i in open_ if today <= i["due_date"] <= horizon), key=order
        ),
    }


def _open(row: ReportRow, as_of: date) -> list[dict[str, Any]]:
    """The row's milestones not completed (`milestones`' items)."""
    return [
        {
            "code": row.now.code,
            "milestone": row.milestone(m),
            **row.marks(milestone=milestone_path(m.id)),
            "due_date": m.due_date.isoformat(),
            "days": (m.due_date - as_of).days,
        }
        for m in row.now.milestones.values()
        if m.completed_on is None
    ]


def all_milestones(rows: list[ReportRow], as_of: date) -> list[dict[str, Any]]:
    """Every milestone, by due date: planned, completed (on time or late) or missed."""
    result = [item for row in rows for item in row.section_items("all", as_of, _milestones)]
    result.sort(key=lambda m: (m["due_date"], m["code"], m["milestone"]))
    return result


def _milestones(row: ReportRow, as_of: date) -> list[dict[str, Any]]:
    """Each of the row's milestones (`all_milestones`' items)."""
    result = []
    for m in row.now.milestones.values():
        late = None if m.completed_on is None else (m.completed_on - m.due_date).days
        result.append(
            {
                "code": row.now.code,
                "milestone": row.milestone(m),
                **row.marks(milestone=milestone_path(m.id)),
                "due_date": m.due_date.isoformat(),
                "original_due_date": m.original_due_date.isoformat(),
                "status": m.status(as_of),
                "completed_on": _iso(m.completed_on),
                "on_time": None if late is None else late <= 0,
                "days_late": None if late is None else max(late, 0),
                "times_rescheduled": m.times_rescheduled,
                "note": m.completion_note,
            }
        )
    return result


def indicators(rows: list[ReportRow]) -> list[dict[str, Any]]:
    """Every indicator with its latest value and the share of the way to its target."""
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
                    "indicator": row.indicator(i),
                    **row.marks(indicator=indicator_path(i.id)),
                    "unit": i.unit,
                    "baseline": _number(i.baseline),
                    "target": _number(i.target),
                    "latest": _number(i.latest_value),
                    "latest_as_of": _iso(i.latest_as_of),
                    "achieved_percent": achieved,
                }
            )
    return result


def risks(rows: list[ReportRow]) -> list[dict[str, Any]]:
    """Commitments rated amber-red or red as of the report's date, the worst first;
    `new_in_period`: not at risk at the period's start."""
    risky = [r for r in rows if r.now.health in RISK_RATINGS]
    risky.sort(
        key=lambda r: (list(Health).index(r.now.health) * -1 if r.now.health else 0, r.now.code)
    )
    return [
        {
            "code": r.now.code,
            "title": r.title,
            **r.marks(title=TITLE),
            "pillar": r.now.pillar.value,
            "lead_party": r.now.lead_party,
            "health": r.now.health.value if r.now.health else None,
            "rationale": r.now.health_rationale,
            "rated_as_of": _iso(r.now.health_as_of),
            "status": r.now.status.value,
            "new_in_period": r.before.health not in RISK_RATINGS,
        }
        for r in risky
    ]


def drift(rows: list[ReportRow]) -> dict[str, list[dict[str, Any]]]:
    """Milestones rescheduled (the longest slip first) and target dates revised."""
    rescheduled: list[dict[str, Any]] = []
    for row in rows:
        for m in row.now.milestones.values():
            if m.times_rescheduled:
                rescheduled.append(
                    {
                        "code": row.now.code,
                        "milestone": row.milestone(m),
                        **row.marks(milestone=milestone_path(m.id)),
                        "original_due_date": m.original_due_date.isoformat(),
                        "due_date": m.due_date.isoformat(),
                        "slip_days": (m.due_date - m.original_due_date).days,
                        "times_rescheduled": m.times_rescheduled,
                    }
                )
    targets = [t for row in rows for t in row.target_revisions]
    rescheduled.sort(key=lambda d: (-int(d["slip_days"]), d["code"], d["milestone"]))
    targets.sort(key=lambda d: (d["recorded_at"], d["code"]))
    return {"rescheduled_milestones": rescheduled, "revised_target_dates": targets}


def key_dates(rows: list[ReportRow], as_of: date) -> list[dict[str, Any]]:
    """The next milestones due within a year, at most KEY_DATES_LIMIT."""
    ahead = [item for row in rows for item in row.section_items("ahead", as_of, _ahead)]
    ahead.sort(key=lambda k: (k["date"], k["code"], k["what"]))
    return ahead[:KEY_DATES_LIMIT]


def _ahead(row: ReportRow, as_of: date) -> list[dict[str, Any]]:
    """The row's milestones not completed and due within a year (`key_dates`' items)."""
    horizon = as_of + timedelta(days=KEY_DATES_DAYS)
    return [
        {
            "date": m.due_date.isoformat(),
            "code": row.now.code,
            "what": row.milestone(m),
            **row.marks(what=milestone_path(m.id)),
        }
        for m in row.now.milestones.values()
        if m.completed_on is None and as_of <= m.due_date <= horizon
    ]


def trend(rows: list[ReportRow], as_of: date) -> list[dict[str, Any]]:
    """Weighted progress at month ends (the progress-over-time chart), counted as the
    headline counts it: a commitment completed in full by then counts 100."""
    result = []
    for index, day in enumerate(month_ends(as_of, TREND_MONTHS)):
        values = [row.trend[index] for row in rows]
        average = round(sum(values) / len(values), 1) if values else 0.0
        result.append({"date": day.isoformat(), "progress": average})
    return result


def sources(rows: list[ReportRow]) -> list[dict[str, Any]]:
    """The documents the commitments come from, each with the commitments it sources."""
    seen: dict[tuple[str, str | None], set[str]] = defaultdict(set)
    for row in rows:
        if row.now.source is not None:
            seen[(row.now.source.title, row.now.source.url)].add(row.now.code)
    return [
        {"title": title, "url": url, "commitments": sorted(codes)}
        for (title, url), codes in sorted(seen.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
    ]


def sections(ordered: list[ReportRow], as_of: date) -> dict[str, Any]:
    """The report's sections from headline to trend, in the report's order, from its rows
    sorted by code; `pending_closures` only when some are pending (reports of logs without
    any keep their bytes)."""
    pending = pending_closures(ordered)
    return {
        "headline": headline(ordered),
        "commitments": [commitment_item(r, as_of) for r in ordered],
        "changes": changes(ordered),
        **({"pending_closures": pending} if pending else {}),
        "milestones": milestones(ordered, as_of),
        "milestones_all": all_milestones(ordered, as_of),
        "indicators": indicators(ordered),
        "risks": risks(ordered),
        "drift": drift(ordered),
        "key_dates": key_dates(ordered, as_of),
        "trend": trend(ordered, as_of),
    }
