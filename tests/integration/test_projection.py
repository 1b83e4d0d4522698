"""The read-model projection: what the domain says, exactly once, across crashes,
rebuilds and rival workers; the followers that keep it up to date; the list queries."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from adapters.bootstrap import Services
from adapters.event_store import EVENTS_CHANNEL
from adapters.follower import ProjectionFollower
from adapters.projection import ReadModelProjection, current_mark, read_models_mark
from adapters.read_models import ListFilters, decode_cursor, encode_cursor, list_commitments
from adapters.rebuild import Rebuilder
from adapters.scheduler import list_schedules
from adapters.tables import (
    READ_MODEL_TABLES,
    commitment_summaries,
    events,
    indicator_rows,
    milestone_rows,
    progress_points,
    report_schedules,
)
from domain.access import system
from domain.commands import (
    AddMilestone,
    ChangeStatus,
    ConfirmClosure,
    DefineSchedule,
    LogProgress,
    RejectClosure,
    RemoveSchedule,
)
from domain.commitment import Commitment
from domain.errors import InvalidValue
from domain.schedule import ReportSchedule, schedule_id
from domain.views import schedule_resource, stored_summary, summarize
from domain.vocabulary import Status
from tests.conftest import open_services
from tests.support import CA_EDITOR, MX_EDITOR, registration, write

CODES = ["CMAP-PROS-RAIL", "CMAP-SEC-CYBER", "CMAP-PROS-PORTS"]
WRITER = system("w")


@pytest.fixture
def seeded(seeded_url: str) -> Iterator[Services]:
    """One process on a database with the seeds, the sample history and its read models."""
    built = open_services(seeded_url)
    yield built
    built.close()


@pytest.fixture
def processes(seeded: Services) -> Iterator[list[Services]]:
    """More processes' services on the seeded database: append to close."""
    opened: list[Services] = []
    yield opened
    for built in opened:
        built.close()


