"""Leases (adapters/leases.py) on SQLite and PostgreSQL, on a clock the tests move:
acquiring, renewing when due, expiry and takeover with a new epoch, and fencing: a
leader whose lease was taken over writes nothing (a projection batch, a report, a
checkpoint) and steps down. Real processes stopped with SIGSTOP: tests/e2e/test_failover.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from adapters.bootstrap import Services
from adapters.checkpoints import Checkpoints
from adapters.follower import ProjectionFollower
from adapters.leases import Lease, LeaseLost, failure
from adapters.projection import ReadModelProjection
from adapters.reports.data import ReportInputs
from adapters.tables import checkpoints, leases, progress_points, report_archive
from domain.checkpoint import Signer
from domain.commands import LogProgress
from tests.conftest import open_services
from tests.support import CODE, registration, write

SECONDS = 5.0


class Clock:
    """A clock that moves only when told (the leases of one test share it)."""

    def __init__(self) -> None:
        self.at = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def lease(services: Services, clock: Callable[[], datetime] | None, holder: str) -> Lease:
    return Lease(services.database, "job", seconds=SECONDS, holder=holder, now=clock)


def stored(services: Services) -> Any:
    with services.database.reading() as connection:
        return connection.execute(select(leases).where(leases.c.name == "job")).one()


def count(services: Services, table: Any) -> int:
    with services.database.reading() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.02)


@pytest.fixture
def other(services: Services) -> Iterator[Services]:
    """A second process's services on the same database."""
    built = open_services(services.settings.database_url)
    yield built
    built.close()


# ---- acquiring, renewing, expiring ------------------------------------------------------------


def test_one_holder_at_a_time_until_the_lease_expires_then_a_new_epoch(
    services: Services, other: Services, clock: Clock
) -> None:
    first, second = lease(services, clock, "a"), lease(other, clock, "b")
    assert first.acquire() and first.epoch == 1
    assert not second.acquire() and not second.held
    clock.advance(SECONDS - 0.1)
    assert not second.acquire()  # not expired yet
    clock.advance(0.1)
    assert second.acquire() and second.epoch == 2
    row = stored(services)
    assert (row.holder, row.epoch) == ("b", 2)
    assert not first.acquire()  # the old holder stands by while the new one renews


def test_a_renewal_waits_until_a_third_of_the_lease_has_passed(
    services: Services, other: Services, clock: Clock
) -> None:
    holder = lease(services, clock, "a")
    assert holder.acquire()
    expires = stored(services).expires_at
    clock.advance(SECONDS / 3 - 0.1)
    assert holder.renew_if_due()
    assert stored(services).expires_at == expires  # not due: nothing written
    clock.advance(0.1)
    assert holder.renew_if_due()
    assert stored(services).expires_at > expires
    # Renewed in time, again and again: nobody takes it over, however long it leads.
    rival = lease(other, clock, "b")
    for _ in range(6):
        clock.advance(SECONDS / 3)
        assert holder.renew_if_due()
        assert not rival.acquire()
    assert stored(services).epoch == 1


def test_a_released_lease_is_taken_at_once_and_a_holder_retaking_its_own_gets_a_new_epoch(
    services: Services, other: Services, clock: Clock
) -> None:
    first, second = lease(services, clock, "a"), lease(other, clock, "b")
    assert first.acquire()
    assert first.acquire() and first.epoch == 2  # a new term fences the old term's writes
    first.release()
    assert not first.held
    assert second.acquire() and second.epoch == 3  # no waiting for the expiry


def test_of_holders_racing_for_a_new_lease_one_wins(services: Services, other: Services) -> None:
    for round_ in range(10):
        rivals = [
            Lease(s.database, f"race-{round_}", holder=f"{name}{round_}")
            for s, name in ((services, "a"), (other, "b"))
        ]
        start = threading.Barrier(2)

        def race(rival: Lease, start: threading.Barrier = start) -> bool:
            start.wait()
            return rival.acquire()

        with ThreadPoolExecutor(2) as pool:
            won = list(pool.map(race, rivals))
        assert sorted(won) == [False, True], round_
        for rival in rivals:
            rival.release()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_the_database_clock_decides(services: Services, other: Services) -> None:
    first, second = lease(services, None, "a"), lease(other, None, "b")
    assert first.acquire()
    assert not second.acquire()
    with services.database.reading() as connection:
        state = first.state(connection)
        now = connection.execute(select(func.statement_timestamp())).scalar_one()
    assert state is not None and not state.expired
    assert timedelta(seconds=4) < state.expires_at - now <= timedelta(seconds=SECONDS)
    # The lease expires by the database's clock: make it so, as a stopped leader would.
    with services.database.writing() as connection:
        connection.execute(leases.update().values(expires_at=func.statement_timestamp()))
    assert second.acquire() and second.epoch == 2
    with pytest.raises(LeaseLost), services.database.writing() as connection:
        first.fence(connection)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_a_holder_whose_session_ended_is_taken_over_at_once(
    services: Services, other: Services, clock: Clock
) -> None:
    """As when the holder is killed: its connection closes, and its backend ends."""
    first, second = lease(services, clock, "a"), lease(other, clock, "b")
    assert first.acquire()
    assert not second.acquire()  # its session lives (a stopped process's would too)
    first._close_session()
    wait_until(second.acquire)  # the clock has not moved: no waiting for the expiry
    assert second.epoch == 2 and stored(services).holder == "b"


