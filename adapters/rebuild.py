"""Rebuilding the read models without an empty window.

The whole log is replayed into the shadow tables (adapters/tables.py:SHADOW_TABLES) in
batches, by the projection's own folding and writing code, while the live projection
goes on following the log into the live tables and readers go on reading them. When
the replay has caught up, ONE write transaction applies the last events to the shadow,
replaces the live rows with the shadow's, sets the live position and empties the
shadow. A reader's snapshot (PostgreSQL MVCC, SQLite WAL) sees the old read models or
the new ones, whole, never a part.

The replay's position is a row of projection_positions of its own (`<name>:rebuild`),
so every process sees how far it has got (`/readyz`). A rebuild that dies leaves the
live read models untouched and the shadow half-filled; the next one starts from scratch.
One rebuild at a time: in a process a lock says so; across processes a lease of its own
(adapters/leases.py, `<name>:rebuild`), renewed between batches and checked by the
switch's transaction, so a rebuild that hangs or is stopped lets another start once its
lease has expired, and cannot switch when it wakes. Should two rebuilds still meet (the
Rebuild class used directly), the later one resets the shadow and the first one's next
batch fails its compare-and-set: the first stops, the second carries on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, insert, select, update

from adapters.database import Database
from adapters.leases import Lease, LeaseLost
from adapters.log_guard import shrinkage
from adapters.projection import (
    DEFAULT_BATCH_SIZE,
    PROJECTION_NAME,
    ProjectionConflict,
    ReadModelProjection,
    log_head,
)
from adapters.tables import READ_MODEL_TABLES, SHADOW_TABLES, projection_positions
from domain.tracker import Tracker

log = logging.getLogger(__name__)


class RebuildRefused(Exception):
    """Another rebuild is running, or the log cannot be trusted (it shrank)."""


class RebuildStopped(Exception):
    """The rebuild was stopped, or another one took over the shadow; live is untouched."""


def shadow_name(name: str) -> str:
    return f"{name}:rebuild"


@dataclass(frozen=True)
class RebuildProgress:
    """How far the replay has got: `position` of the log's `head`."""

    position: int
    head: int
    updated_at: datetime


def rebuild_progress(connection: Connection, name: str = PROJECTION_NAME) -> RebuildProgress | None:
    """The replay under way (or left by a rebuild that died), or None."""
    row = connection.execute(
        select(projection_positions.c.position, projection_positions.c.updated_at).where(
            projection_positions.c.name == shadow_name(name)
        )
    ).first()
    if row is None:
        return None
    return RebuildProgress(int(row.position), log_head(connection), row.updated_at)


