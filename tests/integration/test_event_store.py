"""The Tracker on a real event store: what is saved comes back, in another process too;
races between processes; snapshots; time travel and history against stored events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import delete, func, select

from adapters.bootstrap import Services
from adapters.history import commitment_history
from adapters.ledger import verify
from adapters.tables import events, snapshots
from domain import clock
from domain.access import system
from domain.commands import (
    AddMilestone,
    AttachEvidence,
    ChangeMilestone,
    ChangeStatus,
    CompleteMilestone,
    ConfirmClosure,
    DefineIndicator,
    DefineSchedule,
    LogProgress,
    RateHealth,
    RecordMeasurement,
    RejectClosure,
    RemoveSchedule,
    ReviseDetails,
    Together,
    TranslateText,
)
from domain.commitment import Commitment, commitment_id
from domain.errors import DuplicateCode, InvalidValue, NotFound, VersionMismatch
from domain.schedule import ReportSchedule, schedule_id
from domain.tracker import SNAPSHOT_INTERVAL
from domain.views import describe, event_type
from domain.vocabulary import Evidence, Health, Pillar, Source, Status
from tests.conftest import open_services
from tests.support import CA_EDITOR, CODE, MX_EDITOR, registration, write

SEED = system("seed")
ANA = system("ana")


@pytest.fixture
def app(sqlite_url: str) -> Iterator[Services]:
    """One process's services on SQLite (tests where the store makes no difference)."""
    built = open_services(sqlite_url)
    yield built
    built.close()


def log_head(services: Services) -> int:
    with services.database.reading() as connection:
        return int(connection.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one())


def rate(rating: Health, rationale: str, as_of: date | None = None) -> RateHealth:
    return RateHealth(rating=rating, rationale=rationale, as_of=as_of)


# ---- every kind of event, saved and loaded again -------------------------------------------


def commitment_event_kinds() -> set[str]:
    return {
        name
        for name, value in vars(Commitment).items()
        if isinstance(value, type)
        and issubclass(value, Commitment.Event)
        and value is not Commitment.Event
        and name != "Created"  # the library's base class; Registered is ours
    }


