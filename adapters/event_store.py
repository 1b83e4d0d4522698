"""The Tracker on the SQL event store (eventsourcing-sqlalchemy), on the process's engine.

The recorder writes each event with a Core INSERT ... RETURNING (leaner than the
library's ORM flush) and, in the same transaction, the event's chain entry
(adapters/ledger.py). Writes load aggregates from a cache of what this process
committed; a stale entry cannot do harm, because saving it collides with the version
another process wrote, and the unit of work then retries on a fresh load.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from copy import deepcopy
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    EventStore,
    InfrastructureFactory,
    IntegrityError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.utils import Environment
from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore
from eventsourcing_sqlalchemy.datastore import transactions as library_transactions
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import (
    Connection,
    Executable,
    Insert,
    Select,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from adapters import ledger
from adapters.database import Database, DriverStatement
from adapters.seals import Sealer
from adapters.snapshots import CheckedSnapshotStore, digest_row
from adapters.tables import (
    EVENTS_SEQUENCE,
    EVENTS_TABLE,
    event_chain,
    events,
    idempotency_records,
    log_high_water,
    merkle_nodes,
    snapshot_digests,
    snapshots,
)
from adapters.timeline import SqlTimeline
from domain.errors import NotFound
from domain.tracker import Tracker, fold

log = logging.getLogger(__name__)

# The channel followers LISTEN on (the library's own name for it).
EVENTS_CHANNEL = EVENTS_TABLE
# The log's head and its high-water mark (adapters/log_guard.py): positions continue after
# the higher, so a shortened log never hands out a position again.
_HEAD_AND_MARK = (
    f"SELECT (SELECT coalesce(max(id), 0) FROM {EVENTS_TABLE}), "
    "(SELECT position FROM log_high_water WHERE id = 1)"
)
_SET_SEQUENCE = f"SELECT setval('{EVENTS_SEQUENCE}', %s)"

WRITE_CACHE_SIZE = 2_000

# An aggregate's events of some versions, read with Core (the library reads them through
# the ORM, which cost more per event than decoding it).
_AGGREGATE_EVENTS = select(*ledger.STORED_EVENT).where(events.c.originator_id == bindparam("id"))
_EVENTS_BETWEEN = _AGGREGATE_EVENTS.where(
    events.c.originator_version > bindparam("after"),
    events.c.originator_version <= bindparam("up_to"),
).order_by(events.c.originator_version)
_EVENTS_AT = _AGGREGATE_EVENTS.where(
    events.c.originator_version.in_(bindparam("versions", expanding=True))
).order_by(events.c.originator_version)
_NO_LIMIT = 2**31 - 1


class EventWrite:
    """The unit of work's transaction. The events of its writes, their chain entries and
    Merkle nodes, and the rows stored beside them (snapshots, Idempotency-Key records,
    tokens) are gathered with their positions and written together by `EventRecorder.flush`:
    one round trip to PostgreSQL for a whole batch of writes, and a write that fails
    half-way is undone by dropping what it gathered (`mark`, `restore`), with no savepoint.

    The positions are given here, under the lock that keeps every other writer out
    (PostgreSQL: LOCK TABLE on the events; SQLite: BEGIN IMMEDIATE), so they are the ones
    the database would have given, in commit order."""

    def __init__(
        self,
        connection: Connection,
        next_position: int,
        tip: ledger.Tip,
        shrunk: tuple[int, int] | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        self.connection = connection
        self.sealer = sealer  # seals the snapshots (None: no signing key, no seal)
        self.next_position = next_position
        # (high-water mark, head) when the log was found shorter than positions written.
        self.shrunk = shrunk
        self.tip = tip
        self.events: list[dict[str, Any]] = []
        self.chain: list[dict[str, Any]] = []
        self.nodes: list[dict[str, Any]] = []
        self.snapshots: list[dict[str, Any]] = []
        self.digests: list[dict[str, Any]] = []
        self.records: list[dict[str, Any]] = []
        # Other rows stored beside the events (a token's row), each with an optional tag
        # that lets later writes of the batch see it; and what to do once committed.
        self.statements: list[tuple[Executable, Hashable | None]] = []
        self.on_commit: list[Callable[[], None]] = []

    def add_events(self, stored_events: Sequence[StoredEvent]) -> list[int]:
        positions = list(range(self.next_position, self.next_position + len(stored_events)))
        self.next_position += len(stored_events)
        pairs = list(zip(positions, stored_events, strict=True))
        self.events.extend(_row(event) | {"id": position} for position, event in pairs)
        self.tip, entries, nodes = ledger.extend(self.tip, pairs)
        self.chain.extend({"position": e.position, "hash": e.hash, "leaf": e.leaf} for e in entries)
        self.nodes.extend(nodes)
        return positions

    def add_snapshot(self, stored: StoredEvent) -> None:
        """A snapshot of an aggregate at the version of an event of this write, with its
        digest record and seal (adapters/snapshots.py). Nothing is written if another process stored
        this version's snapshot already."""
        row = _row(stored)
        key = (stored.originator_id, stored.originator_version)
        position = next(
            e["id"]
            for e in reversed(self.events)
            if (e["originator_id"], e["originator_version"]) == key
        )
        chain_hash = next(c["hash"] for c in reversed(self.chain) if c["position"] == position)
        self.snapshots.append(row)
        self.digests.append(digest_row(row, position, chain_hash, self.sealer))

    def add_record(self, row: dict[str, Any]) -> None:
        self.records.append(row)

    def add_statement(self, statement: Executable, *, tag: Hashable | None = None) -> None:
        """A statement (with its values bound) to run in the transaction, after the events."""
        self.statements.append((statement, tag))

    def tagged(self, tag: Hashable) -> bool:
        """Has a write of this batch added a statement with this tag?"""
        return any(found == tag for _, found in self.statements)

    def mark(self) -> tuple[Any, ...]:
        lists = (
            self.events,
            self.chain,
            self.nodes,
            self.snapshots,
            self.digests,
            self.records,
            self.statements,
            self.on_commit,
        )
        return (self.next_position, self.tip, *(len(rows) for rows in lists))

    def restore(self, mark: tuple[Any, ...]) -> None:
        """Drop what was gathered since `mark` (a write that failed)."""
        (
            self.next_position,
            self.tip,
            events,
            chain,
            nodes,
            snapshots,
            digests,
            records,
            statements,
            on_commit,
        ) = mark
        del self.events[events:]
        del self.chain[chain:]
        del self.nodes[nodes:]
        del self.snapshots[snapshots:]
        del self.digests[digests:]
        del self.records[records:]
        del self.statements[statements:]
        del self.on_commit[on_commit:]


