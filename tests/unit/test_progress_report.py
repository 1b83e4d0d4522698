"""The report's rules (domain/progress_report.py) on commitments in memory, no database:
figures worked out by hand for late reports, partial completions and reopened
commitments; the fold of structural events and series facts against a replay; and a log
holding only the facts the report reads (as the read models give them) against all."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from domain import clock
from domain.access import Principal, system
from domain.commands import ChangeStatus, Command, LogProgress, RateHealth
from domain.commitment import Commitment, commitment_id, replay
from domain.progress_report import (
    CommitmentLog,
    ReportRow,
    in_effect,
    report_days,
    report_row,
    sections,
    shown_positions,
    state_as_of,
    trend,
)
from domain.tracker import Tracker
from domain.views import stored_summary
from domain.vocabulary import Health, Status
from tests.conftest import memory_tracker
from tests.generated_history import CODES, generate
from tests.support import registration

CODE = "CMAP-PROS-RAIL"
ADMIN = system("test")


@pytest.fixture
def tracker() -> Tracker:
    return memory_tracker()


def _at(day: str) -> Any:
    return clock.frozen_at(datetime.fromisoformat(day).replace(tzinfo=UTC))


def _log(tracker: Tracker, code: str = CODE) -> tuple[list[Commitment.Event], CommitmentLog]:
    history = tracker.events_of(code)
    # Positions: any increasing numbers in log order (here, gaps between commitments).
    positions = [10 * e.originator_version for e in history]
    return history, CommitmentLog.of_events(history, positions)


def _row(tracker: Tracker, as_of: date, days: int = 30, code: str = CODE) -> ReportRow:
    history, log = _log(tracker, code)
    start = as_of - timedelta(days=days)
    now, before = replay(history, as_of=as_of), replay(history, as_of=start)
    assert now is not None and before is not None
    return report_row(
        log, (now, len(now.evidence)), before, start=start, as_of=as_of, language="en"
    )


def _run(tracker: Tracker, when: str, command: Command) -> None:
    with _at(when):
        tracker.execute(ADMIN, command, ref=CODE)


def test_a_late_report_does_not_replace_a_later_figure_but_is_a_change_of_its_day(
    tracker: Tracker,
) -> None:
    with _at("2026-01-05T09:00"):
        tracker.execute(ADMIN, registration(CODE))
    _run(tracker, "2026-03-11T09:00", LogProgress(percent=40, as_of=date(2026, 3, 10), note="Mar"))
    # Recorded later, about an earlier day: a late report.
    _run(tracker, "2026-03-20T09:00", LogProgress(percent=25, as_of=date(2026, 3, 5), note="late"))
    row = _row(tracker, date(2026, 3, 31))
    assert row.now.progress == 40
    assert row.latest_note == "Mar"
    progress = [c for c in row.changes if c["kind"] == "progress"]
    # By log order; the late figure changed nothing known on its day (none before it).
    assert [(c["date"], c["from"], c["to"]) for c in progress] == [
        ("2026-03-10", None, 40),
        ("2026-03-05", None, 25),
    ]
    # A report as of a day between the two dates reads the late figure.
    assert _row(tracker, date(2026, 3, 7)).now.progress == 25


def test_partial_completion_counts_its_figure_and_reopening_goes_back(tracker: Tracker) -> None:
    with _at("2026-01-05T09:00"):
        tracker.execute(ADMIN, registration(CODE))
    _run(tracker, "2026-01-20T09:00", LogProgress(percent=70, as_of=date(2026, 1, 20), note="n"))
    partial = ChangeStatus(
        status=Status.COMPLETED, reason="part", as_of=date(2026, 2, 10), partial=True
    )
    _run(tracker, "2026-02-10T09:00", partial)
    full = ChangeStatus(status=Status.IN_PROGRESS, reason="reopened", as_of=date(2026, 3, 2))
    _run(tracker, "2026-03-02T09:00", full)
    done = ChangeStatus(status=Status.COMPLETED, reason="all done", as_of=date(2026, 4, 15))
    _run(tracker, "2026-04-15T09:00", done)
    row = _row(tracker, date(2026, 4, 30))
    ends = dict(zip(report_days(date(2026, 4, 30), date(2026, 3, 31))[1:], row.trend, strict=True))
    assert ends[date(2026, 1, 31)] == 70  # in progress
    assert ends[date(2026, 2, 28)] == 70  # completed in part: its figure, not 100
    assert ends[date(2026, 3, 31)] == 70  # reopened
    assert ends[date(2026, 4, 30)] == 100  # completed in full
    data = sections([row], date(2026, 4, 30))
    assert data["headline"]["progress"] == {"start": 70.0, "end": 100.0, "change": 30.0}
    assert [(c["kind"], c["from"], c["to"]) for c in data["changes"]] == [
        ("status", "in_progress", "completed")
    ]
    assert trend([row], date(2026, 4, 30))[-1] == {"date": "2026-04-30", "progress": 100.0}


def test_a_rating_equal_to_the_one_in_effect_is_no_change_and_risks_come_and_go(
    tracker: Tracker,
) -> None:
    with _at("2026-01-05T09:00"):
        tracker.execute(ADMIN, registration(CODE))
    for when, rating in [
        ("2026-03-02", Health.AMBER),
        ("2026-03-05", Health.AMBER),
        ("2026-03-09", Health.RED),
        ("2026-03-20", Health.GREEN),
    ]:
        rate = RateHealth(rating=rating, rationale=str(rating), as_of=date.fromisoformat(when))
        _run(tracker, f"{when}T09:00", rate)
    row = _row(tracker, date(2026, 3, 31))
    assert [(c["kind"], c["from"], c["to"]) for c in row.changes] == [
        ("health", None, "amber"),
        ("health", "amber", "red"),
        ("risk_new", "amber", "red"),
        ("health", "red", "green"),
        ("risk_resolved", "red", "green"),
    ]


def test_the_fact_in_effect_is_the_latest_by_date_then_the_later_recorded() -> None:
    history = [_progress(1, 10, date(2026, 3, 1)), _progress(2, 20, date(2026, 3, 1))]
    history.append(_progress(3, 30, date(2026, 2, 1)))
    log = CommitmentLog.of_events(history, [5, 6, 7])
    latest = in_effect(log.progress, date(2026, 3, 31))
    assert latest is not None and latest.percent == 20
    earlier = in_effect(log.progress, date(2026, 3, 31), before=6)
    assert earlier is not None and earlier.percent == 10
    assert in_effect(log.progress, date(2026, 1, 31)) is None


def _progress(version: int, percent: int, as_of: date) -> Commitment.ProgressLogged:
    return Commitment.ProgressLogged(  # type: ignore[call-arg]
        originator_id=commitment_id(CODE),
        originator_version=version,
        timestamp=datetime(2026, 4, 1, tzinfo=UTC),
        actor="a",
        percent=percent,
        as_of=as_of,
        note="n",
        confidence=None,
        evidence=[],
    )


# ---- against a replay, on generated histories -------------------------------------------


def _generated(seed: int) -> Tracker:
    tracker = memory_tracker()

    def run(principal: Principal, command: Command, ref: str | None) -> None:
        tracker.execute(principal, command, ref=ref)

    generate(run, seed)
    return tracker


def _days(seed: int) -> Iterator[date]:
    rng = random.Random(seed)
    yield date(2025, 10, 1)
    for _ in range(8):
        yield date(2025, 10, 1) + timedelta(days=rng.randrange(0, 600))


def _state(pair: tuple[Commitment, int] | Commitment | None) -> dict[str, Any]:
    if isinstance(pair, tuple):
        commitment, evidence = pair
    else:
        assert pair is not None
        commitment, evidence = pair, len(pair.evidence)
    return stored_summary(commitment) | {
        "evidence_total": evidence,
        "indicators": [vars(i) for i in commitment.indicators.values()],
        "milestones": [vars(m) for m in commitment.milestones.values()],
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_folding_structural_events_and_series_facts_gives_the_replayed_state(seed: int) -> None:
    tracker = _generated(seed)
    for code in CODES:
        history, log = _log(tracker, code)
        for day in _days(seed):
            assert _state(state_as_of(log, day)) == _state(replay(history, as_of=day)), (code, day)


def _read(log: CommitmentLog, as_of: date, start: date) -> CommitmentLog:
    """Only what a report reads of the series facts, as adapters/reports/fast.py loads it:
    the fact in effect on each report day (per indicator for measurements, on the start
    and the report's date), the period's facts and the one each changed from, with the
    totals on the start and the report's date."""
    keep: set[int] = set()
    series: list[list[Any]] = [log.progress, log.health]
    for day in report_days(as_of, start):
        for facts in series:
            found = in_effect(facts, day)
            keep |= set() if found is None else {found.position}
    for day in (start, as_of):
        for indicator in {m.indicator_id for m in log.measurements}:
            measured = [m for m in log.measurements if m.indicator_id == indicator]
            found_m = in_effect(measured, day)
            keep |= set() if found_m is None else {found_m.position}
    for facts in series:
        for f in facts:
            if start < f.as_of <= as_of:
                keep.add(f.position)
                previous = in_effect(facts, f.as_of, before=f.position)
                keep |= set() if previous is None else {previous.position}
    reduced = CommitmentLog(
        log.structural,
        [f for f in log.progress if f.position in keep and f.as_of <= as_of],
        [f for f in log.health if f.position in keep and f.as_of <= as_of],
        [f for f in log.measurements if f.position in keep and f.as_of <= as_of],
        log.version,
        totals={day: log.totals_on(day) for day in (start, as_of)},
    )
    reduced.shown = {p: log.shown[p] for p in shown_positions(reduced, as_of, start)}
    return reduced


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_the_facts_a_report_reads_give_the_report_all_facts_give(seed: int) -> None:
    tracker = _generated(seed)
    logs = [_log(tracker, code)[1] for code in CODES]
    for as_of, days in zip(_days(seed), (1, 7, 30, 90, 365, 30, 30, 7, 90), strict=False):
        start = as_of - timedelta(days=days)

        def rows(read: bool, as_of: date = as_of, start: date = start) -> list[ReportRow]:
            result = []
            for full in logs:
                log = _read(full, as_of, start) if read else full
                now, before = state_as_of(log, as_of), state_as_of(log, start)
                assert now is not None and before is not None
                result.append(
                    report_row(log, now, before[0], start=start, as_of=as_of, language="fr")
                )
            return result

        assert sections(rows(True), as_of) == sections(rows(False), as_of), as_of