class Rebuild:
    """One rebuild, driven step by step: `begin`, `step` until it returns less than a
    batch, `switch`. (`Rebuilder.run` does all three.)"""

    def __init__(
        self,
        database: Database,
        tracker: Tracker,
        *,
        name: str = PROJECTION_NAME,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.database = database
        self.name = name
        self.shadow = ReadModelProjection(
            database, tracker, name=shadow_name(name), batch_size=batch_size, tables=SHADOW_TABLES
        )
        self._writer: ThreadPoolExecutor | None = None  # see `overlapped`
        self._writing: Future[None] | None = None  # the batch being written there
        self._folded: int | None = None  # where the batch folded last ends

    def begin(self) -> None:
        """Empty the shadow (whatever a rebuild that died left there) and set its position
        to 0, in one transaction."""
        self.shadow.reset()

    def step(self) -> int:
        """Replay the next batch into the shadow; returns how many events it applied
        (within `overlapped`: folded, the batch before it written)."""
        try:
            applied = self.shadow.run_batch() if self._writer is None else self._fold_ahead()
        except ProjectionConflict:
            raise RebuildStopped("another rebuild reset the shadow tables") from None
        if self.shadow.refused is not None:
            raise RebuildRefused(self.shadow.refused)
        return applied

    @contextmanager
    def overlapped(self) -> Iterator[None]:
        """Within it, `step` folds a batch while the one before it is written in another
        thread: the database's work (SQLite and psycopg leave Python's lock meanwhile)
        overlaps the folding, and a rebuild takes nearer the longer of the two than their
        sum. The batches are written one at a time, in log order, each advancing the
        position by compare-and-set as before. On leaving, the last one is written (or its
        error raised); after an error, the batch in flight ends before this does."""
        with ThreadPoolExecutor(1, thread_name_prefix="projection-rebuild-writer") as writer:
            self._writer = writer
            # A mark not kept in memory is read from the shadow: the rows written first.
            self.shadow.before_reading_rows = self._settle
            try:
                yield
                self._settle()
            finally:
                self._writer = None
                self.shadow.before_reading_rows = None

    def _fold_ahead(self) -> int:
        assert self._writer is not None
        try:
            batch = self.shadow.fold_next(after=self._folded)
            self._settle()
        except BaseException:
            self.shadow.forget()  # folded ahead of a batch that failed, or failed itself
            raise
        if batch is None:
            return 0
        self._folded = batch.end
        self._writing = self._writer.submit(self.shadow.write_folded, batch)
        return batch.count

    def _settle(self) -> None:
        """Wait for the batch being written; its error, if any, is raised here."""
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    def switch(self, fence: Lease | None = None) -> int:
        """In one transaction: catch the shadow up with the log, put its rows in place of
        the live ones, set the live position, empty the shadow. Returns the position.
        With `fence`, only while that lease is held (else LeaseLost, nothing written)."""
        with self.database.writing() as connection:
            if fence is not None:
                fence.fence(connection)
            # Waits for a live batch in flight; live batches after it wait for this
            # transaction, then fail their compare-and-set and read the new position.
            live = connection.execute(
                select(projection_positions.c.position)
                .where(projection_positions.c.name == self.name)
                .with_for_update()
            ).scalar_one_or_none()
            refused = shrinkage(connection)
            if refused is not None:
                raise RebuildRefused(refused)
            start = connection.execute(
                select(projection_positions.c.position).where(
                    projection_positions.c.name == self.shadow.name
                )
            ).scalar_one_or_none()
            if start is None:
                raise RebuildStopped("another rebuild switched or reset the shadow tables")
            position = self.shadow.apply_within(connection, int(start), log_head(connection))
            # Never behind the live read models: the shadow has every event they have.
            assert live is None or position >= live, (position, live)
            for table, shadow in zip(READ_MODEL_TABLES, SHADOW_TABLES, strict=True):
                connection.execute(delete(table))
                columns = [column.name for column in table.columns]
                rows = select(*(shadow.c[c] for c in columns))
                if not self.database.is_postgres:
                    # In the primary key's order: each index of the live table (all but
                    # one lead with the commitment) then fills in order, not at random.
                    # (Measured on SQLite only; PostgreSQL would sort, maybe on disk.)
                    rows = rows.order_by(
                        *(shadow.c[column.name] for column in table.primary_key.columns)
                    )
                connection.execute(insert(table).from_select(columns, rows))
                connection.execute(delete(shadow))
            now = datetime.now(UTC)
            if live is None:
                connection.execute(
                    insert(projection_positions).values(
                        name=self.name, position=position, updated_at=now
                    )
                )
            else:
                connection.execute(
                    update(projection_positions)
                    .where(projection_positions.c.name == self.name)
                    .values(position=position, updated_at=now)
                )
            connection.execute(
                delete(projection_positions).where(projection_positions.c.name == self.shadow.name)
            )
        self.database.analyze(*READ_MODEL_TABLES)  # every row of them is new
        return position


class Rebuilder:
    """Runs the rebuilds of one process, one at a time."""

    def __init__(
        self,
        database: Database,
        tracker: Tracker,
        *,
        name: str = PROJECTION_NAME,
        batch_size: int = DEFAULT_BATCH_SIZE,
        lease: Lease | None = None,
    ) -> None:
        self.database = database
        self.tracker = tracker
        self.name = name
        self.batch_size = batch_size
        self.lease = lease or Lease(database, shadow_name(name))
        self._running = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None  # why the last rebuild in the background failed
        # Called with the live position after each switch (in the rebuild's thread).
        self.on_switch: list[Callable[[int], None]] = []

    @property
    def running(self) -> bool:
        """A rebuild is running in this process."""
        return self._running.locked()

    def start(self) -> None:
        """Run a rebuild in a thread of its own; RebuildRefused (at once) if one is running
        here or, on PostgreSQL, elsewhere. The shadow is emptied before it returns, so
        from then on every process sees the rebuild under way (`rebuild_progress`)."""
        held = self._claim()
        try:
            rebuild = self._begin()
            self._thread = threading.Thread(
                target=self._background,
                args=(held, rebuild),
                name="projection-rebuild",
                daemon=True,
            )
            self._thread.start()
        except BaseException:
            held.close()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a rebuild running in this process between two batches (live untouched)."""
        self._stop.set()
        self.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the rebuild started in the background to end; True once none runs."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def run(self, *, progress: Callable[[int, int], None] | None = None) -> int:
        """Rebuild in this thread; returns the live position it switched at.
        RebuildRefused if another rebuild is running; RebuildStopped if stopped."""
        with self._claim():
            return self._run(self._begin(), progress)

    def _background(self, held: ExitStack, rebuild: Rebuild) -> None:
        with held:
            try:
                self._run(rebuild, None)
                self.last_error = None
            except RebuildStopped as error:
                self.last_error = str(error)
                log.warning("projection rebuild stopped: %s", error)
            except Exception as error:
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("projection rebuild failed; the live read models are untouched")

    def _claim(self) -> ExitStack:
        """Hold this process's lock and the rebuild's lease across processes, until the
        returned stack is closed; RebuildRefused if either is taken."""
        held = ExitStack()
        if not self._running.acquire(blocking=False):
            raise RebuildRefused("a rebuild is running already")
        held.callback(self._running.release)
        with held.pop_all() as undo:  # released again if the lease is refused
            if not self.lease.acquire():
                raise RebuildRefused("a rebuild is running in another process")
            undo.callback(self.lease.release)
            held = undo.pop_all()
        self._stop.clear()
        return held

    def _begin(self) -> Rebuild:
        rebuild = Rebuild(self.database, self.tracker, name=self.name, batch_size=self.batch_size)
        rebuild.begin()
        return rebuild

    def _run(self, rebuild: Rebuild, progress: Callable[[int, int], None] | None) -> int:
        started = time.monotonic()
        with rebuild.overlapped():
            while True:
                if self._stop.is_set():
                    raise RebuildStopped("stopped; the live read models are untouched")
                if not self.lease.renew_if_due():
                    raise RebuildStopped("the rebuild's lease was taken over; live untouched")
                applied = rebuild.step()
                if progress is not None and rebuild.shadow.last_position is not None:
                    progress(rebuild.shadow.last_position, rebuild.shadow.head())
                if applied < rebuild.shadow.batch_size:
                    break
        switching = time.monotonic()
        try:
            position = rebuild.switch(fence=self.lease)
        except LeaseLost:
            raise RebuildStopped("the rebuild's lease was taken over; live untouched") from None
        done = time.monotonic()
        # The switch is one write transaction: on SQLite, writers wait for it.
        log.info(
            "read models rebuilt up to position %d in %.1f s (the switch %.2f s)",
            position,
            done - started,
            done - switching,
        )
        for callback in self.on_switch:
            try:
                callback(position)
            except Exception:  # a listener's failure must not fail the rebuild
                log.exception("rebuild listener failed")
        return position
