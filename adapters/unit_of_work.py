"""The unit of work: what makes a write durable, for every entry point (API, CLI, seeds).

`UnitOfWork.run(write)`:

1. An Idempotency-Key seen before answers with the record of that first write.
2. The write joins the queue of this process. The writer at the head of the queue
   commits every write waiting at that moment in one transaction (group commit), each
   in a savepoint of its own, so one write's failure never touches another's, and each
   is acknowledged only after the commit. In-process writes are thereby serialised,
   which is the per-commitment lock and more.
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
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from sqlalchemy import Connection

from adapters import idempotency
from adapters.database import Database, savepoint
from adapters.event_store import EventWrite, StoredTracker, lock_events_table
from adapters.idempotency import IdempotencyKey, KeyReused
from domain.access import Principal
from domain.commands import Command
from domain.errors import DomainError, StateConflict, VersionMismatch
from domain.tracker import Change, snapshot_due

log = logging.getLogger(__name__)

# A write whose cached aggregate was stale is tried this many times in all. The retry
# loads under the transaction's lock, so the second attempt sees the latest state.
MAX_ATTEMPTS = 3
# Writes committed together at most (a bound on one transaction's length).
MAX_BATCH = 64


@dataclass(frozen=True)
class Write:
    """One write: who, which command, on which commitment, and its HTTP conditions."""

    principal: Principal
    command: Command
    ref: str | None = None
    expected_version: int | None = None  # If-Match
    idempotency: IdempotencyKey | None = None


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
    """Every job of the transaction failed or lost a race: roll it back."""


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
        return Written(
            change.aggregate.id, change.aggregate.version, change.position, change.result, change
        )

    def _earlier(self, write: Write) -> Written | None:
        assert write.idempotency is not None
        with self.database.reading() as connection:
            found = idempotency.find(connection, write.principal.name, write.idempotency.key)
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
        try:
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
        """Commit the batch; writes that lost a race go again in a new transaction, at
        once: the retry loads under the transaction's lock, so it cannot lose again."""
        pending = batch
        for _ in range(MAX_ATTEMPTS):
            pending = self._transaction(pending)
            if not pending:
                return
        for job in pending:
            job.error = StateConflict("it is being changed by others right now; try again")

    def _transaction(self, jobs: list[_Job]) -> list[_Job]:
        """One transaction for the jobs; returns those that lost a race. A job alone runs
        without a savepoint (one less round trip): if it fails, the whole is rolled back."""
        lost: list[_Job] = []
        alone = len(jobs) == 1
        recorder = self.tracker.event_recorder
        try:
            with self.database.writing() as connection:  # SQLite: BEGIN IMMEDIATE
                if self.database.is_postgres:
                    lock_events_table(connection)
                write = EventWrite(connection, recorder.chain_head)
                with recorder.writing(write):
                    for job in jobs:
                        if not self._attempt(write, job, isolated=not alone):
                            lost.append(job)
                if all(job.change is None for job in jobs):
                    raise _NothingToCommit
        except _NothingToCommit:
            self.tracker.write_cache.abort()
            return lost
        except BaseException as error:
            # The transaction failed as a whole (commit, database gone): nothing is stored.
            self.tracker.write_cache.abort()
            for job in jobs:
                if job.change is not None or job.error is None:
                    job.change, job.error = None, error
            if not isinstance(error, Exception):
                raise
            return []
        self.tracker.write_cache.commit()
        recorder.chain_head = write.chain_head
        return lost

    def _attempt(self, write: EventWrite, job: _Job, *, isolated: bool) -> bool:
        """Run the job (in a savepoint unless it is alone); False when it lost a race and
        should be tried again."""
        job.attempts += 1
        chain_head = write.chain_head
        try:
            with savepoint(write.connection) if isolated else nullcontext():
                change = self._run(write.connection, job.write)
        except (IntegrityError, VersionMismatch) as error:
            # Either the cached aggregate was stale, or (a mismatch after a fresh load)
            # the caller's If-Match is.
            write.chain_head = chain_head
            if isinstance(error, VersionMismatch) and job.attempts > 1:
                job.error = error
                return True
            command, ref = job.write.command, job.write.ref
            self.tracker.write_cache.evict(self.tracker.target_of(command, ref))
            return False
        except Exception as error:
            write.chain_head = chain_head
            job.error = error
            return True
        job.change, job.error = change, None
        self.tracker.write_cache.stage(change.aggregate)
        return True

    def _run(self, connection: Connection, write: Write) -> Change:
        """The use case, and what is stored beside its events."""
        change = self.tracker.execute(
            write.principal, write.command, ref=write.ref, expected_version=write.expected_version
        )
        if write.idempotency is not None:
            entry = idempotency.Record(
                write.idempotency.request_hash,
                change.aggregate.id,
                change.aggregate.version,
                change.position,
                change.result,
            )
            if not idempotency.record(
                connection, write.principal.name, write.idempotency.key, entry
            ):
                raise _DuplicateRequest
        if snapshot_due(change):
            self._snapshot(connection, change)
        return change

    def _snapshot(self, connection: Connection, change: Change) -> None:
        aggregate: Any = change.aggregate
        stored = self.tracker.mapper.to_stored_event(type(aggregate).Snapshot.take(aggregate))
        # Another process may have stored the snapshot of this version already.
        with suppress(IntegrityError), savepoint(connection):
            self.tracker.event_recorder.insert_snapshot(connection, stored)