def test_every_kind_of_event_is_saved_and_loads_in_another_process(
    database_url: str, services: Services, more_services: list[Services]
) -> None:
    doc = Evidence("https://example.org/e", "Note", "GAC", date(2026, 1, 5))
    attached = AttachEvidence(
        url="https://example.org/statement", title="Statement", published_on=date(2026, 2, 2)
    )
    write(
        services,
        registration(agencies={"CA": ("Transport Canada",)}, target_date=date(2028, 12, 31)),
        principal=SEED,
    )
    steps = [
        LogProgress(
            percent=20, as_of=date(2026, 1, 31), note="n", confidence=6, evidence=(doc,)
        ),  # + the automatic move to in_progress
        rate(Health.AMBER, "slow", date(2026, 2, 1)),
        AddMilestone(title="Study", due_date=date(2026, 5, 1)),
        ChangeMilestone(milestone_id="m1", due_date=date(2026, 6, 1), reason="r"),
        ChangeMilestone(milestone_id="m1", title="Corridor study"),
        CompleteMilestone(milestone_id="m1", completed_on=date(2026, 5, 30), note="signed"),
        DefineIndicator(name="Carloads", unit="pw", baseline=Decimal(1), target=Decimal("2.5")),
        RecordMeasurement(indicator_id="i1", value=Decimal("1.75"), as_of=date(2026, 3, 31)),
        attached,
        ReviseDetails(title="Rail", reason="shorter"),
        TranslateText(language="fr", title="Rail (fr)", milestones={"m1": "Étude"}),
    ]
    with clock.frozen_at(at("2026-07-01T12:00")):  # every effective date above is past
        written = [write(services, step, ref=CODE, principal=ANA) for step in steps]
        last = write(services, ChangeStatus(status=Status.STALLED, reason="budget"), ref=CODE)
    assert [w.result for w in written][2:8] == ["m1", "m1", "m1", "m1", "i1", "i1"]
    positions = [w.position for w in [*written, last]]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert last.version == 14 and last.position == 14
    # Closing takes two parties: proposed, rejected, proposed again, confirmed.
    with clock.frozen_at(at("2026-07-02T12:00")):
        cancel = ChangeStatus(status=Status.CANCELLED, reason="no budget", as_of=date(2026, 7, 1))
        write(services, cancel, ref=CODE, principal=MX_EDITOR)
        write(services, RejectClosure(reason="wait"), ref=CODE, principal=CA_EDITOR)
        write(services, cancel, ref=CODE, principal=MX_EDITOR)
        closed = write(services, ConfirmClosure(), ref=CODE, principal=CA_EDITOR)
    assert closed.version == 19

    write(services, DefineSchedule(name="monthly", cron="0 6 1 * *", formats=("json",)))
    write(
        services,
        DefineSchedule(name="monthly", cron="0 7 1 * *", formats=("csv", "json"), period_days=7),
    )
    write(services, RemoveSchedule(name="monthly"))

    other = open_services(database_url)  # another process: nothing cached
    more_services.append(other)
    c = other.tracker.get(CODE)
    assert closed.change is not None
    assert c.version == closed.change.commitment.version == 19
    assert (c.title, c.pillar, c.status, c.health, c.pending_closure) == (
        "Rail",
        Pillar.PROSPERITY,
        Status.CANCELLED,
        Health.AMBER,
        None,
    )
    assert other.tracker.state(CODE, version=17).pending_closure == (
        services.tracker.state(CODE, version=17).pending_closure
    )
    assert other.tracker.state(CODE, version=17).pending_closure is not None
    assert c.agencies == {"CA": ["Transport Canada"]}
    assert c.source == Source("Action Plan", "https://example.org/plan", "rail")
    assert c.evidence == [doc, attached.evidence()]
    m1 = c.milestones["m1"]
    assert (m1.title, m1.due_date, m1.original_due_date, m1.times_rescheduled) == (
        "Corridor study",
        date(2026, 6, 1),
        date(2026, 5, 1),
        1,
    )
    assert (m1.completed_on, m1.completion_note) == (date(2026, 5, 30), "signed")
    assert c.indicators["i1"].latest_value == Decimal("1.75")
    assert c.indicators["i1"].target == Decimal("2.5")
    assert (c.progress, c.confidence) == (20, 6)
    assert c.translations == {"fr": {"title": "Rail (fr)", "milestones.m1": "Étude"}}
    assert describe(c, date(2026, 7, 1)) == describe(closed.change.commitment, date(2026, 7, 1))
    kinds = {event_type(e) for e in other.tracker.events_of(CODE)}
    assert kinds == commitment_event_kinds()

    schedule: object = other.tracker.repository.get(schedule_id("monthly"))
    assert isinstance(schedule, ReportSchedule)
    assert (schedule.version, schedule.active, schedule.cron, schedule.formats) == (
        3,
        False,
        "0 7 1 * *",
        ["json", "csv"],
    )
    assert (schedule.period_days, schedule.changed_by) == (7, "admin-1")
    assert verify(other.database).events == log_head(other) == 22


def test_registering_a_code_twice_is_a_conflict(app: Services) -> None:
    write(app, registration())
    with pytest.raises(DuplicateCode, match="already registered"):
        write(app, registration(title="Another"))
    assert log_head(app) == 1
    assert app.tracker.get(CODE).title == "Rail corridors"


def test_unknown_references(app: Services) -> None:
    with pytest.raises(NotFound):
        app.tracker.get("CMAP-NOT-HERE")
    with pytest.raises(NotFound):
        app.tracker.get("not a code")
    with pytest.raises(NotFound):
        write(app, rate(Health.GREEN, "ok"), ref="CMAP-NOT-HERE")
    write(app, registration())
    with pytest.raises(InvalidValue, match="superseded_by"):
        write(
            app,
            ChangeStatus(status=Status.SUPERSEDED, reason="r", superseded_by="CMAP-NOT-HERE"),
            ref=CODE,
        )
    by_uuid = app.tracker.get(str(app.tracker.get(CODE).id))
    assert by_uuid.code == CODE
    # A schedule's id names no commitment.
    write(app, DefineSchedule(name="weekly", cron="0 6 * * 1", formats=("json",)))
    with pytest.raises(NotFound):
        app.tracker.get(str(schedule_id("weekly")))
    assert log_head(app) == 2