# ---- fencing -------------------------------------------------------------------------------


def taken_over(services: Services, other: Services, clock: Clock) -> tuple[Lease, Lease]:
    """A leader `a` that stopped renewing, and `b`, which took its lease over."""
    stale, fresh = lease(services, clock, "a"), lease(other, clock, "b")
    assert stale.acquire()
    clock.advance(SECONDS)
    assert fresh.acquire()
    return stale, fresh


def progress(services: Services, n: int) -> None:
    for i in range(n):
        write(services, LogProgress(percent=i, as_of=date(2026, 10, 1), note=f"n{i}"), ref=CODE)


def test_a_stale_leaders_projection_batch_is_refused_and_writes_nothing(
    services: Services, other: Services, clock: Clock
) -> None:
    write(services, registration())
    progress(services, 3)
    stale_projection = ReadModelProjection(services.database, services.tracker)
    stale, fresh = taken_over(services, other, clock)
    with pytest.raises(LeaseLost):
        stale_projection.run_batch(fence=stale)
    assert not stale.held  # it knows it must stand by
    assert stale_projection.position() == 0 and count(services, progress_points) == 0
    assert stored(services).epoch == 2  # and the new leader's lease is untouched
    leading = ReadModelProjection(other.database, other.tracker)
    head = services.projection.head()
    assert leading.run_batch(fence=fresh) == head
    assert count(services, progress_points) == 3
    progress(services, 1)
    with pytest.raises(LeaseLost):  # however late it wakes
        stale_projection.run_batch(fence=stale)
    assert stale_projection.position() == head


def test_each_batch_of_the_leader_extends_its_lease(
    services: Services, other: Services, clock: Clock
) -> None:
    write(services, registration())
    leader = lease(services, clock, "a")
    assert leader.acquire()
    projection = ReadModelProjection(services.database, services.tracker, batch_size=1)
    clock.advance(SECONDS - 0.5)
    assert projection.run_batch(fence=leader) == 1
    clock.advance(1.0)  # past the first expiry: the batch renewed it
    assert not lease(other, clock, "b").acquire()


def test_a_stale_scheduler_archives_no_report_and_signs_no_checkpoint(
    services: Services, other: Services, clock: Clock
) -> None:
    write(services, registration())
    signer = Signer.generate("tracker.example/operator")
    services.reports.checkpoints = Checkpoints(
        services.database, origin="tracker.example/log", signer=signer, operator=None, witnesses=[]
    )
    stale, fresh = taken_over(services, other, clock)
    inputs = ReportInputs(at_position=1, as_of=date(2026, 11, 24), period_days=7)
    tick = datetime(2026, 11, 24, 9, tzinfo=UTC)
    with pytest.raises(LeaseLost):
        services.reports.archive(
            inputs, ["json"], generated_by="scheduler", schedule="hourly", scheduled_for=tick,
            fence=stale,
        )  # fmt: skip
    with pytest.raises(LeaseLost):
        services.reports.checkpoints.sign(fence=stale)
    assert count(services, report_archive) == 0 and count(services, checkpoints) == 0
    # The leader's archive goes through, with the checkpoint that covers it.
    stored_report = services.reports.archive(
        inputs, ["json"], generated_by="scheduler", schedule="hourly", scheduled_for=tick,
        fence=fresh,
    )  # fmt: skip
    assert stored_report is not None
    assert count(services, report_archive) == 1 and count(services, checkpoints) == 1


# ---- a follower steps down --------------------------------------------------------------------


