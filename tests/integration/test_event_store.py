"""The Tracker on a real event store, SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError
from sqlalchemy import func, select

from adapters.event_store import engine_of, open_tracker
from adapters.history import commitment_history
from adapters.tables import events, snapshots
from domain import clock
from domain.commitment import Commitment
from domain.errors import DuplicateCode, InvalidValue, NotFound, VersionMismatch
from domain.tracker import SNAPSHOT_INTERVAL, Tracker
from domain.views import describe
from domain.vocabulary import Evidence, Health, Pillar, Source, Status

CODE = "CMAP-PROS-RAIL"


def register(tracker: Tracker, code: str = CODE, **overrides: Any) -> Commitment:
    fields: dict[str, Any] = {
        "actor": "seed",
        "code": code,
        "title": "Rail corridors",
        "pillar": "prosperity",
        "sectors": ["railways"],
        "parties": ["CA", "MX"],
        "lead_party": "joint",
        "start_date": date(2025, 9, 18),
        "source": Source("Action Plan", "https://example.org/plan", "rail"),
    }
    fields.update(overrides)
    return tracker.register(**fields).commitment


def log_position(tracker: Tracker) -> int:
    with engine_of(tracker).connect() as connection:
        return int(connection.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one())


def test_save_and_reload_every_kind_of_event(database_url: str, tracker: Tracker) -> None:
    register(tracker, agencies={"CA": ["Transport Canada"]}, target_date=date(2028, 12, 31))
    doc = Evidence("https://example.org/e", "Note", "GAC", date(2026, 1, 5))
    tracker.log_progress(
        CODE,
        actor="ana",
        percent=20,
        as_of=date(2026, 1, 31),
        note="n",
        confidence=6,
        evidence=[doc],
    )
    tracker.rate_health(CODE, actor="ana", rating="amber", rationale="slow", as_of=date(2026, 2, 1))
    m = tracker.add_milestone(CODE, actor="ana", title="Study", due_date=date(2026, 5, 1))
    tracker.reschedule_milestone(CODE, "m1", actor="ana", due_date=date(2026, 6, 1), reason="r")
    tracker.complete_milestone(CODE, "m1", actor="ana", completed_on=date(2026, 5, 30))
    tracker.define_indicator(
        CODE, actor="ana", name="Carloads", unit="pw", baseline=1, target="2.5"
    )
    tracker.record_measurement(CODE, "i1", actor="ana", value="1.75", as_of=date(2026, 3, 31))
    tracker.revise_details(CODE, actor="ana", changes={"title": "Rail"}, reason="shorter")
    last = tracker.change_status(CODE, actor="ana", status="stalled", reason="budget")
    assert m.position < last.position

    fresh = open_tracker(database_url)  # another process: no cache
    try:
        c = fresh.get(CODE)
    finally:
        fresh.close()
    assert c.version == last.commitment.version == 11
    assert (c.title, c.pillar, c.status, c.health) == (
        "Rail",
        Pillar.PROSPERITY,
        Status.STALLED,
        Health.AMBER,
    )
    assert c.agencies == {"CA": ["Transport Canada"]}
    assert c.source == Source("Action Plan", "https://example.org/plan", "rail")
    assert c.evidence == [doc]
    assert c.milestones["m1"].due_date == date(2026, 6, 1)
    assert c.milestones["m1"].completed_on == date(2026, 5, 30)
    assert c.indicators["i1"].latest_value == Decimal("1.75")
    assert c.indicators["i1"].target == Decimal("2.5")
    assert describe(c, date(2026, 7, 1)) == describe(last.commitment, date(2026, 7, 1))


def test_registering_a_code_twice_is_a_conflict(tracker: Tracker) -> None:
    register(tracker)
    with pytest.raises(DuplicateCode, match="already registered"):
        register(tracker, title="Another")
    assert log_position(tracker) == 1


def test_a_concurrent_save_raises_a_version_conflict(
    database_url: str, tracker: Tracker, open_trackers: list[Tracker]
) -> None:
    register(tracker)
    other = open_tracker(database_url)
    open_trackers.append(other)
    mine = tracker.get(CODE)
    theirs = other.get(CODE)
    theirs.rate_health(actor="b", rating="green", rationale="ok")
    other.save(theirs)
    mine.rate_health(actor="a", rating="red", rationale="bad")
    with pytest.raises(IntegrityError):
        tracker.save(mine)
    assert tracker.get(CODE).health is Health.GREEN


def test_if_match_fails_on_a_stale_version_and_plain_writes_retry(
    database_url: str, tracker: Tracker, open_trackers: list[Tracker]
) -> None:
    register(tracker)
    other = open_tracker(database_url)
    open_trackers.append(other)
    with pytest.raises(VersionMismatch, match="expected version 7"):
        tracker.rate_health(CODE, actor="a", rating="red", rationale="r", expected_version=7)

    # A write that loses the race is retried on the new state, not lost or doubled.
    interfered: list[bool] = []

    def script(c: Commitment) -> None:
        if not interfered:
            interfered.append(True)
            # Another writer (its own thread, as another process would be) saves first.
            writer = threading.Thread(
                target=other.rate_health,
                args=(CODE,),
                kwargs={"actor": "b", "rating": "green", "rationale": "first"},
            )
            writer.start()
            writer.join()
        c.rate_health(actor="a", rating="red", rationale="second")

    change = tracker.apply_script(CODE, script)
    assert change.commitment.version == 3
    assert [e.actor for e in tracker.events_of(CODE)] == ["seed", "b", "a"]

    interfered.clear()
    with pytest.raises(VersionMismatch):
        tracker.apply_script(CODE, script, expected_version=3)
    assert tracker.get(CODE).version == 4  # only the other writer's event


def test_concurrent_writers_lose_nothing(database_url: str, open_trackers: list[Tracker]) -> None:
    writers = [open_tracker(database_url) for _ in range(4)]
    open_trackers.extend(writers)
    register(writers[0])
    errors: list[BaseException] = []

    def work(t: Tracker, n: int) -> None:
        try:
            for i in range(10):
                t.log_progress(
                    CODE, actor=f"w{n}", percent=i, as_of=date(2026, 1, 1), note=f"{n}-{i}"
                )
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t, n)) for n, t in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    notes = sorted(
        e.note for e in writers[0].events_of(CODE) if isinstance(e, Commitment.ProgressLogged)
    )
    assert notes == sorted(f"{n}-{i}" for n in range(4) for i in range(10))


def test_unknown_references(tracker: Tracker) -> None:
    with pytest.raises(NotFound):
        tracker.get("CMAP-NOT-HERE")
    with pytest.raises(NotFound):
        tracker.get("not a code")
    register(tracker)
    with pytest.raises(NotFound, match="superseded_by"):
        tracker.change_status(
            CODE, actor="a", status="superseded", reason="r", superseded_by="CMAP-NOT-HERE"
        )
    by_uuid = tracker.get(str(tracker.get(CODE).id))
    assert by_uuid.code == CODE


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def scripted_history(tracker: Tracker) -> None:
    """Effective dates and recorded times disagree: late reports and a correction."""
    with clock.frozen_at(at("2026-01-10T09:00")):
        register(tracker)  # v1
        tracker.log_progress(
            CODE, actor="a", percent=20, as_of=date(2025, 12, 31), note="Q4"
        )  # v2, v3
    with clock.frozen_at(at("2026-02-05T09:00")):
        tracker.rate_health(
            CODE, actor="a", rating="amber", rationale="slow", as_of=date(2026, 2, 1)
        )  # v4
    with clock.frozen_at(at("2026-04-10T09:00")):
        tracker.log_progress(CODE, actor="a", percent=50, as_of=date(2026, 3, 31), note="Q1")  # v5
    with clock.frozen_at(at("2026-04-20T09:00")):
        tracker.log_progress(
            CODE, actor="a", percent=35, as_of=date(2026, 2, 28), note="late Feb"
        )  # v6
    with clock.frozen_at(at("2026-05-02T09:00")):
        tracker.rate_health(
            CODE, actor="a", rating="red", rationale="blocked", as_of=date(2026, 4, 30)
        )  # v7
    with clock.frozen_at(at("2026-05-03T09:00")):
        tracker.rate_health(
            CODE, actor="a", rating="amber_red", rationale="corrected", as_of=date(2026, 4, 30)
        )  # v8


def summary(c: Commitment) -> tuple[Any, ...]:
    return (c.version, c.status.value, c.progress, c.health.value if c.health else None)


def test_time_travel_by_version_known_at_and_as_of(tracker: Tracker) -> None:
    scripted_history(tracker)
    # Worked out by hand from the script above.
    assert summary(tracker.get(CODE)) == (8, "in_progress", 50, "amber_red")
    assert summary(tracker.state(CODE, version=1)) == (1, "not_started", None, None)
    assert summary(tracker.state(CODE, version=3)) == (3, "in_progress", 20, None)
    assert summary(tracker.state(CODE, version=7)) == (7, "in_progress", 50, "red")
    # as_of: what was true on a date, as we know it now (the late Feb report counts).
    assert summary(tracker.state(CODE, as_of=date(2026, 3, 15))) == (8, "in_progress", 35, "amber")
    assert summary(tracker.state(CODE, as_of=date(2025, 12, 1))) == (8, "not_started", None, None)
    assert summary(tracker.state(CODE, as_of=date(2026, 4, 30))) == (
        8,
        "in_progress",
        50,
        "amber_red",
    )
    # known_at: what we had recorded by then.
    assert summary(tracker.state(CODE, known_at=at("2026-04-15T00:00"))) == (
        5,
        "in_progress",
        50,
        "amber",
    )
    assert summary(tracker.state(CODE, known_at=at("2026-05-02T12:00"))) == (
        7,
        "in_progress",
        50,
        "red",
    )
    # Both: on 15 April we believed mid-March progress was still 20 (Feb report came later).
    both = tracker.state(CODE, known_at=at("2026-04-15T00:00"), as_of=date(2026, 3, 15))
    assert summary(both) == (5, "in_progress", 20, "amber")
    later = tracker.state(CODE, known_at=at("2026-04-25T00:00"), as_of=date(2026, 3, 15))
    assert summary(later) == (6, "in_progress", 35, "amber")
    with pytest.raises(NotFound, match="not yet registered"):
        tracker.state(CODE, known_at=at("2026-01-01T00:00"))
    with pytest.raises(NotFound, match="no version 9"):
        tracker.state(CODE, version=9)
    with pytest.raises(InvalidValue, match="either version"):
        tracker.state(CODE, version=2, as_of=date(2026, 1, 1))


def test_history_lists_every_event_with_its_position(tracker: Tracker) -> None:
    scripted_history(tracker)
    register(tracker, "CMAP-SEC-CYBER", pillar="security", sectors=["cybersecurity"])
    history = commitment_history(tracker, CODE)
    assert [h["version"] for h in history] == list(range(1, 9))
    assert [h["type"] for h in history] == [
        "Registered",
        "ProgressLogged",
        "StatusChanged",
        "HealthRated",
        "ProgressLogged",
        "ProgressLogged",
        "HealthRated",
        "HealthRated",
    ]
    assert [h["position"] for h in history] == list(range(1, 9))
    assert history[5]["data"] == {
        "percent": 35,
        "as_of": "2026-02-28",
        "note": "late Feb",
        "confidence": None,
        "evidence": [],
    }
    assert history[5]["recorded_at"] == "2026-04-20T09:00:00+00:00"
    assert {h["actor"] for h in history} == {"seed", "a"}


def test_a_commitment_with_10000_events_loads_correctly(
    database_url: str, tracker: Tracker
) -> None:
    register(tracker)
    batch = 500

    def script(start: int) -> Any:
        def run(c: Commitment) -> None:
            for i in range(start, start + batch):
                c.rate_health(actor="load", rating="green" if i % 2 else "amber", rationale=f"r{i}")

        return run

    for start in range(0, 10_000, batch):
        tracker.apply_script(CODE, script(start))
    fresh = open_tracker(database_url)
    try:
        c = fresh.get(CODE)
        assert c.version == 10_001
        assert (c.health, c.health_rationale) == (Health.GREEN, "r9999")
        past = fresh.state(CODE, version=5_000)
        assert (past.version, past.health_rationale) == (5_000, "r4998")
    finally:
        fresh.close()
    with engine_of(tracker).connect() as connection:
        taken = connection.execute(select(func.count()).select_from(snapshots)).scalar_one()
    # One snapshot per save that crossed a multiple of the interval.
    assert taken == 10_000 // batch
    assert batch >= SNAPSHOT_INTERVAL
