"""The unit of work: what makes a write durable, for every entry point (API, CLI, seeds).

`UnitOfWork.run(write)`:

1. An Idempotency-Key seen before answers with the record of that first write.
2. The write joins the queue of this process. The writer at the head of the queue
   commits every write waiting once it holds the lock in one transaction (group
   commit); a write that breaks a rule drops its own rows and the others go on, one
   that breaks the transaction has every write redone alone, so one write's failure
   never touches another's; each is acknowledged only after the commit. In-process
   writes are thereby serialised, which is the per-commitment lock and more.
3. In the transaction (PostgreSQL: the events table locked, so log order is commit
   order; SQLite: BEGIN IMMEDIATE), the Tracker's use case loads, runs the command and
   saves; the recorder writes the events and their chain entries; the Idempotency-Key
   record is stored beside them.
4. A write that lost a race with another process (its cached aggregate was stale) is
   retried on a fresh load. After the commit, the projection follower is woken.

Nothing of the API runs in the transaction: the caller renders its answer afterwards,
from the aggregate the write left (or, for a replay, from the event store).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from eventsourcing.persistence import IntegrityError, PersistenceError
from sqlalchemy import Connection, bindparam, func, select

from adapters import idempotency
from adapters.database import Database
from adapters.event_store import EventWrite, StoredTracker
from adapters.idempotency import IdempotencyKey, KeyReused
from adapters.tables import events
from domain.access import Principal
from domain.commands import Command, RegisterCommitment
from domain.commitment import commitment_id
from domain.errors import DomainError, StateConflict
from domain.tracker import Change

log = logging.getLogger(__name__)

# A write whose cached aggregate was stale is tried this many times in all. The retry
# loads under the transaction's lock, so the second attempt sees the latest state.
MAX_ATTEMPTS = 3
# Writes committed together at most (a bound on one transaction's length).
MAX_BATCH = 64


# What a write stores beside its events, in their transaction, made from what it changed
# (a token's row: adapters/tokens.py). It adds statements to the EventWrite, or refuses
# with a DomainError; either way like the write's own rows, kept or dropped with them.
Beside = Callable[[EventWrite, Change], None]


@dataclass(frozen=True)
class Write:
    """One write: who, which command, on which commitment, and its HTTP conditions."""

    principal: Principal
    command: Command
    ref: str | None = None
    expected_version: int | None = None  # If-Match
    idempotency: IdempotencyKey | None = None
    beside: Beside | None = None


@dataclass(frozen=True)
class Written:
    """Where a write left its aggregate. `change` is None when this is the record of an
    earlier request with the same Idempotency-Key (a replay)."""

    aggregate_id: UUID
    version: int
    position: int
    result: str | None
    change: Change | None = None

    @property
    def replayed(self) -> bool:
        return self.change is None


class _DuplicateRequest(Exception):
    """A concurrent request with the same Idempotency-Key committed first."""


class _NothingToCommit(Exception):
    """Every job of the transaction failed: roll it back."""


class _Spoiled(Exception):
    """A write failed after it had written: its transaction must be rolled back."""


# The newest version of each aggregate in a list (to find stale cache entries).
_LATEST_VERSIONS = (
    select(events.c.originator_id, func.max(events.c.originator_version))
    .where(events.c.originator_id.in_(bindparam("ids", expanding=True)))
    .group_by(events.c.originator_id)
)


@dataclass(eq=False)
class _Job:
    write: Write
    attempts: int = 0
    change: Change | None = None
    error: BaseException | None = None
    done: bool = False
    turn: threading.Event = field(default_factory=threading.Event)  # done, or leading


class UnitOfWork:
    def __init__(self, database: Database, tracker: StoredTracker) -> None:
        self.database = database
        self.tracker = tracker
        self.after_commit: list[Callable[[], None]] = []  # e.g. wake the follower
        # Told how many events each write committed (the metrics count them).
        self.events_committed: list[Callable[[int], None]] = []
        self._queue: deque[_Job] = deque()
        self._lock = threading.Lock()

    def run(self, write: Write) -> Written:
        """Make the write durable (or find the earlier one with its Idempotency-Key)."""
        if write.idempotency is not None:
            earlier = self._earlier(write)
            if earlier is not None:
                return earlier
        job = _Job(write)
        self._commit_in_turn(job)
        if job.error is not None:
            if isinstance(job.error, _DuplicateRequest | DomainError) and write.idempotency:
                # A concurrent retry of this very request won (the rules may now refuse
                # the repeat: evidence already attached, ...): its record is our answer.
                earlier = self._earlier(write)
                if earlier is not None:
                    return earlier
            if isinstance(job.error, _DuplicateRequest):
                raise StateConflict("a request with this Idempotency-Key is in flight")
            raise job.error
        for listener in self.after_commit:
            listener()
        change = job.change
        assert change is not None
        for count in self.events_committed:
            count(change.events)
        return Written(
            change.aggregate.id, change.aggregate.version, change.position, change.result, change
        )

    def _earlier(self, write: Write) -> Written | None:
        assert write.idempotency is not None
        with self.database.reading() as connection:
            actor, key = write.principal.actor, write.idempotency.key
            found = idempotency.find(connection, actor, key)
            if found is not None and found.request_hash == write.idempotency.request_hash:
                target = self._target(write)
                if isinstance(write.command, RegisterCommitment):  # its id is its code's
                    target = commitment_id(write.command.code)
                idempotency.check_anchored(connection, actor, key, found, target)
        if found is None:
            return None
        if found.request_hash != write.idempotency.request_hash:
            raise KeyReused("this Idempotency-Key was used for a different request; use a new key")
        return Written(found.aggregate_id, found.version, found.position, found.result)

    # ---- group commit ------------------------------------------------------------------

    def _commit_in_turn(self, job: _Job) -> None:
        """Queue the job. The first in the queue (the leader) commits everything queued
        then; the others wait until their job is done, or until they are first in turn.
        Each waits on its own event, so a commit wakes only its writers and the next
        leader."""
        with self._lock:
            self._queue.append(job)
            leading = len(self._queue) == 1
        if not leading:
            job.turn.wait()
            if job.done:
                return
        with self._lock:
            batch = [self._queue[i] for i in range(min(len(self._queue), MAX_BATCH))]
        try:  # (_commit adds to the batch the writes queued while it takes the lock)
            self._commit(batch)
        finally:
            with self._lock:
                for finished in batch:
                    self._queue.popleft()
                    finished.done = True
                following = self._queue[0] if self._queue else None
            for finished in batch:
                finished.turn.set()
            if following is not None:
                following.turn.set()

    def _commit(self, batch: list[_Job]) -> None:
        """Commit the batch in one transaction (with the writes that queued up while it
        took the lock). If a write fails after it has written (a database error:
        PostgreSQL then refuses the rest of the transaction; a version another process
        took), nothing of the batch is stored, and each of its writes goes again, alone,
        so that only that one fails."""
        try:
            self._transaction(batch, gather=True)
            return
        except _Spoiled as spoiled:
            for job in batch:
                job.change, job.error = None, None
                if isinstance(spoiled.__cause__, IntegrityError):
                    self._evict(job)  # one of them lost a race: all load afresh
        for job in batch:
            self._alone(job)

    def _alone(self, job: _Job) -> None:
        """A write in a transaction of its own, after its batch failed. One that lost a
        race with another process (its version was taken) goes again at once: under the
        lock a fresh load cannot lose again."""
        for _ in range(MAX_ATTEMPTS - 1):
            try:
                self._transaction([job])
                return
            except _Spoiled as spoiled:
                cause = spoiled.__cause__
                if not isinstance(cause, IntegrityError):
                    job.error = cause
                    return
                self._evict(job)
        job.error = StateConflict("it is being changed by others right now; try again")

    def _evict(self, job: _Job) -> None:
        target = self._target(job.write)
        if target is not None:
            self.tracker.write_cache.evict(target)

    def _target(self, write: Write) -> UUID | None:
        """The aggregate the write is on; None for a new token, or for a reference to
        nothing: that write fails on its own when it runs (404), not the batch it is in."""
        try:
            return self.tracker.target_of(write.command, write.ref)
        except DomainError:
            return None

    def _transaction(self, jobs: list[_Job], *, gather: bool = False) -> None:
        """One transaction for the jobs; raises _Spoiled when what they wrote could not be
        stored (a version or position another writer took, a database error).

        Under the lock (PostgreSQL: the events table; SQLite: BEGIN IMMEDIATE) no other
        process writes. With `gather`, the writes queued behind the jobs meanwhile join
        them (`jobs` grows). Then, for more than one write, or a write going again, the
        conflicts they could meet are looked for first: cached aggregates another
        process moved on are forgotten (one write alone the first time skips that query:
        a conflict then undoes only itself), Idempotency-Keys already recorded are
        answered from their records. Each write's rows are gathered, and dropped again
        if it fails (a broken rule): the others go on. Everything gathered is written at
        the end, together (adapters/event_store.py:EventWrite)."""
        recorder = self.tracker.event_recorder
        try:
            with self.database.writing() as connection:
                write = recorder.begin(connection)
                if gather:
                    self._gather(jobs)
                if len(jobs) > 1 or not gather:
                    self._forget_stale(connection, jobs)
                self._find_answered(connection, jobs)
                with recorder.writing(write):
                    for job in jobs:
                        if job.error is None:
                            self._attempt(write, job)
                if all(job.change is None for job in jobs):
                    raise _NothingToCommit
                try:
                    recorder.flush(write)
                except (IntegrityError, PersistenceError) as error:
                    raise _Spoiled from error
        except _NothingToCommit:
            self.tracker.write_cache.abort()
            return
        except _Spoiled:
            self.tracker.write_cache.abort()
            raise
        except BaseException as error:
            # The transaction failed as a whole (commit, database gone): nothing is stored.
            self.tracker.write_cache.abort()
            for job in jobs:
                if job.change is not None or job.error is None:
                    job.change, job.error = None, error
            if not isinstance(error, Exception):
                raise
            return
        self.tracker.write_cache.commit()
        recorder.tip = write.tip
        for committed in write.on_commit:
            committed()

    def _gather(self, batch: list[_Job]) -> None:
        """Add the writes queued behind the batch (it is the head of the queue)."""
        with self._lock:
            end = min(len(self._queue), MAX_BATCH)
            batch.extend(self._queue[i] for i in range(len(batch), end))

    def _attempt(self, write: EventWrite, job: _Job) -> None:
        """Run the job's use case; if it fails, drop what it gathered (others go on)."""
        mark = write.mark()
        try:
            change = self._run(write, job.write)
        except Exception as error:
            write.restore(mark)
            job.error = error
            return
        job.change, job.error = change, None
        self.tracker.write_cache.stage(change.aggregate)

    def _forget_stale(self, connection: Connection, jobs: list[_Job]) -> None:
        """Drop cached aggregates another process has written since they were cached."""
        cache = self.tracker.write_cache
        cached: dict[UUID, int] = {}
        for job in jobs:
            target = self._target(job.write)
            version = cache.committed_version(target)
            if target is not None and version is not None:
                cached[target] = version
        if not cached:
            return
        stored = connection.execute(_LATEST_VERSIONS, {"ids": list(cached)}).all()
        for aggregate_id, version in stored:
            if cached[UUID(str(aggregate_id))] != version:
                cache.evict(UUID(str(aggregate_id)))

    def _find_answered(self, connection: Connection, jobs: list[_Job]) -> None:
        """Mark the writes whose Idempotency-Key is recorded, or used by an earlier write
        of this batch: they are answered from the record once it is committed."""
        seen: set[tuple[str, str]] = set()
        for job in jobs:
            request = job.write
            if request.idempotency is None:
                continue
            key = (request.principal.actor, request.idempotency.key)
            if key in seen or idempotency.find(connection, *key) is not None:
                job.error = _DuplicateRequest()
            seen.add(key)

    def _run(self, write: EventWrite, request: Write) -> Change:
        """The use case, and what is stored beside its events."""
        change = self.tracker.execute(
            request.principal,
            request.command,
            ref=request.ref,
            expected_version=request.expected_version,
        )
        if request.idempotency is not None:
            entry = idempotency.Record(
                request.idempotency.request_hash,
                change.aggregate.id,
                change.aggregate.version,
                change.position,
                change.result,
            )
            write.add_record(
                idempotency.row(request.principal.actor, request.idempotency.key, entry)
            )
        if request.beside is not None:
            request.beside(write, change)
        for snapshot in self.tracker.snapshots_due(change):
            write.add_snapshot(self.tracker.mapper.to_stored_event(snapshot))
        return change
