"""Running the projection continuously: catch up, then follow the log.

On SQLite the follower polls. On PostgreSQL it holds a session-level advisory lock, so
one worker per projection is active across all processes (another waits and takes over
when the holder's connection dies), and it LISTENs on the channel the event store
NOTIFYs on each save, as a wake-up hint only: events are always read by position.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from adapters.database import advisory_lock
from adapters.event_store import EVENTS_CHANNEL
from adapters.projection import ProjectionConflict, ReadModelProjection

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
# After a batch that did not empty the log's tail at full size, writes are arriving: let
# a few more gather, rather than commit (and take the writers' turn) once per event.
SETTLE_SECONDS = 0.05
LOCK_RETRY_SECONDS = 1.0
ERROR_BACKOFF_MAX = 10.0


class ProjectionFollower:
    """Keeps one projection caught up until stopped; safe to run in several processes."""

    def __init__(self, projection: ReadModelProjection, *, poll_seconds: float = POLL_SECONDS):
        self.projection = projection
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.active = threading.Event()  # set while this follower holds the projection
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
                with self._exclusive() as listener:
                    if listener is False:
                        continue  # not our turn yet; _exclusive waited a while
                    self.active.set()
                    self._follow(listener)
                backoff = 0.5
            except Exception as error:  # a lost connection, a database restart: log, retry
                self.last_error = f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
                log.exception("projection follower failed; retrying in %.1f s", backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF_MAX)
            finally:
                self.active.clear()

    def _follow(self, listener: Any) -> None:
        while not self.stopped:
            try:
                applied = self.projection.run_batch()
            except ProjectionConflict:
                continue
            self.last_error = self.projection.refused  # None unless the log has shrunk
            if applied:
                self._progressed()
            if applied == 0:
                self._wait(listener)
            elif applied < self.projection.batch_size:
                self._stop.wait(SETTLE_SECONDS)

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
        if listener is None:
            self._wake.wait(self.poll_seconds)
        else:
            # Returns on the first NOTIFY, or after the timeout (then we look anyway).
            for _ in listener.notifies(timeout=self.poll_seconds, stop_after=1):
                pass
        self._wake.clear()

    @contextmanager
    def _exclusive(self) -> Iterator[Any]:
        """Yield a LISTENing connection holding the advisory lock (PostgreSQL), None
        (SQLite: no lock, compare-and-set alone keeps each event once), or False when
        another worker holds the lock."""
        database = self.projection.database
        if not database.is_postgres:
            yield None
            return
        with advisory_lock(database, self.projection.name, listen=EVENTS_CHANNEL) as connection:
            if connection is None:
                self._stop.wait(LOCK_RETRY_SECONDS)
                yield False
            else:
                yield connection