# The unit of work's transaction, while it runs a write (see EventRecorder.insert_events).
_current: ContextVar[EventWrite | None] = ContextVar("commitments_event_write", default=None)


class EventRecorder(SQLAlchemyApplicationRecorder):
    """The library's application recorder, with the hash chain.

    In the unit of work, events are gathered in its EventWrite and written together at
    its end (`begin`, `flush`). Elsewhere (tests, scripts saving directly) the library's
    own session transaction is used, and each save is written at once.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The log's tip as this process last committed it (None: read it from the tables).
        self.tip: ledger.Tip | None = None
        # Seals the snapshots written (StoredTracker sets it; None: no signing key).
        self.sealer: Sealer | None = None
        # Where select_events reads (StoredTracker sets it; None: the library's session).
        self.database: Database | None = None

    def select_events(
        self,
        originator_id: UUID | str,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """An aggregate's events, as the library selects them, on a pooled connection with
        a statement built once: every read of a commitment asks for the events after its
        cached or snapshotted version, and the library's ORM session and query cost
        several times the query. Inside a library transaction (scripts saving directly),
        the library's own path, so the read sees that transaction."""
        if self.database is None or library_transactions.get(None) is not None:
            return super().select_events(originator_id, gt, lte, desc, limit)
        statement = _select_events(
            self.database.engine.dialect, gt is not None, lte is not None, desc, limit
        )
        # One statement on the driver, in autocommit: its own snapshot.
        rows = self.database.one_statement(statement, {"id": originator_id, "gt": gt, "lte": lte})
        # Every row is the asked aggregate's: its id need not be read back and converted.
        aggregate = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
        return [
            StoredEvent(
                originator_id=aggregate,
                originator_version=version,
                topic=topic,
                state=bytes(state),
            )
            for version, topic, state in rows
        ]

    def begin(self, connection: Connection) -> EventWrite:
        """Lock other writers out, and learn where the log ends: the next position, the
        chain entry and the Merkle frontier before it."""
        next_position, shrunk = _lock_and_find_next_position(connection)
        tip = self.tip
        if tip is None or not tip.follows(next_position):
            tip = ledger.read_tip(connection)
        if shrunk is not None:
            log.error(
                "the event log shrank: its head is at %d but position %d was written; "
                "new events continue after %d",
                shrunk[1],
                shrunk[0],
                shrunk[0],
            )
        return EventWrite(connection, next_position, tip, shrunk, self.sealer)

    @contextmanager
    def writing(self, write: EventWrite) -> Iterator[None]:
        """Events saved inside the block are gathered in `write`."""
        token = _current.set(write)
        try:
            yield
        finally:
            _current.reset(token)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        write = _current.get()
        if write is None:
            return super().insert_events(stored_events, **kwargs)  # type: ignore[return-value]
        return write.add_events(stored_events)

    def flush(self, write: EventWrite) -> None:
        """Write everything gathered, in the transaction (PostgreSQL: in one round trip).
        A position or version another writer took raises IntegrityError."""
        connection = write.connection
        statements = _statements(connection)
        driver: Any = connection.connection.driver_connection
        postgres = connection.dialect.name == "postgresql"
        try:
            with driver.pipeline() if postgres else nullcontext():
                statements.event.run_many(connection, write.events)
                statements.chain.run_many(connection, write.chain)
                statements.node.run_many(connection, write.nodes)
                statements.snapshot.run_many(connection, write.snapshots)
                statements.digest.run_many(connection, write.digests)
                statements.record.run_many(connection, write.records)
                if write.events:
                    statements.mark.run(connection, {"position": write.next_position - 1})
                if write.shrunk is not None:
                    mark, head = write.shrunk
                    statements.shrunk.run(connection, {"mark": mark, "head": head})
                if postgres and write.events:
                    cursor = driver.cursor()
                    cursor.execute(_SET_SEQUENCE, (write.next_position - 1,))
                    cursor.close()
            # Rare (token writes): a round trip of their own is fine.
            for statement, _ in write.statements:
                connection.execute(statement)
        except DBAPIError as error:  # from a statement run through SQLAlchemy
            cause = error.orig if isinstance(error.orig, Exception) else error
            raise _persistence_error(cause, statements.event.dbapi) from None
        except Exception as error:
            raise _persistence_error(error, statements.event.dbapi) from None

    def _insert_stored_events(
        self, session: Session, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int]:
        write = self.begin(session.connection())
        positions = write.add_events(stored_events)
        self.flush(write)
        return positions


