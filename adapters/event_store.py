"""The Tracker on the SQL event store (eventsourcing-sqlalchemy), on the process's engine.

The recorder writes each event with a Core INSERT ... RETURNING (leaner than the
library's ORM flush) and, in the same transaction, the event's chain entry
(adapters/ledger.py). Writes load aggregates from a cache of what this process
committed; a stale entry cannot do harm, because saving it collides with the version
another process wrote, and the unit of work then retries on a fresh load.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from copy import deepcopy
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    InfrastructureFactory,
    IntegrityError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.utils import Environment
from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import Connection, Insert, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker

from adapters import ledger
from adapters.database import Database
from adapters.tables import EVENTS_TABLE, event_chain, events, snapshots
from domain.tracker import Tracker

# The channel followers LISTEN on (the library's own name for it).
EVENTS_CHANNEL = EVENTS_TABLE

WRITE_CACHE_SIZE = 2_000


@dataclass
class EventWrite:
    """A transaction the unit of work writes events in: its connection, and the newest
    chain entry in it (None: read it from the table)."""

    connection: Connection
    chain_head: ledger.ChainEntry | None


# The unit of work's transaction, while it runs a write (see EventRecorder.insert_events).
_current: ContextVar[EventWrite | None] = ContextVar("commitments_event_write", default=None)


class EventRecorder(SQLAlchemyApplicationRecorder):
    """The library's application recorder, with a Core insert and the hash chain.

    In the unit of work, events are written on its connection (no ORM session: leaner).
    Elsewhere (tests, scripts saving directly) the library's own session transaction is
    used, and the recorder locks the table itself.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The newest chain entry this process committed (None: read it from the table).
        self.chain_head: ledger.ChainEntry | None = None

    @contextmanager
    def writing(self, write: EventWrite) -> Iterator[None]:
        """Events saved inside the block are written in `write`'s transaction."""
        token = _current.set(write)
        try:
            yield
        finally:
            _current.reset(token)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        write = _current.get()
        if write is None:
            return super().insert_events(stored_events, **kwargs)  # type: ignore[return-value]
        ids, write.chain_head = self._write(write.connection, stored_events, write.chain_head)
        return ids

    def _insert_stored_events(
        self, session: Session, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int]:
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            lock_events_table(connection)
        ids, _ = self._write(connection, stored_events, None)
        return ids

    def insert_snapshot(self, connection: Connection, snapshot: StoredEvent) -> None:
        """A snapshot row, in the caller's transaction (IntegrityError if it exists)."""
        _statements(connection).snapshot.run(connection, _row(snapshot))

    def _write(
        self,
        connection: Connection,
        stored_events: Sequence[StoredEvent],
        head: ledger.ChainEntry | None,
    ) -> tuple[list[int], ledger.ChainEntry | None]:
        """Insert the events and their chain entries; returns their positions and the new
        chain head. `head` is the newest entry as last seen here: it is used only when it
        is the entry just before these events, else the table is asked."""
        statements = _statements(connection)
        ids = [statements.event.returning_one(connection, _row(e)) for e in stored_events]
        if head is None or head.position != min(ids) - 1:
            head = ledger.last_entry(connection)
        chained = ledger.entries(
            list(zip(ids, stored_events, strict=True)),
            head.hash if head is not None else ledger.GENESIS,
        )
        for entry in chained:
            statements.chain.run(connection, {"position": entry.position, "hash": entry.hash})
        return ids, (chained[-1] if chained else head)


_EVENT_COLUMNS = ("originator_id", "originator_version", "topic", "state")


def _row(event: StoredEvent) -> dict[str, Any]:
    return {
        "originator_id": event.originator_id,
        "originator_version": event.originator_version,
        "topic": event.topic,
        "state": event.state,
    }


class DriverInsert:
    """An INSERT compiled once by SQLAlchemy for a dialect and run on the driver's cursor,
    its parameters converted by the columns' own bind processors. Every write runs two:
    Core's per-execution bookkeeping would cost several times the statements themselves."""

    def __init__(self, statement: Insert, columns: list[str], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=columns)
        self.sql = str(compiled)
        self.positional = bool(compiled.positional)
        self.names: list[str] = list(compiled.positiontup or compiled.binds)
        self.processors = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        self.dbapi: Any = dialect.dbapi

    def _execute(self, connection: Connection, row: dict[str, Any]) -> Any:
        values = {}
        for name in self.names:
            value, process = row[name], self.processors[name]
            values[name] = process(value) if process is not None else value
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        params = [values[n] for n in self.names] if self.positional else values
        try:
            cursor.execute(self.sql, params)
        except self.dbapi.IntegrityError as error:
            cursor.close()
            # Another writer took this version of the aggregate first.
            raise IntegrityError(str(error)) from None
        except self.dbapi.Error as error:
            cursor.close()
            raise PersistenceError(str(error)) from None
        return cursor

    def run(self, connection: Connection, row: dict[str, Any]) -> None:
        self._execute(connection, row).close()

    def returning_one(self, connection: Connection, row: dict[str, Any]) -> Any:
        cursor = self._execute(connection, row)
        try:
            return cursor.fetchone()[0]
        finally:
            cursor.close()