# ---- two processes on one database ----------------------------------------------------------


def test_a_concurrent_save_raises_a_version_conflict(
    database_url: str, services: Services, more_services: list[Services]
) -> None:
    write(services, registration())
    other = open_services(database_url)
    more_services.append(other)
    mine = services.tracker.get(CODE)
    theirs = other.tracker.get(CODE)
    theirs.rate_health(rate(Health.GREEN, "ok"), actor="b")
    other.tracker.save(theirs)
    mine.rate_health(rate(Health.RED, "bad"), actor="a")
    with pytest.raises(IntegrityError):
        services.tracker.save(mine)
    current = services.tracker.get(CODE)
    assert (current.version, current.health) == (2, Health.GREEN)
    assert verify(services.database).verified


def test_plain_writes_retry_across_processes_and_if_match_sees_the_real_version(
    database_url: str, services: Services, more_services: list[Services]
) -> None:
    a, b = services, open_services(database_url)
    more_services.append(b)
    write(a, registration(), principal=SEED)  # `a` now caches version 1
    with pytest.raises(VersionMismatch, match="expected version 7") as mismatch:
        write(a, rate(Health.RED, "r"), ref=CODE, expected_version=7)
    assert (mismatch.value.expected, mismatch.value.actual) == (7, 1)

    write(b, rate(Health.GREEN, "first"), ref=CODE, principal=system("b"))  # version 2
    # `a`'s cached version 1 is stale: its plain write lands on top, nothing lost.
    landed = write(a, rate(Health.RED, "second"), ref=CODE, principal=system("a"))
    assert landed.version == 3
    assert [e.actor for e in a.tracker.events_of(CODE)] == ["seed", "b", "a"]

    write(b, rate(Health.AMBER, "third"), ref=CODE, principal=system("b"))  # version 4
    # If-Match 3 agrees with `a`'s cache, but not with the log: the answer names version 4.
    with pytest.raises(VersionMismatch) as stale:
        write(a, rate(Health.RED, "fourth"), ref=CODE, expected_version=3)
    assert (stale.value.expected, stale.value.actual) == (3, 4)
    assert a.tracker.get(CODE).version == 4  # only the other writer's event

    write(b, rate(Health.GREEN, "fifth"), ref=CODE, principal=system("b"))  # version 5
    # If-Match with the real version succeeds although `a`'s cache is behind.
    matched = write(a, rate(Health.RED, "sixth"), ref=CODE, expected_version=5)
    assert matched.version == 6
    assert b.tracker.get(CODE).health_rationale == "sixth"
    assert verify(a.database).verified


# ---- snapshots -------------------------------------------------------------------------------


def many_ratings(start: int, count: int) -> Together:
    return Together(
        tuple(
            rate(Health.GREEN if i % 2 else Health.AMBER, f"r{i}")
            for i in range(start, start + count)
        )
    )


def snapshot_versions(services: Services) -> list[int]:
    with services.database.reading() as connection:
        rows = connection.execute(
            select(snapshots.c.originator_version).order_by(snapshots.c.originator_version)
        )
        return [int(v) for v in rows.scalars()]


