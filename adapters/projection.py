"""The read-model projection: events in log order -> rows, each event applied exactly once.

A batch of events is folded onto in-memory Commitment aggregates (the domain's own
`apply` code, so the read models cannot disagree with the event store), and the rows of
every commitment it touched are rewritten in ONE transaction together with the new
tracked position. The position is advanced by compare-and-set, so two workers racing on
the same batch cannot both commit it; a lease (adapters/leases.py, held by the
ProjectionFollower) also keeps all but one worker idle, and fences the batches of the
one that leads: a batch whose transaction finds the lease taken over writes nothing.

The same code, given the shadow tables, replays the log for a rebuild
(adapters/rebuild.py) while the live read models go on following it.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import Notification
from sqlalchemy import (
    Connection,
    String,
    Table,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect

from adapters.database import Database, DriverStatement
from adapters.leases import Lease, LeaseLost
from adapters.ledger import STORED_EVENT
from adapters.log_guard import shrinkage
from adapters.tables import (
    READ_MODEL_TABLES,
    commitment_summaries,
    commitment_timeline,
    events,
    indicator_rows,
    milestone_rows,
    projection_positions,
    report_schedules,
)
from adapters.timeline import mark_at, timeline_row
from domain import clock
from domain.commitment import Commitment
from domain.schedule import ReportSchedule
from domain.time_travel import Mark, next_mark
from domain.tokens import ApiToken
from domain.tracker import Tracker
from domain.views import schedule_resource, stored_summary

log = logging.getLogger(__name__)

PROJECTION_NAME = "read_models"
DEFAULT_BATCH_SIZE = 5_000
# Commitments kept folded in memory between batches (each is small).
AGGREGATE_CACHE_SIZE = 20_000
# From batches spanning this many positions on (a rebuild, a catch-up), PostgreSQL gets
# the rows by COPY instead of in one pipeline.
COPY_FROM_EVENTS = 500
# How often a batch being folded looks whether its lease is due for renewal.
RENEW_EVERY_EVENTS = 200


class ProjectionConflict(Exception):
    """Another worker (or a rebuild) moved the tracked position first; nothing was written."""


@dataclass
class _Rows:
    """What one batch writes. The rows of each event (a rebuild writes one to three for
    every event of the log) are tuples in their table's column order, written by
    DriverStatement.run_tuples; the rows of each commitment touched, dicts."""

    summaries: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    milestones: dict[UUID, list[dict[str, Any]]] = field(default_factory=dict)
    indicators: dict[UUID, list[dict[str, Any]]] = field(default_factory=dict)
    progress: list[tuple[Any, ...]] = field(default_factory=list)
    measurements: list[tuple[Any, ...]] = field(default_factory=list)
    assessments: list[tuple[Any, ...]] = field(default_factory=list)
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeline: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(frozen=True)
class Folded:
    """A batch folded, not written yet: the events after `start` up to `end`."""

    start: int
    end: int
    count: int
    rows: _Rows


class ReadModelProjection:
    """Keeps the read-model tables of adapters/tables.py up to date with the event log.

    `tables`: where the rows go, in the order of READ_MODEL_TABLES (the live ones, or
    SHADOW_TABLES for a rebuild)."""

    def __init__(
        self,
        database: Database,
        tracker: Tracker,
        *,
        name: str = PROJECTION_NAME,
        batch_size: int = DEFAULT_BATCH_SIZE,
        tables: Sequence[Table] = READ_MODEL_TABLES,
    ) -> None:
        self.database = database
        self.tracker = tracker
        self.name = name
        self.batch_size = batch_size
        self.tables = tuple(tables)
        # Keyed by the id's int: hashing a UUID runs Python code, and a rebuild looks
        # up every event's aggregate here.
        self._aggregates: OrderedDict[int, Commitment | ReportSchedule] = OrderedDict()
        # The timeline mark of each folded commitment's last event (the next one's
        # follows), keyed by the id's int as _aggregates is.
        self._marks: OrderedDict[int, Mark] = OrderedDict()
        self._timeline = self.tables[READ_MODEL_TABLES.index(commitment_timeline)]
        self._has_position_row = False
        # Why this worker will not project (adapters/log_guard.py), or None.
        self.refused: str | None = None
        # Where this worker's last batch left the position (None: read it). If another
        # worker moved it since, the compare-and-set of the next batch fails.
        self._position: int | None = None
        # Called before folding reads rows this projection wrote (a mark not in memory),
        # so that a batch written in another thread (adapters/rebuild.py) is there.
        self.before_reading_rows: Callable[[], None] | None = None

    # ---- positions ----------------------------------------------------------------

    def position(self) -> int:
        with self.database.reading() as connection:
            return projection_position(connection, self.name)

    @property
    def last_position(self) -> int | None:
        """Where this worker's last batch left the position (None: not known here)."""
        return self._position

    def head(self) -> int:
        """Position of the last event in the log."""
        with self.database.reading() as connection:
            return log_head(connection)

    def lag(self) -> int:
        return max(0, self.head() - self.position())

    # ---- work -----------------------------------------------------------------------

    def catch_up(self, *, max_batches: int | None = None) -> int:
        """Apply every event recorded so far; returns how many were applied."""
        applied = 0
        batches = 0
        while max_batches is None or batches < max_batches:
            try:
                count = self.run_batch()
            except ProjectionConflict:
                continue  # the position moved under us: start again from where it is now
            if count == 0:
                break
            applied += count
            batches += 1
        return applied

    def run_batch(self, fence: Lease | None = None) -> int:
        """Apply the next batch of events after the tracked position, atomically.
        Nothing, while the log has shrunk: what the read models hold of deleted events
        would stay, and the events after them would be applied on top.

        `fence`: the lease the caller leads by; the batch's transaction checks it holds
        it still (else LeaseLost, and nothing is written)."""
        batch = self.fold_next(fence)
        if batch is None:
            return 0
        self.write_folded(batch, fence)
        return batch.count

    def fold_next(self, fence: Lease | None = None, after: int | None = None) -> Folded | None:
        """run_batch's first half: read the next batch after the tracked position (or
        `after`: where the batch folded last ends, not written yet) and fold it; None if
        there is none (or the log shrank: see `refused`). Its rows are written by
        `write_folded`, in the order the batches were folded."""
        self._ensure_position_row()
        with self.database.reading() as connection:
            refused = shrinkage(connection)
        if refused != self.refused and refused is not None:
            log.error("projection %s stopped: %s", self.name, refused)
        self.refused = refused
        if refused is not None:
            self._position = None
            return None
        if after is not None:
            start = after
        else:
            start = self._position if self._position is not None else self.position()
        with self.database.one_query() as connection:
            notifications = next_events(connection, start, self.batch_size)
        if not notifications:
            self._position = None  # idle: read it again next time (a rebuild may move it)
            return None
        with self._forgetting_on_failure():
            rows = self._fold(notifications, fence)
        return Folded(start, notifications[-1].id, len(notifications), rows)

    def write_folded(self, batch: Folded, fence: Lease | None = None) -> None:
        """run_batch's second half: write a folded batch's rows and advance the position
        from its start to its end (compare-and-set: ProjectionConflict if it is no longer
        at the start)."""
        # Read models are derived: a batch a crash undoes (position and rows alike) is
        # simply applied again, so its commit need not wait for the disk.
        with self._forgetting_on_failure(), self.database.writing(durable=False) as connection:
            if fence is not None:
                fence.fence(connection)
            self._write(connection, batch.start, batch.end, batch.rows)
        self._position = batch.end

    def forget(self) -> None:
        """Drop what was folded in memory and the position known here (read them again)."""
        self._aggregates.clear()
        self._marks.clear()
        self._position = None

    def apply_within(self, connection: Connection, start: int, head: int) -> int:
        """In the caller's write transaction: apply the events after `start` up to (at
        least) `head`, in batches; returns the position reached. For a rebuild's switch."""
        with self._forgetting_on_failure():
            while start < head:
                notifications = next_events(connection, start, self.batch_size)
                if not notifications:
                    break
                rows = self._fold(notifications, connection=connection)
                self._write(connection, start, notifications[-1].id, rows)
                start = notifications[-1].id
        self._position = None  # committed only with the caller's transaction
        return start

    def reset(self) -> None:
        """Wipe the read models in place and set the position to 0: the next batches
        replay the log. Readers see them empty meanwhile, so this is for a database whose
        read models are empty anyway (`commitments import`) or tests; a live database is
        rebuilt through the shadow tables (adapters/rebuild.py).

        The position row is updated first, so a worker in the middle of a batch fails
        its compare-and-set (or waits for this transaction) instead of writing stale rows.
        """
        self._ensure_position_row()
        with self.database.writing() as connection:
            connection.execute(
                update(projection_positions)
                .where(projection_positions.c.name == self.name)
                .values(position=0, updated_at=datetime.now(UTC))
            )
            for table in self.tables:
                connection.execute(delete(table))
        self._aggregates.clear()
        self._marks.clear()
        self._position = None

    @contextmanager
    def _forgetting_on_failure(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            # The folded aggregates are ahead of what was committed: forget them, and read
            # the position again (another worker or a rebuild may have moved it).
            self.forget()
            raise

    # ---- folding --------------------------------------------------------------------

    def _fold(
        self,
        notifications: Sequence[Notification],
        fence: Lease | None = None,
        connection: Connection | None = None,
    ) -> _Rows:
        """`connection`: the caller's transaction, if it has written rows of earlier
        batches that the timeline of these events follows on."""
        rows = _Rows()
        touched: dict[int, tuple[Commitment, int]] = {}  # by the id's int
        for index, notification in enumerate(notifications):
            # A batch that loads many aggregates (a cold start) may take longer than the
            # lease: keep it while folding, or a standby takes over and the batch is lost.
            if fence is not None and index % RENEW_EVERY_EVENTS == 0 and not fence.renew_if_due():
                raise LeaseLost(f"the lease {fence.name} was lost while folding a batch")
            event: Any = self.tracker.mapper.to_domain_event(notification)
            if isinstance(event, ApiToken.Event):
                continue  # tokens have no read model: api_tokens is written with their events
            aggregate = event.mutate(self._aggregate_before(event))
            assert aggregate is not None
            self._remember(aggregate)
            if isinstance(aggregate, ReportSchedule):
                rows.schedules[aggregate.name] = _schedule_row(aggregate)
                continue
            touched[aggregate.id.int] = (aggregate, notification.id)
            commitment_id = str(event.originator_id)
            _event_rows(rows, notification.id, commitment_id, event)
            self._timeline_rows(rows, notification.id, commitment_id, event, connection)
        for aggregate, position in touched.values():
            rows.summaries[aggregate.id] = _summary_row(aggregate, position)
            rows.milestones[aggregate.id] = _milestone_rows(aggregate)
            rows.indicators[aggregate.id] = _indicator_rows(aggregate)
        return rows

    def _aggregate_before(self, event: Any) -> Any:
        if event.originator_version == 1:
            return None
        cached = self._aggregates.get(event.originator_id.int)
        if cached is not None and cached.version == event.originator_version - 1:
            return cached
        # Not folded here yet (a restart, or evicted): load it as it was before this event.
        return self.tracker.repository.get(
            event.originator_id, version=event.originator_version - 1
        )

    def _timeline_rows(
        self,
        rows: _Rows,
        position: int,
        commitment_id: str,
        event: Commitment.Event,
        connection: Connection | None,
    ) -> None:
        """The event's row of the timeline, which follows on the mark of the event before."""
        previous: Mark | None = None
        key = event.originator_id.int
        if event.originator_version > 1:
            previous = self._marks.get(key)
            if previous is None or previous.version != event.originator_version - 1:
                previous = self._mark_before(rows, commitment_id, event, connection)
        mark = next_mark(previous, event)
        self._marks[key] = mark
        self._marks.move_to_end(key)
        while len(self._marks) > AGGREGATE_CACHE_SIZE:
            self._marks.popitem(last=False)
        rows.timeline.append(timeline_row(commitment_id, position, mark))

    def _mark_before(
        self,
        rows: _Rows,
        commitment_id: str,
        event: Commitment.Event,
        connection: Connection | None,
    ) -> Mark:
        """The stored mark of the version before `event`. There is none when the
        commitment's events were projected before the timeline existed (migration 0018):
        then the marks of all its earlier events join the batch's rows, so the timeline
        keeps every version from 1 on, without gaps."""
        version = event.originator_version - 1
        if connection is None and self.before_reading_rows is not None:
            self.before_reading_rows()
        reading = nullcontext(connection) if connection is not None else self.database.reading()
        with reading as c:
            found = mark_at(c, self._timeline, event.originator_id, version)
            if found is not None:
                return found
            earlier = c.execute(
                select(*STORED_EVENT)
                .where(
                    events.c.originator_id == event.originator_id,
                    events.c.originator_version <= version,
                )
                .order_by(events.c.originator_version)
            ).all()
        mark: Mark | None = None
        for row in earlier:
            stored = Notification(
                id=row.id,
                originator_id=row.originator_id,
                originator_version=row.originator_version,
                topic=row.topic,
                state=bytes(row.state),
            )
            mark = next_mark(mark, self.tracker.mapper.to_domain_event(stored))  # type: ignore[arg-type]
            rows.timeline.append(timeline_row(commitment_id, row.id, mark))
        assert mark is not None and mark.version == version, (event.originator_id, version)
        return mark

    def _remember(self, aggregate: Commitment | ReportSchedule) -> None:
        key = aggregate.id.int
        self._aggregates[key] = aggregate
        self._aggregates.move_to_end(key)
        while len(self._aggregates) > AGGREGATE_CACHE_SIZE:
            self._aggregates.popitem(last=False)

    # ---- writing --------------------------------------------------------------------

    def _ensure_position_row(self) -> None:
        if self._has_position_row:
            return
        with self.database.writing() as connection:
            values = {"name": self.name, "position": 0, "updated_at": datetime.now(UTC)}
            if connection.dialect.name == "postgresql":
                statement: Any = pg_insert(projection_positions).values(values)
            else:
                statement = sqlite_insert(projection_positions).values(values)
            connection.execute(statement.on_conflict_do_nothing(index_elements=["name"]))
        self._has_position_row = True

    def _write(self, connection: Connection, start: int, end: int, rows: _Rows) -> None:
        """Advance the position from `start` to `end` (compare-and-set), then write the
        rows: on PostgreSQL in one pipeline, one round trip for the lot, unless the batch
        spans many positions (a rebuild, a catch-up): then each table's rows go by COPY
        (adapters/database.py), which a pipeline cannot hold."""
        statements = _statements(connection.dialect, self.tables)
        position = {"projection": self.name, "expected": start, "new": end, "now": clock.now()}
        if statements.advance.run(connection, position) != 1:
            raise ProjectionConflict(f"{self.name} is no longer at position {start}")
        deleting, inserting = statements.delete, statements.insert
        ids = [str(i) for i in rows.summaries]
        driver: Any = connection.connection.driver_connection
        pipelined = self.database.is_postgres and end - start < COPY_FROM_EVENTS
        with driver.pipeline() if pipelined else nullcontext():
            deleting["report_schedules"].run(connection, list(rows.schedules))
            inserting["report_schedules"].run_many(connection, list(rows.schedules.values()))
            for table in (commitment_summaries, milestone_rows, indicator_rows):
                deleting[table.name].run(connection, ids)
            inserting["commitment_summaries"].run_many(connection, list(rows.summaries.values()))
            for name, nested in (("milestones", rows.milestones), ("indicators", rows.indicators)):
                inserting[name].run_many(connection, [r for rs in nested.values() for r in rs])
            inserting["progress_points"].run_tuples(connection, rows.progress)
            inserting["indicator_measurements"].run_tuples(connection, rows.measurements)
            inserting["assessments"].run_tuples(connection, rows.assessments)
            inserting["commitment_timeline"].run_tuples(connection, rows.timeline)


def projection_position(connection: Connection, name: str = PROJECTION_NAME) -> int:
    value = connection.execute(_POSITION, {"projection": name}).scalar_one_or_none()
    return int(value or 0)


# What the read models hold: the projection's position, and when its row was last
# written. A rebuild's switch replaces every row at a position the live projection may
# have had already, and writes the row again: the pair changes, so answers kept by it
# (api/projection_reads.py) are not served after a switch, by this process or another.
ReadModelsMark = tuple[int, str]


def read_models_mark(connection: Connection, name: str = PROJECTION_NAME) -> ReadModelsMark:
    row = connection.execute(_MARK, {"projection": name}).first()
    return (int(row[0]), str(row[1])) if row is not None else (0, "")


def current_mark(database: Database, name: str = PROJECTION_NAME) -> ReadModelsMark:
    """The read models' mark now, in one statement on the driver in autocommit (its own
    snapshot): every kept list page is found after this read, and SQLAlchemy's execution
    with a BEGIN and ROLLBACK cost several times the query."""
    rows = database.one_statement(_mark_statement(database.engine.dialect), {"projection": name})
    return (int(rows[0][0]), str(rows[0][1])) if rows else (0, "")


_mark_by_dialect: dict[str, DriverStatement] = {}


def _mark_statement(dialect: Dialect) -> DriverStatement:
    found = _mark_by_dialect.get(dialect.name)
    if found is None:
        found = _mark_by_dialect[dialect.name] = DriverStatement(_MARK, dialect)
    return found


def next_events(connection: Connection, after: int, limit: int) -> list[Notification]:
    """The first `limit` events after position `after`, in log order. Read on the
    driver's cursor: a rebuild reads the whole log through here."""
    statement, to_uuid = _next_statement(connection.dialect)
    return [
        Notification(
            id=position,
            originator_id=_originator_id(originator, to_uuid),
            originator_version=version,
            topic=topic,
            state=bytes(state),
        )
        for position, originator, version, topic, state in statement.rows(
            connection, {"after": after, "limit": limit}
        )
    ]


def _originator_id(value: Any, to_uuid: Callable[[Any], Any]) -> UUID:
    """sqlite3 gives the id's 16 bytes, psycopg a UUID; anything else goes through the
    column's result processor, as in a Core query."""
    if type(value) is UUID:
        return value
    if type(value) is bytes and len(value) == 16:
        return UUID(bytes=value)
    return cast(UUID, to_uuid(value))


def log_head(connection: Connection) -> int:
    """Position of the last event in the log (0 when empty)."""
    return int(connection.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one())


# Statements built once (with expanding IN lists): each batch runs them, and building and
# compiling a new statement costs more than a small batch's writing.
_NEXT = (
    select(*STORED_EVENT)
    .where(events.c.id > bindparam("after"))
    .order_by(events.c.id)
    .limit(bindparam("limit"))
)
_next_by_dialect: dict[str, tuple[DriverStatement, Callable[[Any], Any]]] = {}


def _next_statement(dialect: Dialect) -> tuple[DriverStatement, Callable[[Any], Any]]:
    """_NEXT compiled for the dialect, and the originator_id column's result processor."""
    if dialect.name not in _next_by_dialect:
        column = events.c.originator_id.type.dialect_impl(dialect)
        process = column.result_processor(dialect, None) or (lambda value: value)
        _next_by_dialect[dialect.name] = (DriverStatement(_NEXT, dialect), process)
    return _next_by_dialect[dialect.name]


_POSITION = select(projection_positions.c.position).where(
    projection_positions.c.name == bindparam("projection")
)
# The time as text (stored text on SQLite), so both ways of reading it give the same key.
_MARK = select(
    projection_positions.c.position, sql_cast(projection_positions.c.updated_at, String)
).where(projection_positions.c.name == bindparam("projection"))
_ADVANCE = (
    update(projection_positions)
    .where(
        projection_positions.c.name == bindparam("projection"),
        projection_positions.c.position == bindparam("expected"),
    )
    .values(
        position=bindparam("new", type_=projection_positions.c.position.type),
        updated_at=bindparam("now", type_=projection_positions.c.updated_at.type),
    )
)


class _DeleteByKey:
    """Delete the rows of some keys: on PostgreSQL one statement (`= ANY (array)`), on
    SQLite one per key (in the process: cheap)."""

    def __init__(self, table: Table, dialect: Dialect) -> None:
        key = table.c.commitment_id if "commitment_id" in table.c else table.c.name
        self.postgres = dialect.name == "postgresql"
        if self.postgres:
            matches = key == any_(bindparam("keys", type_=ARRAY(key.type)))
        else:
            matches = key == bindparam("key", type_=key.type)
        self.statement = DriverStatement(delete(table).where(matches), dialect)

    def run(self, connection: Connection, keys: list[str]) -> None:
        if not keys:
            return
        if self.postgres:
            self.statement.run(connection, {"keys": keys})
        else:
            self.statement.run_many(connection, [{"key": key} for key in keys])


@dataclass(frozen=True)
class _Statements:
    """What a batch runs, compiled once per dialect (adapters/database.py:DriverStatement)."""

    advance: DriverStatement
    delete: dict[str, _DeleteByKey]  # by the live table's name
    insert: dict[str, DriverStatement]  # by the live table's name


_by_dialect: dict[tuple[str, tuple[str, ...]], _Statements] = {}
_KEYED = (report_schedules, commitment_summaries, milestone_rows, indicator_rows)


def _statements(dialect: Dialect, tables: tuple[Table, ...]) -> _Statements:
    """The statements writing to `tables` (in the order of READ_MODEL_TABLES), keyed by
    the live tables' names."""
    key = (dialect.name, tuple(table.name for table in tables))
    if key not in _by_dialect:
        actual = dict(zip((live.name for live in READ_MODEL_TABLES), tables, strict=True))
        _by_dialect[key] = _Statements(
            DriverStatement(_ADVANCE, dialect),
            {live.name: _DeleteByKey(actual[live.name], dialect) for live in _KEYED},
            {
                name: DriverStatement(insert(table), dialect, [c.name for c in table.c])
                for name, table in actual.items()
            },
        )
    return _by_dialect[key]


def _event_rows(rows: _Rows, position: int, commitment_id: str, event: Commitment.Event) -> None:
    """The event's row of progress_points, indicator_measurements or assessments (in
    their columns' order, adapters/tables.py), if it has one."""
    if isinstance(event, Commitment.ProgressLogged):
        rows.progress.append(
            (
                position,
                commitment_id,
                event.originator_version,
                event.percent,
                event.as_of,
                event.confidence,
                clock.as_utc(event.timestamp),
                event.actor,
                len(event.evidence),
            )
        )
    elif isinstance(event, Commitment.IndicatorMeasured):
        rows.measurements.append(
            (
                position,
                commitment_id,
                event.indicator_id,
                str(event.value),
                event.as_of,
                clock.as_utc(event.timestamp),
                event.actor,
            )
        )
    elif isinstance(event, Commitment.StatusChanged):
        rows.assessments.append(
            (
                position,
                commitment_id,
                "status",
                event.status.value,
                event.reason,
                event.as_of,
                clock.as_utc(event.timestamp),
                event.actor,
            )
        )
    elif isinstance(event, Commitment.HealthRated):
        rows.assessments.append(
            (
                position,
                commitment_id,
                "health",
                event.rating.value,
                event.rationale,
                event.as_of,
                clock.as_utc(event.timestamp),
                event.actor,
            )
        )


def _joined(values: Iterable[str]) -> str:
    """'|a|b|': a LIKE '%|a|%' finds one value on SQLite and PostgreSQL alike."""
    return "|" + "|".join(values) + "|"


def _summary_row(c: Commitment, position: int) -> dict[str, Any]:
    """The list's filter columns and its item (domain/views.py) as a document."""
    return {
        "commitment_id": str(c.id),
        "code": c.code,
        "title": c.title,
        "description": c.description,
        "pillar": c.pillar.value,
        "sectors": _joined(c.sectors),
        "parties": _joined(c.parties),
        "status": c.status.value,
        "health": c.health.value if c.health else None,
        "overdue_since": c.overdue_since(),
        "version": c.version,
        "last_position": position,
        "document": json.dumps(stored_summary(c), ensure_ascii=False, separators=(",", ":")),
    }


def _schedule_row(schedule: ReportSchedule) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "active": schedule.active,
        "document": json.dumps(schedule_resource(schedule), separators=(",", ":")),
    }


def _milestone_rows(c: Commitment) -> list[dict[str, Any]]:
    return [
        {
            "commitment_id": str(c.id),
            "milestone_id": m.id,
            "title": m.title,
            "due_date": m.due_date,
            "original_due_date": m.original_due_date,
            "times_rescheduled": m.times_rescheduled,
            "completed_on": m.completed_on,
            "missed_since": m.missed_since(),
        }
        for m in c.milestones.values()
    ]


def _indicator_rows(c: Commitment) -> list[dict[str, Any]]:
    return [
        {
            "commitment_id": str(c.id),
            "indicator_id": i.id,
            "name": i.name,
            "unit": i.unit,
            "baseline": str(i.baseline),
            "target": str(i.target),
            "latest_value": None if i.latest_value is None else str(i.latest_value),
            "latest_as_of": i.latest_as_of,
            "measurements": i.measurements,
        }
        for i in c.indicators.values()
    ]