def _lock_and_find_next_position(connection: Connection) -> tuple[int, tuple[int, int] | None]:
    """PostgreSQL: one writer of events at a time (so log order is commit order), a
    NOTIFY that wakes the followers LISTENing elsewhere when the transaction commits, and
    the sequence's state, in one round trip. SQLite: the transaction holds the write
    lock already (BEGIN IMMEDIATE).

    Returns the next position, after both the head and the high-water mark, and (mark,
    head) when the head is below the mark: the log's newest events were deleted."""
    cursor: Any = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    if connection.dialect.name != "postgresql":
        head, mark = cursor.execute(_HEAD_AND_MARK).fetchone()
        cursor.close()
        return _after(int(head), int(head), mark)
    cursor.execute(
        f"LOCK TABLE {EVENTS_TABLE} IN EXCLUSIVE MODE; NOTIFY {EVENTS_CHANNEL}; "
        f"SELECT last_value, is_called FROM {EVENTS_SEQUENCE}; {_HEAD_AND_MARK}"
    )
    while cursor.description is None:
        cursor.nextset()
    last_value, is_called = cursor.fetchone()
    cursor.nextset()
    head, mark = cursor.fetchone()
    cursor.close()
    sequence = int(last_value) if is_called else int(last_value) - 1
    return _after(max(sequence, int(head)), int(head), mark)