def dump(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table, in a stable order."""
    with services.database.reading() as connection:
        return {
            table.name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
            for table in READ_MODEL_TABLES
        }


def count(services: Services, table: Any) -> int:
    with services.database.reading() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def progress_events(services: Services) -> int:
    topic = f"{Commitment.ProgressLogged.__module__}:{Commitment.ProgressLogged.__qualname__}"
    with services.database.reading() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(events).where(events.c.topic == topic)
            ).scalar_one()
        )


def more_writes(services: Services, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        code = CODES[i % len(CODES)]
        write(
            services,
            LogProgress(percent=i % 100, as_of=date(2026, 10, 1), note=f"n{i}"),
            ref=code,
            principal=WRITER,
        )
        if i % 5 == 0:
            write(
                services,
                AddMilestone(title=f"M{i}", due_date=date(2027, 1, 1)),
                ref=code,
                principal=WRITER,
            )


def solo_rebuild(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """The read models replayed from the first event by one fresh worker."""
    projection = ReadModelProjection(services.database, services.tracker, batch_size=1000)
    projection.reset()
    projection.catch_up()
    return dump(services)


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.02)


# ---- the read models are what the domain says ------------------------------------------------


def seeded_codes(connection: Connection) -> list[str]:
    return list(connection.execute(select(commitment_summaries.c.code)).scalars())


def test_the_read_models_hold_what_the_domain_derives(seeded: Services) -> None:
    more_writes(seeded, 6)
    write(seeded, DefineSchedule(name="weekly", cron="0 6 * * 1", formats=("json", "md")))
    write(seeded, DefineSchedule(name="daily", cron="0 5 * * *", formats=("csv",)))
    write(seeded, RemoveSchedule(name="daily"))
    seeded.projection.catch_up()
    with seeded.database.reading() as connection:
        summaries = {r.code: r for r in connection.execute(select(commitment_summaries))}
        milestones = {
            (r.commitment_id, r.milestone_id): r for r in connection.execute(select(milestone_rows))
        }
        indicators = {
            (r.commitment_id, r.indicator_id): r for r in connection.execute(select(indicator_rows))
        }
        schedules = {r.name: r for r in connection.execute(select(report_schedules))}
        last_positions: dict[Any, int] = {
            row[0]: row[1]
            for row in connection.execute(
                select(events.c.originator_id, func.max(events.c.id)).group_by(
                    events.c.originator_id
                )
            )
        }
    assert len(summaries) == 22
    for code, row in summaries.items():
        c = seeded.tracker.get(code)
        # The stored list item is the domain's, without the fields judged on a day.
        assert json.loads(row.document) == stored_summary(c)
        assert (row.overdue_since, row.version, row.status, row.health) == (
            c.overdue_since(),
            c.version,
            c.status.value,
            c.health.value if c.health else None,
        )
        assert row.sectors == "|" + "|".join(c.sectors) + "|"
        assert row.last_position == last_positions[c.id]
        for m in c.milestones.values():
            stored = milestones.pop((str(c.id), m.id))
            assert (stored.title, stored.due_date, stored.original_due_date) == (
                m.title,
                m.due_date,
                m.original_due_date,
            )
            assert (stored.completed_on, stored.missed_since, stored.times_rescheduled) == (
                m.completed_on,
                m.missed_since(),
                m.times_rescheduled,
            )
        for i in c.indicators.values():
            stored = indicators.pop((str(c.id), i.id))
            assert (stored.name, stored.baseline, stored.target, stored.measurements) == (
                i.name,
                str(i.baseline),
                str(i.target),
                i.measurements,
            )
            assert stored.latest_value == (None if i.latest_value is None else str(i.latest_value))
    assert milestones == {} and indicators == {}  # no row the domain does not know
    assert any(r.overdue_since is not None for r in summaries.values())
    assert count(seeded, progress_points) == progress_events(seeded)
    assert {name: row.active for name, row in schedules.items()} == {
        "daily": False,
        "weekly": True,
    }
    domain: list[Any] = [seeded.tracker.repository.get(schedule_id(n)) for n in ("daily", "weekly")]
    assert all(isinstance(d, ReportSchedule) for d in domain)
    with seeded.database.reading() as connection:
        assert list_schedules(connection, include_removed=True) == [
            schedule_resource(d) for d in domain
        ]
        assert list_schedules(connection) == [schedule_resource(domain[1])]


def test_rebuild_gives_exactly_the_rows_of_the_live_projection(seeded: Services) -> None:
    projection = ReadModelProjection(seeded.database, seeded.tracker, batch_size=7)
    projection.reset()
    assert count(seeded, commitment_summaries) == 0 and projection.position() == 0
    projection.catch_up(max_batches=3)  # part of the log, then more writes, then the rest
    assert projection.position() == 21
    more_writes(seeded, 30)
    projection.catch_up()
    assert projection.lag() == 0 and projection.position() == projection.head()
    live = dump(seeded)
    assert len(live["commitment_summaries"]) == 22
    assert len(live["progress_points"]) == progress_events(seeded)

    projection.reset()
    assert count(seeded, commitment_summaries) == 0 and projection.position() == 0
    assert all(rows == [] for rows in dump(seeded).values())
    ReadModelProjection(seeded.database, seeded.tracker, batch_size=1000).catch_up()
    assert dump(seeded) == live


def listed(services: Services) -> dict[str, Any]:
    """The list's items by code, as the API gives them."""
    with services.database.reading() as connection:
        items, _ = list_commitments(connection, ListFilters(), today=date(2026, 11, 1), limit=500)
    return {item["code"]: item for item in items}


def test_closure_proposals_are_projected_live_and_by_a_rebuild(seeded: Services) -> None:
    cyber, ports = "CMAP-SEC-CYBER", "CMAP-PROS-PORTS"
    cancel = ChangeStatus(status=Status.CANCELLED, reason="dropped")
    for code in (cyber, ports):
        write(seeded, cancel, ref=code, principal=MX_EDITOR)
    seeded.projection.catch_up()
    items = listed(seeded)
    for code in (cyber, ports):
        pending = items[code]["pending_closure"]
        assert (pending["status"], pending["proposed_by"], pending["awaiting"]) == (
            "cancelled",
            MX_EDITOR.name,
            ["CA"],
        )
        assert items[code]["status"] != "cancelled"
    assert items["CMAP-PROS-RAIL"]["pending_closure"] is None
    write(seeded, RejectClosure(reason="not agreed"), ref=ports, principal=CA_EDITOR)
    write(seeded, ConfirmClosure(), ref=cyber, principal=CA_EDITOR)
    # A new worker, nothing folded in memory, one event per batch.
    ReadModelProjection(seeded.database, seeded.tracker, batch_size=1).catch_up()
    items = listed(seeded)
    assert (items[cyber]["status"], items[cyber]["pending_closure"]) == ("cancelled", None)
    assert items[ports]["pending_closure"] is None and items[ports]["status"] != "cancelled"
    for code in (cyber, ports):
        assert items[code] == summarize(seeded.tracker.get(code), date(2026, 11, 1))
    live = dump(seeded)
    assert solo_rebuild(seeded) == live


def test_rows_projected_before_pending_closures_existed_list_none(seeded: Services) -> None:
    seeded.projection.catch_up()
    with seeded.database.writing() as connection:
        for row in connection.execute(
            select(commitment_summaries.c.commitment_id, commitment_summaries.c.document)
        ).all():
            document = json.loads(row.document)
            del document["pending_closure"]
            connection.execute(
                commitment_summaries.update()
                .where(commitment_summaries.c.commitment_id == row.commitment_id)
                .values(document=json.dumps(document))
            )
    assert {item["pending_closure"] for item in listed(seeded).values()} == {None}


def test_a_crash_between_batches_loses_and_duplicates_nothing(seeded: Services) -> None:
    more_writes(seeded, 20)
    crashing = ReadModelProjection(seeded.database, seeded.tracker, batch_size=10)
    crashing.reset()
    real_write = crashing._write
    calls = {"n": 0}

    def crash_on_third_batch(connection: Any, start: int, end: int, rows: Any) -> None:
        calls["n"] += 1
        real_write(connection, start, end, rows)  # rows are written, then the process "dies"
        if calls["n"] == 3:
            raise SystemExit("killed mid-transaction")

    crashing._write = crash_on_third_batch  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        crashing.catch_up()
    assert crashing.position() == 20  # two batches committed, the third rolled back

    restarted = open_services(seeded.settings.database_url)  # a new process: nothing in memory
    try:
        ReadModelProjection(restarted.database, restarted.tracker, batch_size=10).catch_up()
        after_restart = dump(restarted)
    finally:
        restarted.close()
    assert len(after_restart["progress_points"]) == progress_events(seeded)
    assert solo_rebuild(seeded) == after_restart


@pytest.mark.parametrize("seeded_url", ["sqlite", "postgresql"], indirect=True)
def test_rival_workers_without_a_lock_still_apply_each_event_once(
    seeded: Services, processes: list[Services]
) -> None:
    """Compare-and-set of the position: nothing else keeps these workers apart."""
    more_writes(seeded, 15)
    seeded.projection.reset()
    workers = [open_services(seeded.settings.database_url) for _ in range(3)]
    processes.extend(workers)
    projections = [ReadModelProjection(w.database, w.tracker, batch_size=5) for w in workers]
    start = threading.Barrier(len(projections))

    def work(projection: ReadModelProjection) -> int:
        start.wait()
        return projection.catch_up()

    results: list[int] = []
    threads = [threading.Thread(target=lambda p=p: results.append(work(p))) for p in projections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 3  # no worker failed
    assert sum(results) == count(seeded, events)  # each event applied by exactly one worker
    assert projections[0].lag() == 0
    together = dump(seeded)
    assert len(together["progress_points"]) == progress_events(seeded)
    assert solo_rebuild(seeded) == together


# ---- followers ---------------------------------------------------------------------------------


def test_a_follower_catches_up_then_follows_by_polling(seeded: Services) -> None:
    seeded.projection.reset()
    follower = ProjectionFollower(seeded.projection, poll_seconds=0.05)
    follower.start()
    other = open_services(seeded.settings.database_url)  # writes it is not told about
    try:
        wait_until(lambda: follower.projection.lag() == 0)
        assert follower.running and follower.active.is_set()
        before = count(seeded, milestone_rows)
        write(other, AddMilestone(title="New", due_date=date(2027, 1, 1)), ref=CODES[0])
        wait_until(lambda: count(seeded, milestone_rows) == before + 1)
    finally:
        follower.stop()
        other.close()
    assert not follower.running and follower.last_error is None


def test_a_write_in_the_same_process_wakes_the_follower(seeded: Services) -> None:
    follower = ProjectionFollower(seeded.projection, poll_seconds=600)  # it would never poll
    seeded.unit_of_work.after_commit.append(follower.wake)
    follower.start()
    try:
        wait_until(lambda: follower.projection.lag() == 0)
        before = count(seeded, milestone_rows)
        write(seeded, AddMilestone(title="New", due_date=date(2027, 1, 1)), ref=CODES[0])
        wait_until(lambda: count(seeded, milestone_rows) == before + 1)
    finally:
        follower.stop()


def notify(services: Services) -> None:
    with services.database.engine.connect() as connection:
        connection.exec_driver_sql(f"NOTIFY {EVENTS_CHANNEL}")
        connection.commit()


def stop(follower: ProjectionFollower, services: Services) -> None:
    """Stop a follower waiting on LISTEN for longer than a test takes: wake it up."""
    stopper = threading.Thread(target=follower.stop)
    stopper.start()
    while stopper.is_alive():
        notify(services)
        stopper.join(0.05)


@pytest.mark.parametrize("seeded_url", ["postgresql"], indirect=True)
def test_on_postgresql_one_follower_is_active_another_takes_over_and_listen_wakes_it(
    seeded: Services, processes: list[Services]
) -> None:
    more_writes(seeded, 30)
    workers = [open_services(seeded.settings.database_url) for _ in range(2)]
    processes.extend(workers)
    # Polling every ten minutes: only a NOTIFY (LISTEN) can make them look sooner.
    followers = [
        ProjectionFollower(
            ReadModelProjection(w.database, w.tracker, batch_size=10), poll_seconds=600
        )
        for w in workers
    ]
    for follower in followers:
        follower.start()
    try:
        wait_until(lambda: any(f.active.is_set() for f in followers))
        first = next(f for f in followers if f.active.is_set())
        second = next(f for f in followers if f is not first)
        wait_until(lambda: first.projection.lag() == 0)
        assert not second.active.is_set()  # the lease keeps it waiting

        # A write of a third process: the active follower hears of it by NOTIFY.
        before = count(seeded, progress_points)
        more_writes(seeded, 3, start=100)
        wait_until(lambda: count(seeded, progress_points) == before + 3)
        assert first.active.is_set() and not second.active.is_set()

        stop(first, workers[0])  # the active worker ends and releases its lease
        wait_until(second.active.is_set)
        more_writes(seeded, 10, start=200)
        wait_until(lambda: second.projection.lag() == 0)
        assert count(seeded, progress_points) == progress_events(seeded)
    finally:
        for follower in followers:
            stop(follower, workers[0])
    live = dump(seeded)
    assert solo_rebuild(seeded) == live


# ---- the list, judged on the day it is asked for -------------------------------------------------


def expected(services: Services, today: date, keep: Callable[[Commitment], bool]) -> list[Any]:
    with services.database.reading() as connection:
        codes = sorted(seeded_codes(connection))
    commitments = [services.tracker.get(code) for code in codes]
    return [summarize(c, today) for c in commitments if keep(c)]


def page(services: Services, filters: ListFilters, today: date, **extra: Any) -> Any:
    with services.database.reading() as connection:
        return list_commitments(connection, filters, today=today, **extra)


def test_the_list_filters_match_the_domain(seeded: Services) -> None:
    today = date(2026, 6, 30)
    cases: list[tuple[ListFilters, Callable[[Commitment], bool]]] = [
        (ListFilters(), lambda c: True),
        (ListFilters(pillar=("security",)), lambda c: c.pillar.value == "security"),
        (ListFilters(sector=("railways",)), lambda c: "railways" in c.sectors),
        (ListFilters(party=("US",)), lambda c: "US" in c.parties),
        (ListFilters(status=("in_progress",)), lambda c: c.status.value == "in_progress"),
        (
            ListFilters(health=("amber",)),
            lambda c: c.health is not None and c.health.value == "amber",
        ),
        (ListFilters(q="RAIL"), lambda c: "rail" in (c.code + c.title + c.description).lower()),
        # Several values of one filter: either.
        (
            ListFilters(status=("stalled", "not_started")),
            lambda c: c.status.value in ("stalled", "not_started"),
        ),
        (
            ListFilters(pillar=("security", "governance")),
            lambda c: c.pillar.value in ("security", "governance"),
        ),
        (
            ListFilters(sector=("ports", "airports")),
            lambda c: bool({"ports", "airports"} & set(c.sectors)),
        ),
        (ListFilters(health=("unrated",)), lambda c: c.health is None),
        (
            ListFilters(health=("red", "amber_red", "unrated")),
            lambda c: c.health is None or c.health.value in ("red", "amber_red"),
        ),
        # The words may be in a sector's slug too.
        (
            ListFilters(q="labour_mob"),
            lambda c: "labour_mob" in (c.title + c.description + "|".join(c.sectors)).lower(),
        ),
        (
            ListFilters(pillar=("prosperity",), party=("MX",), overdue=False),
            lambda c: (
                c.pillar.value == "prosperity" and "MX" in c.parties and not c.is_overdue(today)
            ),
        ),
    ]
    for filters, keep in cases:
        found, cursor = page(seeded, filters, today, limit=500)
        assert cursor is None
        assert found == expected(seeded, today, keep), filters
        assert found and (len(found) < 22 or filters == ListFilters()), filters
    # A sector name is matched whole, and LIKE's wildcards are plain characters.
    assert page(seeded, ListFilters(sector=("rail",)), today)[0] == []
    assert page(seeded, ListFilters(q="%"), today)[0] == []


def overdue_on(today: date, *, wanted: bool = True) -> Callable[[Commitment], bool]:
    return lambda c: c.is_overdue(today) is wanted


def test_overdue_and_missed_are_judged_on_the_day_passed_in(seeded: Services) -> None:
    usmca = seeded.tracker.get("CMAP-GOV-USMCA")  # in progress, a milestone due that day
    assert (usmca.target_date, usmca.milestones["m5"].due_date) == (date(2026, 7, 1),) * 2
    overdue_from = date(2026, 7, 2)
    assert usmca.overdue_since() == usmca.milestones["m5"].missed_since() == overdue_from
    seen: dict[date, tuple[set[str], int]] = {}
    for today in (overdue_from - timedelta(days=1), overdue_from, date(2028, 12, 31)):
        overdue, _ = page(seeded, ListFilters(overdue=True), today, limit=500)
        on_time, _ = page(seeded, ListFilters(overdue=False), today, limit=500)
        assert overdue == expected(seeded, today, overdue_on(today))
        assert on_time == expected(seeded, today, overdue_on(today, wanted=False))
        assert len(overdue) + len(on_time) == 22
        everything, _ = page(seeded, ListFilters(), today, limit=500)
        assert everything == expected(seeded, today, lambda c: True)
        seen[today] = (
            {s["code"] for s in overdue},
            sum(s["milestones_missed"] for s in everything),
        )
    before, on_the_day, later = seen.values()
    assert "CMAP-GOV-USMCA" not in before[0] and "CMAP-GOV-USMCA" in on_the_day[0]
    assert before[0] < on_the_day[0] <= later[0]
    assert before[1] <= on_the_day[1] < later[1]  # milestones become missed as days pass


def test_pages_follow_each_other_by_cursor(seeded: Services) -> None:
    today = date(2026, 6, 30)
    codes: list[str] = []
    cursor = None
    while True:
        found, cursor = page(seeded, ListFilters(), today, limit=5, cursor=cursor)
        codes.extend(s["code"] for s in found)
        if cursor is None:
            break
        assert decode_cursor(cursor) == codes[-1]
    assert codes == [s["code"] for s in expected(seeded, today, lambda c: True)]
    assert page(seeded, ListFilters(), today, cursor=encode_cursor("CMAP-SEC"))[0][0]["code"] > (
        "CMAP-SEC"
    )
    not_a_code = base64.urlsafe_b64encode(b'{"after": 1}').decode()
    for bad in ("not-base64!", "eyJhIjogMX0", not_a_code):
        with pytest.raises(InvalidValue, match="cursor"):
            page(seeded, ListFilters(), today, cursor=bad)


def test_the_current_mark_is_the_one_a_snapshot_reads(services: Services) -> None:
    """current_mark (one statement; on SQLite on the driver) reads what the
    projection's transactions wrote, as a snapshot reads it: (0, "") before any, then
    where catching up left it; a rebuild's switch at the same position changes it."""
    assert current_mark(services.database) == (0, "")
    write(services, registration())
    services.projection.catch_up()
    with services.database.reading() as connection:
        expected = read_models_mark(connection)
    assert expected[0] > 0 and current_mark(services.database) == expected
    Rebuilder(services.database, services.tracker).run()
    after = current_mark(services.database)
    assert after[0] == expected[0] and after != expected
