"""The unit of work on a real database: group commit, retries after a lost race, the
Idempotency-Key, and what commits (or rolls back) together.

Writes are made to wait together deterministically: another connection (as another
process would) holds the database's write lock while the threads queue up, so the first
write leads alone and every write queued behind it commits in the next transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from itertools import pairwise
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from adapters import idempotency
from adapters.bootstrap import Services
from adapters.idempotency import IdempotencyKey, KeyReused, fingerprint
from adapters.ledger import verify
from adapters.projection import log_head
from adapters.tables import EVENTS_TABLE, events, idempotency_records
from adapters.unit_of_work import MAX_BATCH, Write, Written
from domain.access import Principal, system
from domain.commands import (
    AddMilestone,
    AttachEvidence,
    ChangeStatus,
    Command,
    CompleteMilestone,
    LogProgress,
    RateHealth,
)
from domain.commitment import Commitment
from domain.errors import (
    DomainError,
    DuplicateCode,
    Forbidden,
    InvalidValue,
    NotFound,
    StateConflict,
)
from domain.views import describe
from domain.vocabulary import Health, Status
from tests.conftest import open_services
from tests.support import ADMIN, CA_EDITOR, CODE, MX_EDITOR, registration, write

# Where the store makes no difference, SQLite alone.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
CYBER = "CMAP-SEC-CYBER"
ON = date(2026, 1, 15)


def progress(note: str, percent: int = 10) -> LogProgress:
    return LogProgress(percent=percent, as_of=ON, note=note)


def rating(rationale: str, rated: Health = Health.GREEN) -> RateHealth:
    return RateHealth(rating=rated, rationale=rationale)


def head(services: Services) -> int:
    with services.database.reading() as connection:
        return log_head(connection)


def stored_events(services: Services) -> list[tuple[int, str, int]]:
    """(position, originator id, version) of every stored event, in log order."""
    with services.database.reading() as connection:
        rows = connection.execute(
            select(events.c.id, events.c.originator_id, events.c.originator_version).order_by(
                events.c.id
            )
        ).all()
    return [(int(r.id), str(r.originator_id), int(r.originator_version)) for r in rows]


def assert_log_is_sound(services: Services) -> None:
    """Positions strictly increase (PostgreSQL's sequence may leave gaps), every aggregate's
    versions run 1, 2, 3, ... in log order, and the hash chain verifies."""
    stored = stored_events(services)
    positions = [p for p, _, _ in stored]
    assert all(a < b for a, b in pairwise(positions))
    versions: dict[str, list[int]] = {}
    for _, originator, version in stored:
        versions.setdefault(originator, []).append(version)
    for found in versions.values():
        assert found == list(range(1, len(found) + 1))
    check = verify(services.database)
    assert check.verified, check
    assert check.events == len(stored)


def notes(services: Services, ref: str) -> list[str]:
    return [
        e.note for e in services.tracker.events_of(ref) if isinstance(e, Commitment.ProgressLogged)
    ]


def record_of(services: Services, actor: str, key: str) -> idempotency.Record | None:
    with services.database.reading() as connection:
        return idempotency.find(connection, actor, key)


def records(services: Services) -> int:
    with services.database.reading() as connection:
        return int(
            connection.execute(select(func.count()).select_from(idempotency_records)).scalar_one()
        )


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.005)


@contextmanager
def write_lock_held(url: str) -> Iterator[None]:
    """Another connection holds the database's write lock for the block, as a writer in
    another process would: SQLite's RESERVED lock, PostgreSQL's lock on the events table."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        holder = sqlite3.connect(parsed.database, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            yield
        finally:
            holder.close()  # rolls back, releasing the lock
        return
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection:
        connection.execute(f"LOCK TABLE {EVENTS_TABLE} IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            connection.rollback()


def count_transactions(monkeypatch: pytest.MonkeyPatch, services: Services) -> list[int]:
    """Counts the write transactions the services open from now on."""
    real = services.database.writing
    opened: list[int] = []

    @contextmanager
    def writing() -> Iterator[Any]:
        opened.append(1)
        with real() as connection:
            yield connection

    monkeypatch.setattr(services.database, "writing", writing)
    return opened


class Queue:
    """Runs writes in threads, each started only once the one before has joined the
    unit of work's queue, so their order in the queue is the order given."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.pool = ThreadPoolExecutor(max_workers=100)
        self.queued = 0

    def queue_length(self) -> int:
        return len(self.services.unit_of_work._queue)

    def submit(self, write: Write) -> Future[Written]:
        future = self.pool.submit(self.services.unit_of_work.run, write)
        self.queued += 1
        wait_until(lambda: self.queue_length() == self.queued or future.done())
        return future

    def close(self) -> None:
        self.pool.shutdown(wait=True)


@pytest.fixture
def queue(services: Services) -> Iterator[Queue]:
    runner = Queue(services)
    yield runner
    runner.close()


def on(ref: str, command: Command, principal: Principal = ADMIN, **extra: Any) -> Write:
    return Write(principal, command, ref=ref, **extra)


def keyed(ref: str, command: Command, key: str, body: Any, principal: Principal = ADMIN) -> Write:
    request_hash = fingerprint("POST", f"/commitments/{ref}", body)
    return Write(principal, command, ref=ref, idempotency=IdempotencyKey(key, request_hash))


# ---- group commit ------------------------------------------------------------------------------


def test_writes_waiting_together_commit_together_each_exactly_once(
    database_url: str, services: Services, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = [CODE, CYBER, "CMAP-PROS-PORTS"]
    for code in codes:
        write(services, registration(code))
    transactions = count_transactions(monkeypatch, services)
    total = MAX_BATCH + 2
    with write_lock_held(database_url):
        futures = [queue.submit(on(codes[i % 3], progress(f"n{i}", i % 101))) for i in range(total)]
    written = [f.result(timeout=30) for f in futures]
    # The first write takes the lock, and the writes queued meanwhile join it: batches of
    # at most MAX_BATCH.
    assert len(transactions) == -(-total // MAX_BATCH) == 2
    for i, code in enumerate(codes):
        assert sorted(notes(services, code)) == sorted(f"n{n}" for n in range(i, total, 3))
    # Every write has its own version and position; each commitment's versions follow on.
    assert len({w.position for w in written}) == total
    for code in codes:
        mine = [w for w in written if w.aggregate_id == services.tracker.get(code).id]
        # Its first progress also moved it to in_progress (two events).
        assert sorted(w.version for w in mine) == [3, *range(4, len(mine) + 3)]
    by_version = sorted(written, key=lambda w: (str(w.aggregate_id), w.version))
    for a, b in pairwise(by_version):
        if a.aggregate_id == b.aggregate_id:
            assert a.position < b.position
    assert_log_is_sound(services)
    assert head(services) == max(w.position for w in written)


def test_in_a_batch_a_write_that_breaks_a_rule_fails_alone(
    database_url: str,
    services: Services,
    more_services: list[Services],
    queue: Queue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(services, registration())
    write(services, registration(CYBER, parties=("CA",), lead_party="CA"))
    transactions = count_transactions(monkeypatch, services)
    with write_lock_held(database_url):
        leader = queue.submit(on(CODE, progress("first")))
        batch = [
            queue.submit(on(CODE, rating("ok"))),
            queue.submit(on(CODE, ChangeStatus(status=Status.IN_PROGRESS, reason="again"))),
            queue.submit(Write(ADMIN, registration(title="Twice"))),  # refused by the database
            queue.submit(on(CODE, AddMilestone(title="Study", due_date=date(2026, 12, 1)))),
            queue.submit(on(CYBER, rating("not mine"), MX_EDITOR)),
            queue.submit(on(CODE, CompleteMilestone(milestone_id="m9", completed_on=ON))),
            queue.submit(on(CYBER, progress("cyber"), CA_EDITOR)),
            queue.submit(on(CODE, LogProgress(percent=120, as_of=ON, note="too much"))),
            queue.submit(on(CODE, rating("last", Health.AMBER))),
            # No code at all: found out as the batch looks for stale caches, for it alone.
            queue.submit(on("0", progress("lost"))),
        ]
    assert leader.result(timeout=30).version == 3
    failures = {
        2: (StateConflict, "already in_progress"),
        3: (DuplicateCode, "already registered"),
        5: (Forbidden, "party MX"),
        6: (NotFound, "m9"),
        8: (InvalidValue, "percent"),
        10: (NotFound, "no commitment '0'"),
    }
    results: dict[int, Written] = {}
    for number, future in enumerate(batch, start=1):
        if number in failures:
            kind, words = failures[number]
            with pytest.raises(kind, match=words):
                future.result(timeout=30)
        else:
            results[number] = future.result(timeout=30)
    assert len(transactions) == 1  # the leader's, joined by the batch queued meanwhile
    assert [(results[n].version, results[n].result) for n in (1, 4, 9)] == [
        (4, None),
        (5, "m1"),
        (6, None),
    ]
    assert results[7].version == 3  # the other commitment: progress and status change
    # What the batch left is what another process loads.
    other = open_services(database_url)
    more_services.append(other)
    last = results[9].change
    assert last is not None
    assert describe(other.tracker.get(CODE), ON) == describe(last.commitment, ON)
    assert other.tracker.get(CODE).title == "Rail corridors"
    assert notes(other, CYBER) == ["cyber"]
    assert_log_is_sound(services)
    assert verify(services.database).events == 6 + 3


def test_writes_on_stale_cached_aggregates_in_a_batch_land_on_the_fresh_state(
    database_url: str,
    services: Services,
    more_services: list[Services],
    queue: Queue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(services, registration())
    write(services, registration(CYBER))
    other = open_services(database_url)
    more_services.append(other)
    write(other, rating("theirs", Health.RED), ref=CODE)  # our cached version 1 is stale
    transactions = count_transactions(monkeypatch, services)
    with write_lock_held(database_url):
        leader = queue.submit(on(CYBER, progress("leader")))
        first = queue.submit(on(CODE, progress("one")))
        second = queue.submit(on(CODE, AddMilestone(title="Two", due_date=date(2027, 1, 1))))
    leader.result(timeout=30)
    landed = [first.result(timeout=30), second.result(timeout=30)]
    # The leader's, joined by the others: the stale cached aggregate was found before
    # writing, so nothing had to go again.
    assert len(transactions) == 1
    # In the queue's order, on the fresh state: progress (two events) then the milestone.
    assert [w.version for w in landed] == [4, 5]
    final = services.tracker.get(CODE)
    assert (final.version, final.health, final.progress) == (5, Health.RED, 10)
    assert list(final.milestones) == ["m1"]
    assert notes(services, CODE) == ["one"]
    assert_log_is_sound(services)


# ---- lost races with other processes ----------------------------------------------------------


def test_a_write_on_a_stale_cached_aggregate_lands_on_top(
    database_url: str,
    services: Services,
    more_services: list[Services],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(services, registration())
    write(services, progress("mine"), ref=CODE)  # cached here at version 3
    other = open_services(database_url)
    more_services.append(other)
    theirs = write(other, rating("theirs", Health.RED), ref=CODE)
    assert theirs.version == 4

    transactions = count_transactions(monkeypatch, services)
    mine = write(services, AddMilestone(title="Study", due_date=date(2027, 1, 1)), ref=CODE)
    # Alone, a write does not look for stale entries first (one query less): its version
    # conflict rolls it back, and it goes again, checked, on a fresh load.
    assert len(transactions) == 2
    assert (mine.version, mine.result) == (5, "m1")
    assert mine.change is not None
    assert mine.change.commitment.health is Health.RED  # nothing of theirs is lost
    again = write(services, rating("fresh"), ref=CODE)  # the cache is current again
    assert (again.version, len(transactions)) == (6, 3)
    assert [e.actor for e in other.tracker.events_of(CODE)] == ["admin-1"] * 6
    assert_log_is_sound(services)


def test_concurrent_writers_in_several_processes_lose_nothing(
    database_url: str, more_services: list[Services]
) -> None:
    writers = [open_services(database_url) for _ in range(4)]
    more_services.extend(writers)
    write(writers[0], registration())

    def work(services: Services, n: int) -> list[Written]:
        return [
            write(services, progress(f"{n}-{i}", i), ref=CODE, principal=system(f"w{n}"))
            for i in range(10)
        ]

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(work, services, n) for n, services in enumerate(writers)]
        written = [w for f in futures for w in f.result(timeout=60)]
    assert sorted(notes(writers[0], CODE)) == sorted(
        f"{n}-{i}" for n in range(4) for i in range(10)
    )
    assert sorted(w.version for w in written) == [3, *range(4, 43)]
    assert writers[3].tracker.get(CODE).version == 42
    assert_log_is_sound(writers[0])


# ---- Idempotency-Key ---------------------------------------------------------------------------


@SQLITE_ONLY
def test_an_idempotency_key_answers_a_retry_with_the_first_write(services: Services) -> None:
    write(services, registration())
    body = {"title": "Study", "due_date": "2027-01-01"}
    command = AddMilestone(title="Study", due_date=date(2027, 1, 1))
    first = services.unit_of_work.run(keyed(CODE, command, "k-1", body))
    assert not first.replayed and (first.version, first.result) == (2, "m1")
    assert record_of(services, "admin-1", "k-1") == idempotency.Record(
        fingerprint("POST", f"/commitments/{CODE}", body),
        first.aggregate_id,
        2,
        first.position,
        "m1",
    )
    write(services, rating("later"), ref=CODE)  # the commitment moves on
    before = head(services)

    again = services.unit_of_work.run(keyed(CODE, command, "k-1", body))
    assert again.replayed and again.change is None
    assert (again.aggregate_id, again.version, again.position, again.result) == (
        first.aggregate_id,
        2,
        first.position,
        "m1",
    )
    assert head(services) == before  # nothing written
    assert list(services.tracker.get(CODE).milestones) == ["m1"]

    with pytest.raises(KeyReused, match="different request"):
        services.unit_of_work.run(keyed(CODE, command, "k-1", body | {"title": "Other"}))
    # Keys belong to their principal: the same key of another one is a new request.
    theirs = services.unit_of_work.run(
        keyed(CODE, AddMilestone(title="Theirs", due_date=date(2027, 1, 1)), "k-1", body, CA_EDITOR)
    )
    assert not theirs.replayed and (theirs.version, theirs.result) == (4, "m2")
    assert head(services) > before and records(services) == 2


@SQLITE_ONLY
def test_a_refused_write_leaves_no_record_so_its_key_can_be_used_again(
    services: Services,
) -> None:
    write(services, registration())
    command = CompleteMilestone(milestone_id="m1", completed_on=ON)
    with pytest.raises(NotFound):
        services.unit_of_work.run(keyed(CODE, command, "k-2", {"completed_on": "2026-01-15"}))
    assert records(services) == 0
    write(services, AddMilestone(title="Study", due_date=date(2026, 12, 1)), ref=CODE)
    done = services.unit_of_work.run(keyed(CODE, command, "k-2", {"completed_on": "2026-01-15"}))
    assert not done.replayed and done.version == 3


def test_the_same_key_in_one_batch_writes_once(
    database_url: str, services: Services, queue: Queue
) -> None:
    write(services, registration())
    body = {"percent": 30, "as_of": "2026-01-15", "note": "once"}
    once = progress("once", 30)
    with write_lock_held(database_url):
        leader = queue.submit(on(CYBER, progress("x")))  # no such commitment: fails alone
        first = queue.submit(keyed(CODE, once, "k-3", body))
        repeat = queue.submit(keyed(CODE, once, "k-3", body))
        reused = queue.submit(keyed(CODE, progress("other", 31), "k-3", body | {"percent": 31}))
        after = queue.submit(on(CODE, rating("after")))
    with pytest.raises(NotFound):
        leader.result(timeout=30)
    a, b = first.result(timeout=30), repeat.result(timeout=30)
    with pytest.raises(KeyReused):
        reused.result(timeout=30)
    assert not a.replayed and b.replayed
    assert (b.aggregate_id, b.version, b.position) == (a.aggregate_id, a.version, a.position)
    assert notes(services, CODE) == ["once"]
    # The repeat's gathered events were dropped: the next write follows on
    # from the first one, and the chain with it.
    assert after.result(timeout=30).version == a.version + 1 == 4
    assert records(services) == 1
    assert_log_is_sound(services)


@pytest.mark.parametrize("command", ["progress", "evidence"])
def test_the_same_key_from_two_processes_writes_once(
    database_url: str, services: Services, more_services: list[Services], command: str
) -> None:
    """Both requests pass the first look for the key before either commits. The second
    then finds the key taken, or (evidence) the rules refuse the repeat: either way the
    first write's record is its answer."""
    write(services, registration())
    other = open_services(database_url)
    more_services.append(other)
    other.tracker.get(CODE)  # warm its cache too
    body = {"kind": command}
    made: Command = (
        progress("once")
        if command == "progress"
        else AttachEvidence(url="https://example.org/s", title="Statement")
    )
    with ThreadPoolExecutor(max_workers=2) as pool, write_lock_held(database_url):
        futures = [
            pool.submit(s.unit_of_work.run, keyed(CODE, made, "k-4", body))
            for s in (services, other)
        ]
        wait_until(lambda: len(services.unit_of_work._queue) == 1)
        wait_until(lambda: len(other.unit_of_work._queue) == 1)
    answers = [f.result(timeout=30) for f in futures]
    assert sorted(a.replayed for a in answers) == [False, True]
    assert len({(a.aggregate_id, a.version, a.position) for a in answers}) == 1
    assert services.tracker.get(CODE).version == answers[0].version
    assert records(services) == 1
    assert_log_is_sound(services)


# ---- what commits together ---------------------------------------------------------------------


@SQLITE_ONLY
def test_a_failure_after_the_events_are_written_leaves_neither_events_nor_record(
    database_url: str, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(services, registration())
    write(services, progress("kept"), ref=CODE)  # version 3, cached
    before = head(services)
    recorder = services.tracker.event_recorder
    real_flush = recorder.flush

    def flush_then_fail(write: Any) -> None:
        real_flush(write)  # the events (and the record, for a keyed write) are written ...
        if write.records:
            raise RuntimeError("disk full")  # ... and then the transaction fails

    monkeypatch.setattr(recorder, "flush", flush_then_fail)
    body = {"rating": "red"}
    with pytest.raises(RuntimeError, match="disk full"):
        services.unit_of_work.run(keyed(CODE, rating("lost", Health.RED), "k-5", body))
    assert head(services) == before and records(services) == 0
    # Nothing of the rolled-back write is served from the cache.
    current = write(services, rating("next", Health.AMBER), ref=CODE)
    assert current.version == 4
    assert current.change is not None and current.change.commitment.health is Health.AMBER
    rated = [e for e in services.tracker.events_of(CODE) if isinstance(e, Commitment.HealthRated)]
    assert [(e.originator_version, e.rationale) for e in rated] == [(4, "next")]

    monkeypatch.setattr(recorder, "flush", real_flush)
    retried = services.unit_of_work.run(keyed(CODE, rating("lost", Health.RED), "k-5", body))
    assert not retried.replayed and retried.version == 5
    assert_log_is_sound(services)


@SQLITE_ONLY
def test_a_batch_that_fails_to_commit_leaves_nothing_and_nothing_cached(
    database_url: str, services: Services, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(services, registration())
    write(services, registration(CYBER))
    before = head(services)
    real = services.database.writing

    @contextmanager
    def failing_at_commit() -> Iterator[Any]:
        with real() as connection:
            yield connection
            raise OSError("connection lost at commit")

    monkeypatch.setattr(services.database, "writing", failing_at_commit)
    committed: list[int] = []
    services.unit_of_work.after_commit.append(lambda: committed.append(head(services)))
    with write_lock_held(database_url):
        batch = [
            queue.submit(on(CYBER, progress("leader"))),
            queue.submit(on(CODE, progress("a"))),
            queue.submit(on(CODE, rating("b", Health.RED))),  # runs on a's staged result
            queue.submit(keyed(CODE, AddMilestone(title="C", due_date=ON), "k-6", {"c": 1})),
        ]
    for future in batch:
        with pytest.raises(OSError, match="connection lost"):
            future.result(timeout=30)
    assert committed == []
    assert head(services) == before and records(services) == 0
    monkeypatch.setattr(services.database, "writing", real)
    # The next writes start from the committed state, not from what was staged.
    again = write(services, rating("again", Health.AMBER), ref=CODE)
    assert again.version == 2
    assert again.change is not None
    assert (again.change.commitment.progress, again.change.commitment.milestones) == (None, {})
    assert (
        services.unit_of_work.run(
            keyed(CODE, AddMilestone(title="C", due_date=ON), "k-6", {"c": 1})
        ).version
        == 3
    )
    assert_log_is_sound(services)


@SQLITE_ONLY
def test_after_commit_listeners_run_after_a_commit_only(services: Services) -> None:
    seen: list[int] = []

    def listener() -> None:
        # Another connection sees the write: the listener runs after the commit.
        seen.append(head(services))

    services.unit_of_work.after_commit.append(listener)
    first = write(services, registration())
    assert seen == [first.position]
    with pytest.raises(DuplicateCode):
        write(services, registration())
    with pytest.raises(DomainError):
        write(services, ChangeStatus(status=Status.NOT_STARTED, reason="r"), ref=CODE)
    keyed_write = keyed(CODE, rating("k"), "k-7", {"r": 1})
    done = services.unit_of_work.run(keyed_write)
    services.unit_of_work.run(keyed_write)  # a replay commits nothing
    assert seen == [first.position, done.position]


def test_a_version_conflict_the_check_before_writing_missed_still_lands(
    database_url: str,
    services: Services,
    more_services: list[Services],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The safety net under the check: a stale aggregate that reaches the insert fails on
    the unique version, spoils nothing else, and goes again on a fresh load."""
    write(services, registration())
    other = open_services(database_url)
    more_services.append(other)
    write(other, rating("theirs", Health.RED), ref=CODE)  # our cached version 1 is stale
    monkeypatch.setattr(services.unit_of_work, "_forget_stale", lambda connection, jobs: None)
    transactions = count_transactions(monkeypatch, services)
    mine = write(services, AddMilestone(title="Study", due_date=date(2027, 1, 1)), ref=CODE)
    assert len(transactions) == 2  # the stale attempt, rolled back, and the fresh one
    assert (mine.version, mine.result) == (3, "m1")
    assert services.tracker.get(CODE).health is Health.RED
    assert_log_is_sound(services)