def test_a_follower_whose_lease_was_taken_over_stands_by_without_writing(
    services: Services, other: Services, clock: Clock
) -> None:
    write(services, registration())
    follower = ProjectionFollower(
        ReadModelProjection(services.database, services.tracker),
        poll_seconds=0.05,
        lease=lease(services, clock, "a"),
    )
    follower.start()
    try:
        wait_until(lambda: follower.active.is_set() and follower.projection.lag() == 0)
        assert stored(services).holder == "a"
        before = follower.projection.head()
        # Another process takes the lease over (as if this one had stopped for a whole
        # lease); here in SQL, so the running follower cannot renew it first.
        with other.database.writing() as connection:
            taken = {"holder": "b", "epoch": leases.c.epoch + 1, "session": None}
            connection.execute(leases.update().values(taken))
        progress(services, 2)
        wait_until(lambda: not follower.active.is_set())
        # The new events: not projected by it.
        assert follower.projection.position() == before < follower.projection.head()
        assert count(services, progress_points) == 0
        assert not follower.lease.held and follower.running
    finally:
        follower.stop()
    assert stored(services).holder == "b"  # and stopping released nothing of b's


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("stopped_in", ["idle", "copy"])
def test_on_postgresql_a_leader_stopped_inside_its_transaction_is_cut_off_after_a_lease(
    services: Services, other: Services, caplog: pytest.LogCaptureFixture, stopped_in: str
) -> None:
    """As when the leader is stopped (SIGSTOP) between its fence and its commit: its
    transaction holds the lease's row lock, which a standby's takeover waits on, idle in
    the transaction or halfway through sending rows (a COPY, a pipeline). The standby
    ends that backend after a third of a lease; its writes roll back and the standby
    takes over.
    (Before, the standby waited for as long as the leader slept.)"""
    seconds = 0.5
    first = Lease(services.database, "job", seconds=seconds, holder="a")
    second = Lease(other.database, "job", seconds=seconds, holder="b")
    assert first.acquire()
    fenced, woken = threading.Event(), threading.Event()

    def leader() -> None:
        with services.database.writing() as connection:
            first.fence(connection)  # the row is locked until this transaction ends
            if stopped_in == "idle":
                fenced.set()
                woken.wait()  # stopped
                connection.execute(leases.update().values(holder="a"))
                return
            driver: Any = connection.connection.driver_connection
            with driver.cursor().copy("COPY leases (name, holder) FROM STDIN") as copy:
                copy.write_row(("other", "a"))
                fenced.set()
                woken.wait()  # stopped halfway through

    with ThreadPoolExecutor(2) as pool:
        leading = pool.submit(leader)
        assert fenced.wait(20)
        standby = pool.submit(wait_until, second.acquire)
        try:
            standby.result(timeout=20)
        finally:
            woken.set()
        # The leader wakes up: its session is gone, and nothing it meant to write is.
        with pytest.raises(DBAPIError):
            leading.result(timeout=20)
    assert "its transaction kept holding the expired lease job" in caplog.text
    with services.database.reading() as connection:
        rows = connection.execute(select(leases.c.name, leases.c.holder, leases.c.epoch)).all()
    assert [tuple(row) for row in rows] == [("job", "b", 2)]
    first.release()  # as its loop does after the error, which it then logs in one line
    assert first.replaced and "lost the lease job (epoch 1)" in caplog.text
    assert not second.replaced
    assert (stored(services).holder, stored(services).epoch) == ("b", 2)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_a_leader_busy_in_a_long_statement_is_left_to_finish(
    services: Services, other: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """A rebuild's switch can run longer than a lease, its lease row locked: the standby
    that finds the lease expired waits, looks again, and takes over once it commits; a
    backend at work (not waiting for its client) is never ended."""
    seconds = 0.5
    first = Lease(services.database, "job", seconds=seconds, holder="a")
    second = Lease(other.database, "job", seconds=seconds, holder="b")
    assert first.acquire()
    fenced = threading.Event()

    def leader() -> None:
        with services.database.writing() as connection:
            first.fence(connection)
            fenced.set()
            connection.execute(select(func.pg_sleep(seconds * 6)))  # at work, not stopped

    def expired() -> bool:
        with other.database.reading() as connection:
            state = second.state(connection)
        return state is not None and state.expired

    with ThreadPoolExecutor(1) as pool:
        leading = pool.submit(leader)
        assert fenced.wait(20)
        wait_until(expired)  # as committed: the leader's extension is not, yet
        assert not second.acquire()  # locked: waited a third of a lease, ended nobody
        leading.result(timeout=20)  # the leader's transaction commits
    wait_until(second.acquire)
    assert second.epoch == 2 and "ended backend" not in caplog.text


def test_a_workers_error_is_one_line_even_without_a_message() -> None:
    assert failure(RuntimeError("the connection is lost\nmore")) == (
        "RuntimeError: the connection is lost"
    )
    assert failure(RuntimeError()) == "RuntimeError"  # (this raised IndexError in the loop)
