"""The database of one process: its engine, transactions that write, snapshots that read.
Every adapter reaches the database through this.

SQLite: one file in WAL mode. Transactions that write start with BEGIN IMMEDIATE, so a
write never fails half-way on a snapshot another process moved; inside the process they
queue on a Python lock first (quick hand-over, instead of SQLite's sleeping busy wait).
Readers use plain BEGIN, which pins a snapshot and never blocks a writer.
"""

from __future__ import annotations

import itertools
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Connection, Insert, Select, Table, create_engine, event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import UpdateBase

# Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE.
WRITE = {"commitments_write": True}
# As many kept connections as the API has worker threads (AnyIO's default 40): a pool
# that closes and reopens connections under load costs more than the queries.
_POOL = {"pool_size": 40, "max_overflow": 20, "pool_timeout": 10}


class ReadOnly(Exception):
    """A transaction that writes was asked of a database opened for reading only."""


class Database:
    """One engine per process, made by the composition root (adapters/bootstrap.py).

    `read_only`: a replica's (COMMITMENTS_READ_DATABASE_URL). Its sessions are read-only
    on the server (default_transaction_read_only), so no statement can write through it
    even when the URL names a primary, and `writing` refuses before connecting."""

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        self.url = url
        self.read_only = read_only
        options: dict[str, Any] = {}
        if read_only and make_url(url).get_backend_name() == "postgresql":
            options["connect_args"] = {"options": "-c default_transaction_read_only=on"}
        self.engine: Engine = create_engine(url, **_POOL, **options)
        self.is_postgres = self.engine.dialect.name == "postgresql"
        # Writers of this process take turns here before SQLite's own lock (PostgreSQL
        # writers need no such turn: their row locks and MVCC keep them apart).
        self._write_turn: threading.Lock | None = None
        if not self.is_postgres:
            self._write_turn = threading.Lock()
            _configure_sqlite(self.engine)
            # Stored in the file: once is enough (per connection it would wait on writers).
            raw = self.engine.raw_connection()
            try:
                raw.driver_connection.execute("PRAGMA journal_mode=WAL")  # type: ignore[union-attr]
            finally:
                raw.close()

    @contextmanager
    def writing(self, *, durable: bool = True) -> Iterator[Connection]:
        """A transaction that writes: committed at the end of the block, rolled back on
        error. `durable=False` is for derived data (read models): the commit does not wait
        for the disk, so a crash may undo the transaction, but never half of it."""
        if self.read_only:
            raise ReadOnly(f"{self.engine.url.render_as_string()} is open for reading only")
        with self.write_turn(), self.engine.connect() as connection:
            connection.execution_options(**WRITE)
            driver: Any = connection.connection.driver_connection
            if not durable and not self.is_postgres:
                driver.execute("PRAGMA synchronous=NORMAL")
            try:
                with connection.begin():
                    if not durable and self.is_postgres:
                        connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                    yield connection
            finally:
                if not durable and not self.is_postgres:
                    driver.execute("PRAGMA synchronous=FULL")

    def analyze(self, *tables: Table) -> None:
        """PostgreSQL: refresh the planner's statistics of `tables` (default: all) after
        a bulk load (an import, a rebuild's switch), as its documentation advises. Until
        autovacuum gets to them, a freshly loaded table looks small to the planner, which
        then scans what it should look up: a commitment's events joined with their
        chain entries took 182 ms instead of 3 at a million events. Nothing to do on
        SQLite."""
        if not self.is_postgres or self.read_only:
            return
        quote = self.engine.dialect.identifier_preparer.format_table
        named = ", ".join(quote(table) for table in tables)
        with self.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                f"ANALYZE {named}".strip()
            )

    def write_turn(self) -> Any:
        """This process's turn to write (SQLite); the unit of work takes it too."""
        return self._write_turn if self._write_turn is not None else nullcontext()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """One consistent snapshot for several queries (a position and the rows it covers)."""
        with self.engine.connect() as connection:
            if self.is_postgres:
                connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection

    @contextmanager
    def one_query(self) -> Iterator[Connection]:
        """For one statement, which is its own snapshot: on PostgreSQL it runs outside a
        transaction, without the round trips of BEGIN and COMMIT."""
        if not self.is_postgres:
            with self.reading() as connection:
                yield connection
            return
        with self.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection

    def one_statement(
        self, statement: DriverStatement, row: dict[str, Any]
    ) -> list[tuple[Any, ...]]:
        """The rows of one SELECT, run on a pooled connection's driver in autocommit, so
        the statement is its own snapshot. Reads that are this one statement (the
        projection's position, an aggregate's new events) are most of some requests:
        SQLAlchemy's execution and a BEGIN and ROLLBACK cost more than the query."""
        raw = self.engine.raw_connection()
        driver: Any = raw.driver_connection
        dialect = self.engine.dialect
        try:
            if not self.is_postgres:  # sqlite3 is in autocommit already (_configure_sqlite)
                return statement.driver_rows(driver, row)
            # Not inside a transaction (the pool rolled it back): only a flag to set.
            driver.autocommit = True
            try:
                return statement.driver_rows(driver, row)
            finally:
                if not driver.closed:
                    driver.autocommit = False
        except dialect.loaded_dbapi.Error as error:
            # As SQLAlchemy's execution would: a lost connection leaves the pool, and the
            # error is SQLAlchemy's (the API answers those with a 503).
            if dialect.is_disconnect(error, driver, None):
                raw.invalidate(error)
            raise DBAPIError.instance(
                statement.sql, None, error, dialect.loaded_dbapi.Error
            ) from error
        finally:
            raw.close()

    def close(self) -> None:
        self.engine.dispose()

    def psycopg_conninfo(self) -> str:
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class DriverStatement:
    """An INSERT, UPDATE or DELETE (or a SELECT whose rows are wanted as the driver's
    tuples) compiled once by SQLAlchemy for a dialect and run on the driver's cursor, its
    parameters converted by the columns' own bind processors. Every write runs a few of
    these, and Core's per-execution bookkeeping costs several times the statement. On
    PostgreSQL, run them in `driver.pipeline()`: one round trip for all; there an INSERT
    of many rows is one statement (VALUES (...), (...)), as psycopg's executemany would
    send one per row, each a call into the socket. Outside a pipeline, many rows go by
    COPY (run_many).

    Give every bind parameter a type (a comparison with a column does): an untyped one
    would reach the driver unconverted."""

    def __init__(
        self,
        statement: UpdateBase | Select[Any],
        dialect: Dialect,
        columns: list[str] | None = None,
    ):
        compiled = statement.compile(dialect=dialect, column_keys=columns)
        self.sql = str(compiled)
        self.positional = bool(compiled.positional)
        self.names: list[str] = list(compiled.positiontup or compiled.binds)
        self.processors = {
            name: _bind_processor(bind.type.dialect_impl(dialect), dialect)
            for name, bind in compiled.binds.items()
        }
        # Parameters the statement gives a value itself (SQLite's OFFSET after a LIMIT).
        self.fixed = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        self.dbapi: Any = dialect.dbapi
        # Where each named column is in the tuples of run_tuples.
        self._column_at = {name: i for i, name in enumerate(columns or ())}
        self._values = self._picker(self.names)
        self._rows: _ValuesTemplate | None = None
        self._copy: str | None = None
        if dialect.name == "postgresql" and isinstance(statement, Insert):
            self._rows = _ValuesTemplate.of(self.sql)
            self._row_values = self._picker(self._rows.names)
            if not self._rows.tail.strip():  # COPY has no ON CONFLICT, no RETURNING
                quote = dialect.identifier_preparer.quote
                listed = ", ".join(quote(statement.table.c[n].name) for n in self._rows.names)
                table = dialect.identifier_preparer.format_table(statement.table)
                self._copy = f"COPY {table} ({listed}) FROM STDIN"

    def _picker(self, names: list[str]) -> Callable[[dict[str, Any]], list[Any]]:
        """A row's values in the order of `names`, through their bind processors. Runs
        for every row written: itemgetter takes them out in C, and only the columns that
        have a processor go through Python."""
        pick = itemgetter(*names)
        one = len(names) == 1
        processed = [(i, p) for i, n in enumerate(names) if (p := self.processors[n]) is not None]
        fixed = self.fixed

        def values(row: dict[str, Any]) -> list[Any]:
            found = pick(fixed | row if fixed else row)
            values = [found] if one else list(found)
            for index, process in processed:
                values[index] = process(values[index])
            return values

        return values

    def _params(self, row: dict[str, Any]) -> Any:
        values = self._values(row)
        return values if self.positional else dict(zip(self.names, values, strict=True))

    def run(self, connection: Connection, row: dict[str, Any]) -> int:
        """Run once; returns the number of rows it touched (-1 in a pipeline: not known)."""
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(self.sql, self._params(row))
        count = int(cursor.rowcount)
        cursor.close()
        return count

    def rows(self, connection: Connection, row: dict[str, Any]) -> list[tuple[Any, ...]]:
        """A SELECT's rows, as the driver returns them (no result processing)."""
        return self.driver_rows(connection.connection.driver_connection, row)

    def driver_rows(self, driver: Any, row: dict[str, Any]) -> list[tuple[Any, ...]]:
        cursor = driver.cursor()
        cursor.execute(self.sql, self._params(row))
        found: list[tuple[Any, ...]] = cursor.fetchall()
        cursor.close()
        return found

    def run_many(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self._rows is None:
            self._send(connection, [self._params(row) for row in rows])
        else:
            self._send(connection, [self._row_values(row) for row in rows])

    def run_tuples(self, connection: Connection, rows: Sequence[Sequence[Any]]) -> None:
        """run_many for an INSERT's rows given as tuples, in the order of the `columns`
        the statement was made with: no dict per row, and each column is converted in one
        pass (a rebuild writes several rows an event)."""
        if not rows:
            return
        columns = list(zip(*rows, strict=True))
        if len(columns) != len(self._column_at):
            raise ValueError("run_tuples takes an INSERT's rows, one value per column")
        names = self.names if self._rows is None else self._rows.names
        converted: list[Sequence[Any]] = []
        for name in names:
            column = columns[self._column_at[name]]
            process = self.processors[name]
            converted.append(column if process is None else list(map(process, column)))
        self._send(connection, list(zip(*converted, strict=True)))

    def _send(self, connection: Connection, rows: list[Any]) -> None:
        """Rows of parameters, converted: as executemany's (SQLite), else each a sequence
        in the order of the VALUES template (PostgreSQL's INSERT)."""
        driver: Any = connection.connection.driver_connection
        cursor = driver.cursor()
        if self._rows is None:
            cursor.executemany(self.sql, rows)
        elif self._copy is not None and len(rows) >= _ROWS_TO_COPY and not _in_pipeline(driver):
            # Many rows outside a pipeline (a rebuild's batches): COPY, which the server
            # takes in far less time than a multi-row INSERT of the same rows.
            with cursor.copy(self._copy) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            template = self._rows
            for start in range(0, len(rows), _ROWS_PER_INSERT):
                chunk = rows[start : start + _ROWS_PER_INSERT]
                params = [v for row in chunk for v in row]
                cursor.execute(template.sql(len(chunk)), params)
        cursor.close()


def _bind_processor(impl: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The type's bind processor; for SQLite's DATE and DATETIME in their default storage
    formats, one that writes the same text by `isoformat` (in C) where it can: theirs
    fill a dict and a %-format per value, 1.5-3 µs each, for every row a rebuild writes.
    Anything but a plain date or datetime (None, a subclass) goes to theirs."""
    slow = impl.bind_processor(dialect)
    if slow is None:
        return None
    if isinstance(impl, sqlite.DATETIME) and impl._storage_format == _SQLITE_DATETIME:

        def datetime_text(value: Any) -> Any:
            # 'YYYY-MM-DD HH:MM:SS.ffffff', then any UTC offset, which SQLite's omits.
            if type(value) is datetime:
                return value.isoformat(" ", "microseconds")[:26]
            return slow(value)

        return datetime_text
    if isinstance(impl, sqlite.DATE) and impl._storage_format == _SQLITE_DATE:
        # Few distinct dates recur in every row (effective dates): each made once.
        return _DateTexts(slow).__getitem__
    return cast(Callable[[Any], Any], slow)


class _DateTexts(dict[Any, Any]):
    """SQLite's text of each plain date seen, made by `isoformat` and looked up in C;
    anything else by SQLAlchemy's `slow` processor, and not kept: datetimes equal in two
    time zones have different texts."""

    def __init__(self, slow: Callable[[Any], Any]) -> None:
        super().__init__()
        self.slow = slow

    def __missing__(self, value: Any) -> Any:
        if type(value) is not date:
            return self.slow(value)
        if len(self) >= _DATES_KEPT:
            self.clear()
        text = self[value] = value.isoformat()
        return text


_DATES_KEPT = 10_000


# SQLAlchemy's default storage formats, which isoformat reproduces.
_SQLITE_DATE = "%(year)04d-%(month)02d-%(day)02d"
_SQLITE_DATETIME = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)


@contextmanager
def driver_rows(connection: Connection, query: Select[Any]) -> Iterator[Iterator[tuple[Any, ...]]]:
    """The rows of a query without parameters, as the driver gives them (tuples, no
    result processing: a SQLAlchemy Row per row costs more than reading it), fetched in
    batches. On PostgreSQL through a server-side cursor of the caller's transaction, so
    memory stays flat however many rows there are."""
    driver: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        cursor = driver.cursor(name=f"rows_{uuid.uuid4().hex}")
    else:
        cursor = driver.cursor()  # sqlite3 steps through the result as it is fetched
    try:
        cursor.execute(str(query.compile(dialect=connection.dialect)))
        # Batch after batch until an empty one, flattened (all of it in C: no Python
        # frame per row).
        batches = iter(partial(cursor.fetchmany, _ROWS_PER_FETCH), [])
        yield itertools.chain.from_iterable(batches)
    finally:
        cursor.close()


_ROWS_PER_FETCH = 5_000


def _in_pipeline(driver: Any) -> bool:
    from psycopg import pq  # only on PostgreSQL, where psycopg is loaded already

    return bool(driver.pgconn.pipeline_status != pq.PipelineStatus.OFF)


# From this many rows on, an INSERT outside a pipeline goes by COPY (PostgreSQL): below,
# the multi-row INSERT's one round trip beats COPY's start and end.
_ROWS_TO_COPY = 100
# Rows of one multi-row INSERT: well under PostgreSQL's 65,535 parameters a statement.
_ROWS_PER_INSERT = 1_000


@dataclass(frozen=True)
class _ValuesTemplate:
    """`INSERT ... VALUES (%(a)s::T, %(b)s) [tail]` as a head, a group of positional
    placeholders (their names in order) and a tail, to write n rows in one statement."""

    head: str
    group: str
    tail: str
    names: list[str]

    @classmethod
    def of(cls, sql: str) -> _ValuesTemplate:
        head, values, rest = sql.partition(" VALUES ")
        end = _group_end(rest)
        group = rest[: end + 1]
        names = re.findall(r"%\((\w+)\)s", group)
        return cls(head + values, re.sub(r"%\(\w+\)s", "%s", group), rest[end + 1 :], names)

    def sql(self, rows: int) -> str:
        return self.head + ", ".join([self.group] * rows) + self.tail


def _group_end(text: str) -> int:
    """Where the parenthesised group that `text` starts with ends."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return index
    raise ValueError(f"no closing parenthesis in {text!r}")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _: Any) -> None:
        # SQLAlchemy, not the driver, says when transactions begin (see _begin).
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA busy_timeout=10000")

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        writes = connection.get_execution_options().get("commitments_write")
        # On the driver: SQLAlchemy's own execution costs more than the statement.
        driver: Any = connection.connection.driver_connection
        driver.execute("BEGIN IMMEDIATE" if writes else "BEGIN")
