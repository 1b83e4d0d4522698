"""Running the projection continuously: catch up, then follow the log.

One follower per projection leads, across all processes: the one holding the
projection's lease (adapters/leases.py). It renews the lease from its loop, and every
batch it writes checks the lease in its own transaction; the others stand by, look at
the lease a few times a lease's length, and take it over once it has expired (the leader
died, hung, or was stopped). A leader that finds its lease taken over goes back to
standing by, having written nothing.

On SQLite the leader polls. On PostgreSQL it also LISTENs on the channel the event store
NOTIFYs on each save, as a wake-up hint only: events are always read by position.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from adapters.event_store import EVENTS_CHANNEL
from adapters.leases import Lease, LeaseLost, failure
from adapters.projection import ProjectionConflict, ReadModelProjection

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
# After a batch that did not empty the log's tail at full size, writes are arriving: let
# a few more gather, rather than commit (and take the writers' turn) once per event.
SETTLE_SECONDS = 0.05
ERROR_BACKOFF_MAX = 10.0


class ProjectionFollower:
    """Keeps one projection caught up until stopped; safe to run in several processes."""

    def __init__(
        self,
        projection: ReadModelProjection,
        *,
        poll_seconds: float = POLL_SECONDS,
        lease: Lease | None = None,
    ):
        self.projection = projection
        self.poll_seconds = poll_seconds
        self.lease = lease or Lease(projection.database, projection.name)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.active = threading.Event()  # set while this follower holds the lease
        self.last_error: str | None = None  # why the last attempt failed, until one succeeds
        # Called (in the follower's thread) with the position after each batch applied.
        self.on_progress: list[Callable[[int], None]] = []

    # ---- control ----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="projection-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """New events were just written in this process: look now rather than at the next poll."""
        self._wake.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        """Started in this process and not stopped."""
        return self._thread is not None and self._thread.is_alive() and not self.stopped

    # ---- the loop -----------------------------------------------------------------------

    def run(self) -> None:
        backoff = 0.5
        while not self.stopped:
            try:
                if not self.lease.acquire():
                    self._stop.wait(self.lease.look_every)  # another worker leads
                    continue
                try:
                    self.active.set()
                    with self._listening() as listener:
                        self._follow(listener)
                finally:
                    self.active.clear()
                    self.lease.release()  # (nothing to do if it was lost)
                backoff = 0.5
            except Exception as error:  # a lost connection, a database restart: log, retry
                self.last_error = failure(error)
                if self.lease.replaced:
                    log.warning("projection follower: %s; standing by", self.last_error)
                else:
                    log.exception("projection follower failed; retrying in %.1f s", backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF_MAX)

    def _follow(self, listener: Any) -> None:
        """Lead until stopped or the lease is lost (then return, to stand by)."""
        while not self.stopped:
            try:
                applied = self.projection.run_batch(fence=self.lease)
            except ProjectionConflict:
                continue
            except LeaseLost:
                return
            self.last_error = self.projection.refused  # None unless the log has shrunk
            if applied:
                self._progressed()
            if applied == 0:
                self._wait(listener)
            elif applied < self.projection.batch_size:
                self._stop.wait(SETTLE_SECONDS)
            # Renewed by each batch's fence; when idle, here (a loop that stops
            # going round stops renewing, and loses the lease).
            if not self.lease.renew_if_due():
                return

    def _progressed(self) -> None:
        position = self.projection.last_position
        if position is None:
            return
        for callback in self.on_progress:
            try:
                callback(position)
            except Exception:  # a listener's failure must not stop the projection
                log.exception("projection progress listener failed")

    def _wait(self, listener: Any) -> None:
        # Not past the next renewal of the lease.
        timeout = max(0.01, min(self.poll_seconds, self.lease.due_in()))
        if listener is None:
            self._wake.wait(timeout)
        else:
            # Returns on the first NOTIFY, or after the timeout (then we look anyway).
            for _ in listener.notifies(timeout=timeout, stop_after=1):
                pass
        self._wake.clear()

    @contextmanager
    def _listening(self) -> Iterator[Any]:
        """A connection LISTENing for new events (PostgreSQL), or None (SQLite: poll)."""
        database = self.projection.database
        if not database.is_postgres:
            yield None
            return
        import psycopg  # PostgreSQL only

        with psycopg.connect(database.psycopg_conninfo(), autocommit=True) as connection:
            connection.execute(f"LISTEN {EVENTS_CHANNEL}")
            yield connection