def check_snapshots(url: str, services: Services, total: int, batch: int) -> None:
    """`total` ratings in writes of `batch` after the registration: a snapshot at the
    end of each write that passed a multiple of the interval, and at each multiple it
    passed an interval or more before its end, so no version is two intervals past a
    snapshot; a new process loads from them."""
    assert batch >= SNAPSHOT_INTERVAL
    write(services, registration())
    for start in range(0, total, batch):
        write(services, many_ratings(start, batch), ref=CODE)
    taken = snapshot_versions(services)
    ends = [1 + end for end in range(batch, total + 1, batch)]
    inside = [v for v in taken if v % SNAPSHOT_INTERVAL == 0]
    assert sorted(set(ends) | set(inside)) == taken
    for start, end in pairwise([1, *ends]):
        multiples = range(
            start - start % SNAPSHOT_INTERVAL + SNAPSHOT_INTERVAL, end, SNAPSHOT_INTERVAL
        )
        assert [v for v in inside if start < v < end] == [
            m for m in multiples if m <= end - SNAPSHOT_INTERVAL
        ]
    assert max(b - a for a, b in pairwise([0, *taken])) < 2 * SNAPSHOT_INTERVAL

    fresh = open_services(url)
    try:
        c = fresh.tracker.get(CODE)
        assert c.version == total + 1
        assert (c.health, c.health_rationale) == (Health.GREEN, f"r{total - 1}")
        middle = total // 2
        past = fresh.tracker.state(CODE, version=middle)
        assert (past.version, past.health_rationale) == (middle, f"r{middle - 2}")
    finally:
        fresh.close()

    # Loading starts from the newest snapshot: without the events before it, the commitment
    # still loads (with two more events on top). The event at its version stays: a snapshot
    # is trusted only when anchored at that event's chain entry.
    write(services, rate(Health.RED, "after"), ref=CODE)
    write(services, rate(Health.AMBER, "last"), ref=CODE)
    newest = snapshot_versions(services)[-1]
    with services.database.writing() as connection:
        connection.execute(delete(events).where(events.c.originator_version < newest))
    fresh = open_services(url)
    try:
        c = fresh.tracker.get(CODE)
        assert (c.version, c.health_rationale) == (total + 3, "last")
    finally:
        fresh.close()


def test_snapshots_every_interval_and_loading_from_them(
    database_url: str, services: Services
) -> None:
    check_snapshots(database_url, services, total=1_000, batch=250)
    assert snapshot_versions(services)[:10] == [100, 251, 300, 400, 501, 600, 751, 800, 900, 1001]


@pytest.mark.slow
def test_a_commitment_with_10000_events_loads_correctly(
    database_url: str, services: Services
) -> None:
    check_snapshots(database_url, services, total=10_000, batch=500)


# ---- time travel and history -----------------------------------------------------------------


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def scripted_history(services: Services) -> None:
    """Effective dates and recorded times disagree: late reports and a correction."""
    a = system("a")

    def step(command: Any) -> None:
        write(services, command, ref=CODE, principal=a)

    with clock.frozen_at(at("2026-01-10T09:00")):
        write(services, registration(), principal=SEED)  # v1
        step(LogProgress(percent=20, as_of=date(2025, 12, 31), note="Q4"))  # v2, v3
    with clock.frozen_at(at("2026-02-05T09:00")):
        step(rate(Health.AMBER, "slow", date(2026, 2, 1)))  # v4
    with clock.frozen_at(at("2026-04-10T09:00")):
        step(LogProgress(percent=50, as_of=date(2026, 3, 31), note="Q1"))  # v5
    with clock.frozen_at(at("2026-04-20T09:00")):
        step(LogProgress(percent=35, as_of=date(2026, 2, 28), note="late Feb"))  # v6
    with clock.frozen_at(at("2026-05-02T09:00")):
        step(rate(Health.RED, "blocked", date(2026, 4, 30)))  # v7
    with clock.frozen_at(at("2026-05-03T09:00")):
        step(rate(Health.AMBER_RED, "corrected", date(2026, 4, 30)))  # v8


def summary(c: Commitment) -> tuple[Any, ...]:
    return (c.version, c.status.value, c.progress, c.health.value if c.health else None)