def _after(last: int, head: int, mark: int | None) -> tuple[int, tuple[int, int] | None]:
    if mark is None:  # no row (a database made without the migrations' row)
        return last + 1, None
    shrunk = (int(mark), head) if head < mark else None
    return max(last, int(mark)) + 1, shrunk


def _persistence_error(error: Exception, dbapi: Any) -> Exception:
    if isinstance(error, dbapi.IntegrityError):
        return IntegrityError(str(error))  # a version or position another writer took
    if isinstance(error, dbapi.Error):
        return PersistenceError(str(error))
    return error


_EVENT_COLUMNS = ("originator_id", "originator_version", "topic", "state")


def _row(event: StoredEvent) -> dict[str, Any]:
    return {
        "originator_id": event.originator_id,
        "originator_version": event.originator_version,
        "topic": event.topic,
        "state": event.state,
    }


@dataclass(frozen=True)
class _Statements:
    event: DriverStatement
    chain: DriverStatement
    node: DriverStatement
    snapshot: DriverStatement
    digest: DriverStatement
    record: DriverStatement
    mark: DriverStatement
    shrunk: DriverStatement


_by_dialect: dict[str, _Statements] = {}

# (The table has one row: no WHERE, no literal to bind in a DriverStatement.)
_RAISE_MARK = update(log_high_water).values(
    position=bindparam("position", type_=log_high_water.c.position.type)
)
# The first shrink found stays recorded: later writes must not hide it.
_RECORD_SHRINK = (
    update(log_high_water)
    .where(log_high_water.c.shrunk_from.is_(None))
    .values(
        shrunk_from=bindparam("mark", type_=log_high_water.c.shrunk_from.type),
        shrunk_to=bindparam("head", type_=log_high_water.c.shrunk_to.type),
    )
)


def _insert_or_nothing(table: Table, dialect: Dialect) -> Insert:
    insert_of = pg_insert if dialect.name == "postgresql" else sqlite_insert
    return insert_of(table).on_conflict_do_nothing()


def _statements(connection: Connection) -> _Statements:
    dialect = connection.dialect
    if dialect.name not in _by_dialect:
        _by_dialect[dialect.name] = _Statements(
            DriverStatement(insert(events), dialect, ["id", *_EVENT_COLUMNS]),
            DriverStatement(insert(event_chain), dialect, ["position", "hash", "leaf"]),
            DriverStatement(insert(merkle_nodes), dialect, ["last_leaf", "level", "hash"]),
            DriverStatement(_insert_or_nothing(snapshots, dialect), dialect, list(_EVENT_COLUMNS)),
            DriverStatement(
                _insert_or_nothing(snapshot_digests, dialect),
                dialect,
                [c.name for c in snapshot_digests.c],
            ),
            DriverStatement(
                insert(idempotency_records), dialect, [c.name for c in idempotency_records.c]
            ),
            DriverStatement(_RAISE_MARK, dialect),
            DriverStatement(_RECORD_SHRINK, dialect),
        )
    return _by_dialect[dialect.name]


def _select_events(
    dialect: Dialect, gt: bool, lte: bool, desc: bool, limit: int | None
) -> DriverStatement:
    """The library's selection of an aggregate's events (select_events), compiled once
    per shape and dialect."""
    key = (dialect.name, gt, lte, desc, limit)
    found = _selections.get(key)
    if found is None:
        found = _selections[key] = DriverStatement(_selection(gt, lte, desc, limit), dialect)
    return found