@dataclass(frozen=True)
class _Statements:
    event: DriverInsert
    chain: DriverInsert
    snapshot: DriverInsert


_by_dialect: dict[str, _Statements] = {}


def _statements(connection: Connection) -> _Statements:
    dialect = connection.dialect
    if dialect.name not in _by_dialect:
        _by_dialect[dialect.name] = _Statements(
            DriverInsert(insert(events).returning(events.c.id), list(_EVENT_COLUMNS), dialect),
            DriverInsert(insert(event_chain), ["position", "hash"], dialect),
            DriverInsert(insert(snapshots), list(_EVENT_COLUMNS), dialect),
        )
    return _by_dialect[dialect.name]


def lock_events_table(connection: Connection) -> None:
    """PostgreSQL: one writer of events at a time, so log order is commit order (and the
    chain entry read next is the newest); and a NOTIFY that wakes the followers LISTENing
    in other processes when the transaction commits (none if it rolls back). One round
    trip for both."""
    connection.exec_driver_sql(
        f"LOCK TABLE {EVENTS_TABLE} IN EXCLUSIVE MODE; NOTIFY {EVENTS_CHANNEL}"
    )


class EventStoreFactory(SQLAlchemyFactory):
    """eventsourcing-sqlalchemy's factory on an engine made elsewhere (the composition
    root's), with our recorder."""

    application_recorder_class = EventRecorder

    def __init__(self, env: Environment, database: Database) -> None:
        InfrastructureFactory.__init__(self, env)  # the engine is given: skip making one
        self._schema_name = None
        self.datastore = SQLAlchemyDatastore(session_maker=sessionmaker(bind=database.engine))


class AggregateCache:
    """Aggregates as this process committed them, for writes. An entry is never changed:
    a write runs its command on a copy, which is staged, and replaces the entry when its
    transaction commits (or is dropped when it does not)."""

    def __init__(self, maxsize: int = WRITE_CACHE_SIZE) -> None:
        self.maxsize = maxsize
        self._committed: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._staged: dict[UUID, Aggregate] = {}
        self._lock = threading.Lock()

    def checkout(self, aggregate_id: UUID) -> Aggregate | None:
        """A private copy of the latest state known here, or None."""
        with self._lock:
            found = self._staged.get(aggregate_id) or self._committed.get(aggregate_id)
        return None if found is None else deepcopy(found)

    def stage(self, aggregate: Aggregate) -> None:
        with self._lock:
            self._staged[aggregate.id] = aggregate

    def evict(self, aggregate_id: UUID | None) -> None:
        """Forget a stale entry (another process wrote the aggregate)."""
        if aggregate_id is None:
            return
        with self._lock:
            self._staged.pop(aggregate_id, None)
            self._committed.pop(aggregate_id, None)

    def commit(self) -> None:
        with self._lock:
            for aggregate_id, aggregate in self._staged.items():
                self._committed[aggregate_id] = aggregate
                self._committed.move_to_end(aggregate_id)
            self._staged.clear()
            while len(self._committed) > self.maxsize:
                self._committed.popitem(last=False)

    def abort(self) -> None:
        with self._lock:
            self._staged.clear()


class StoredTracker(Tracker):
    """The Tracker on the SQL event store. Tables are Alembic's, so creation is off."""

    name = Tracker.name  # table names derive from it

    def __init__(self, database: Database) -> None:
        self.database = database
        self.write_cache = AggregateCache()
        super().__init__(
            env={"TRACKER_CREATE_TABLE": "no", "TRACKER_IS_SNAPSHOTTING_ENABLED": "yes"}
        )

    def construct_factory(self, env: Environment) -> InfrastructureFactory[Any]:
        return EventStoreFactory(env, self.database)

    @property
    def event_recorder(self) -> EventRecorder:
        assert isinstance(self.recorder, EventRecorder)
        return self.recorder

    def _load_for_write(self, aggregate_id: UUID) -> Aggregate | None:
        cached = self.write_cache.checkout(aggregate_id)
        return cached if cached is not None else super()._load_for_write(aggregate_id)