def test_time_travel_by_version_known_at_and_as_of(app: Services) -> None:
    scripted_history(app)
    # Another process answers from the stored events alone.
    other = open_services(app.settings.database_url)
    try:
        t = other.tracker
        # Worked out by hand from the script above.
        assert summary(t.get(CODE)) == (8, "in_progress", 50, "amber_red")
        assert summary(t.state(CODE, version=1)) == (1, "not_started", None, None)
        assert summary(t.state(CODE, version=3)) == (3, "in_progress", 20, None)
        assert summary(t.state(CODE, version=7)) == (7, "in_progress", 50, "red")
        # as_of: what was true on a date, as we know it now (the late Feb report counts).
        assert summary(t.state(CODE, as_of=date(2026, 3, 15))) == (8, "in_progress", 35, "amber")
        assert summary(t.state(CODE, as_of=date(2025, 12, 1))) == (8, "not_started", None, None)
        assert summary(t.state(CODE, as_of=date(2026, 4, 30))) == (
            8,
            "in_progress",
            50,
            "amber_red",
        )
        # known_at: what we had recorded by then.
        assert summary(t.state(CODE, known_at=at("2026-04-15T00:00"))) == (
            5,
            "in_progress",
            50,
            "amber",
        )
        assert summary(t.state(CODE, known_at=at("2026-05-02T12:00"))) == (
            7,
            "in_progress",
            50,
            "red",
        )
        # A naive known_at is taken as UTC.
        naive = t.state(CODE, known_at=datetime(2026, 5, 2, 12))
        assert summary(naive) == (7, "in_progress", 50, "red")
        # Both: on 15 April we believed mid-March progress was still 20 (Feb came later).
        both = t.state(CODE, known_at=at("2026-04-15T00:00"), as_of=date(2026, 3, 15))
        assert summary(both) == (5, "in_progress", 20, "amber")
        later = t.state(CODE, known_at=at("2026-04-25T00:00"), as_of=date(2026, 3, 15))
        assert summary(later) == (6, "in_progress", 35, "amber")
        with pytest.raises(NotFound, match="not yet registered"):
            t.state(CODE, known_at=at("2026-01-01T00:00"))
        with pytest.raises(NotFound, match="no version 9"):
            t.state(CODE, version=9)
        with pytest.raises(InvalidValue, match="either version"):
            t.state(CODE, version=2, as_of=date(2026, 1, 1))
        with pytest.raises(InvalidValue, match="1 or more"):
            t.state(CODE, version=0)
        with pytest.raises(NotFound):
            t.state("CMAP-NOT-HERE", as_of=date(2026, 1, 1))
    finally:
        other.close()


def test_history_lists_every_event_with_its_position(app: Services) -> None:
    scripted_history(app)
    write(
        app,
        registration("CMAP-SEC-CYBER", pillar=Pillar.SECURITY, sectors=("cybersecurity",)),
        principal=SEED,
    )
    history = commitment_history(app.database, app.tracker, CODE)
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
    assert {h["commitment_id"] for h in history} == {str(app.tracker.get(CODE).id)}
    # Each entry carries its chain hash; the last one is the chain head at its position.
    assert all(len(h["hash"]) == 64 for h in history)
    assert history[-1]["hash"] == app.reports.chain_head_at(8)
    other = commitment_history(app.database, app.tracker, "CMAP-SEC-CYBER")
    assert [(h["position"], h["version"]) for h in other] == [(9, 1)]
    assert other[0]["hash"] == verify(app.database).chain_head
    with pytest.raises(NotFound):
        commitment_history(app.database, app.tracker, "CMAP-NOT-HERE")


def test_the_recorder_selects_events_as_the_library_does(services: Services) -> None:
    """Reads of a stream take a Core statement on a pooled connection (EventRecorder):
    for every shape of selection, the events the library's own ORM query gives."""
    write(services, registration())
    write(services, Together(tuple(rate(Health.GREEN, f"r{n}") for n in range(6))), ref=CODE)
    recorder = services.tracker.event_recorder
    library = SQLAlchemyApplicationRecorder.select_events
    aggregate_id = services.tracker.get(CODE).id
    shapes: list[dict[str, Any]] = [
        {},
        {"gt": 3},
        {"lte": 4},
        {"gt": 2, "lte": 5},
        {"desc": True, "limit": 1},
        {"gt": 1, "desc": True, "limit": 3},
        {"limit": 2},
        {"gt": 7},
    ]
    for shape in shapes:
        ours = recorder.select_events(aggregate_id, **shape)
        assert ours == library(recorder, aggregate_id, **shape), shape
    assert [e.originator_version for e in recorder.select_events(aggregate_id, gt=5)] == [6, 7]
    assert recorder.select_events(commitment_id("CMAP-NOT-HERE")) == []