_selections: dict[tuple[str, bool, bool, bool, int | None], DriverStatement] = {}


def _selection(gt: bool, lte: bool, desc: bool, limit: int | None) -> Select[Any]:
    version = events.c.originator_version
    query = select(version, events.c.topic, events.c.state).where(
        events.c.originator_id == bindparam("id")
    )
    if gt:
        query = query.where(version > bindparam("gt"))
    if lte:
        query = query.where(version <= bindparam("lte"))
    query = query.order_by(version.desc() if desc else version)
    return query if limit is None else query.limit(limit)


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

    def committed_version(self, aggregate_id: UUID | None) -> int | None:
        """The version of the committed entry, if any (staged ones are this batch's)."""
        with self._lock:
            found = self._committed.get(aggregate_id) if aggregate_id is not None else None
        return None if found is None else int(found.version)

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

    def __init__(self, database: Database, sealer: Sealer | None = None) -> None:
        self.database = database
        # Seals snapshots when they are written, and checks them when they are loaded.
        self.sealer = sealer
        self.write_cache = AggregateCache()
        super().__init__(
            env={"TRACKER_CREATE_TABLE": "no", "TRACKER_IS_SNAPSHOTTING_ENABLED": "yes"}
        )
        self.event_recorder.sealer = sealer
        self.timeline = SqlTimeline(database)
        self.event_recorder.database = database

    def construct_factory(self, env: Environment) -> InfrastructureFactory[Any]:
        return EventStoreFactory(env, self.database)

    def construct_snapshot_store(self) -> EventStore[UUID]:
        """Snapshots are read only when they match the log (adapters/snapshots.py)."""
        recorder = self.factory.aggregate_recorder(purpose="snapshots")
        return CheckedSnapshotStore(self.mapper, recorder, self.database, self.sealer)

    @property
    def event_recorder(self) -> EventRecorder:
        assert isinstance(self.recorder, EventRecorder)
        return self.recorder

    def _load_for_write(self, aggregate_id: UUID) -> Aggregate | None:
        cached = self.write_cache.checkout(aggregate_id)
        return cached if cached is not None else super()._load_for_write(aggregate_id)

    # ---- reading the past (Tracker.state) ----------------------------------------------

    def _at_version(self, aggregate_id: UUID, version: int, ref: str) -> Aggregate:
        assert isinstance(self.snapshots, CheckedSnapshotStore)
        stored = self.snapshots.up_to(aggregate_id, version)
        if stored is None:  # a snapshot that does not match the log: every event
            history = self._events_between(aggregate_id, 0, version)
        else:
            history = [self.mapper.to_domain_event(s) for s in stored]  # type: ignore[misc]
        found: Aggregate | None = fold(None, history)
        if found is None:
            raise NotFound(f"no commitment {ref}")
        return found

    def _events_between(
        self, aggregate_id: UUID, after: int, up_to: int | None = None
    ) -> list[Aggregate.Event]:
        values = {
            "id": aggregate_id,
            "after": after,
            "up_to": _NO_LIMIT if up_to is None else up_to,
        }
        return self._decoded(_EVENTS_BETWEEN, values)

    def _events_at(self, aggregate_id: UUID, versions: Sequence[int]) -> list[Aggregate.Event]:
        if not versions:
            return []
        return self._decoded(_EVENTS_AT, {"id": aggregate_id, "versions": list(versions)})

    def _decoded(self, statement: Executable, values: dict[str, Any]) -> list[Aggregate.Event]:
        with self.database.one_query() as connection:
            rows = connection.execute(statement, values).all()
        return [
            self.mapper.to_domain_event(  # type: ignore[misc]
                StoredEvent(
                    originator_id=row.originator_id,
                    originator_version=row.originator_version,
                    topic=row.topic,
                    state=bytes(row.state),
                )
            )
            for row in rows
        ]
