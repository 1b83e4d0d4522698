"""Leases: one leader at a time for a background job (the projection follower, the report
scheduler), across every process on the database, that a leader loses when it stops
making progress.

A lease is a row of `leases`: its holder, an epoch and when it expires. The leader renews
it from its own loop (not from a heartbeat thread: a loop that is stuck, or a process
that is stopped with SIGSTOP, stops renewing), and a standby takes it over once it has
expired, adding one to the epoch. The epoch fences: every write the leader makes checks,
in its own transaction, that the lease still has the leader's epoch (and extends it), so
a leader that wakes up after losing it writes nothing and steps down.

Times are the database's on PostgreSQL (`statement_timestamp()`), so the processes'
clocks do not matter; on SQLite (processes sharing a file share a machine) they are the
process's. Tests inject a clock (`now`) on either.

On PostgreSQL a leader also keeps a connection of its own open, its backend's pid in the
lease: a leader that dies (SIGKILL, a crash) loses that session at once, and a standby
takes over without waiting for the expiry. A stopped one keeps its session, and is
replaced when the lease expires.

Why not PostgreSQL's session-level advisory lock, used before: a stopped process keeps
its session, and its lock, for as long as it is stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Interval,
    and_,
    bindparam,
    column,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError

from adapters.database import Database, DriverStatement
from adapters.settings import DEFAULT_LEASE_SECONDS
from adapters.tables import leases
from domain import clock

log = logging.getLogger(__name__)

# A leader renews three times a lease, so one slow renewal does not lose it; a standby
# looks (one read) ten times a lease, so it takes over soon after expiry.
RENEWALS_PER_LEASE = 3
LOOKS_PER_LEASE = 10

_TIME = DateTime(timezone=True)
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout ends a wait


class LeaseLost(Exception):
    """This process no longer holds the lease: it expired and another process took it
    over (or it was released). The transaction that found it out wrote nothing."""


@dataclass(frozen=True)
class LeaseState:
    """A lease as stored, and whether it has expired (by the lease's clock)."""

    name: str
    holder: str
    epoch: int
    acquired_at: datetime
    expires_at: datetime
    expired: bool


def failure(error: BaseException) -> str:
    """An error in one line, for a worker's log and `last_error`: its type and first line."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def process_holder() -> str:
    """Names this process in the `leases` table: host, process id, and a random suffix
    (a process id can come again after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """The lease `name`, as seen by one holder (a process, or a test's stand-in for one)."""

    def __init__(
        self,
        database: Database,
        name: str,
        *,
        seconds: float = DEFAULT_LEASE_SECONDS,
        holder: str | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.database = database
        self.name = name
        self.seconds = seconds
        self.holder = holder or process_holder()
        self._now = now
        # The database's clock unless a test injects one (SQLite has none of its own).
        self._database_clock = now is None and database.is_postgres
        self.epoch: int | None = None  # the epoch this holder leads with; None: standing by
        self._session: Any = None  # PostgreSQL: the connection that says this holder lives
        self._renewed_at = 0.0  # by `_local()`, when the lease was last extended
        # Set by a release that found the lease taken over: the leader's error was then
        # its session ended by the standby (`_end_stale_writer`), not a fault to report.
        self.replaced = False

    # ---- clocks ------------------------------------------------------------------------

    @property
    def renew_every(self) -> float:
        return self.seconds / RENEWALS_PER_LEASE

    @property
    def look_every(self) -> float:
        return self.seconds / LOOKS_PER_LEASE

    def _local(self) -> float:
        """Seconds on this process's clock, to know when a renewal is due."""
        return self._now().timestamp() if self._now is not None else time.monotonic()

    def _times(self) -> dict[str, Any]:
        """Bind values of the statements: the time now and when the lease expires."""
        if self._database_clock:
            return {"seconds": timedelta(seconds=self.seconds)}
        # Real time, not domain.clock's (which tests freeze to date the events they write).
        now = self._now() if self._now is not None else datetime.now(UTC)
        return {"now": now, "expires": now + timedelta(seconds=self.seconds)}

    # ---- leading -----------------------------------------------------------------------

    @property
    def held(self) -> bool:
        return self.epoch is not None

    def acquire(self) -> bool:
        """Take the lease if nobody holds it, it has expired, or this holder had it
        (the epoch grows each time, so writes of an earlier term are refused). A read
        first: standbys look often, and should not queue behind the leader's writes."""
        with self.database.reading() as connection:
            before = self.state(connection)
        if before is not None and not before.expired and before.holder != self.holder:
            self.epoch = None
            return False
        values = {"lease": self.name, "holder": self.holder, "session": self._open_session()}
        try:
            with self.database.writing() as connection:
                if self.database.is_postgres:
                    # The row is locked while a leader's fenced transaction runs. The
                    # lease has expired (or is this holder's): a leader that has not
                    # committed a renewal for a lease gets a third of one more.
                    milliseconds = max(1, round(self.renew_every * 1000))
                    connection.exec_driver_sql(f"SET LOCAL lock_timeout = {milliseconds}")
                statement = _acquire(connection, self._database_clock)
                epoch = connection.execute(statement, values | self._times()).scalar_one_or_none()
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            self._end_stale_writer(before)
            epoch = None
        if epoch is None:  # another standby was quicker, or the expired leader still wrote
            self.epoch = None
            self._close_session()
            return False
        self.epoch = int(epoch)
        self._renewed_at = self._local()
        self.replaced = False
        if before is not None and before.holder != self.holder:
            log.warning(
                "took over the lease %s (epoch %s) from %s, whose lease had expired",
                self.name,
                self.epoch,
                before.holder,
            )
        else:
            log.info("holding the lease %s (epoch %s) as %s", self.name, self.epoch, self.holder)
        return True

    def renew_if_due(self) -> bool:
        """Renew when a third of the lease has passed since the last renewal; False once
        the lease is lost (this holder must stop leading)."""
        if self.epoch is None:
            return False
        if self._local() - self._renewed_at < self.renew_every:
            return True
        with self.database.writing() as connection:
            try:
                self.fence(connection)
            except LeaseLost:
                return False
        return True

    def due_in(self) -> float:
        """Seconds until the next renewal is due (0: now)."""
        return max(0.0, self.renew_every - (self._local() - self._renewed_at))

    def fence(self, connection: Connection) -> None:
        """In the caller's write transaction: check that this holder still holds the lease
        with its epoch, and extend it; else raise LeaseLost, and the transaction must roll
        back. The lease's row stays locked until the transaction ends, so a standby
        cannot take it over before the leader's write is committed."""
        if self.epoch is None:
            raise LeaseLost(f"the lease {self.name} is not held here")
        row = {"lease": self.name, "epoch": self.epoch} | self._times()
        if _extend(connection, self._database_clock).run(connection, row) != 1:
            epoch, self.epoch = self.epoch, None
            log.warning(
                "lost the lease %s (epoch %s): another process took it over; standing by",
                self.name,
                epoch,
            )
            raise LeaseLost(f"the lease {self.name} of epoch {epoch} was taken over")
        self._renewed_at = self._local()

    def release(self) -> None:
        """Stop leading: let the lease expire now, so a standby takes over at its next
        look rather than after the lease's length. Nothing to do if not held."""
        epoch, self.epoch = self.epoch, None
        self._close_session()
        if epoch is None:
            return
        with self.database.writing() as connection:
            released = connection.execute(
                update(leases)
                .where(leases.c.name == self.name, leases.c.epoch == epoch)
                .values(expires_at=leases.c.acquired_at)
            ).rowcount
        self.replaced = not released
        if released:
            log.info("released the lease %s (epoch %s)", self.name, epoch)
        else:  # a leader that failed (its session ended while it was stopped) and was replaced
            log.warning(
                "lost the lease %s (epoch %s): another process took it over; standing by",
                self.name,
                epoch,
            )

    def _end_stale_writer(self, before: LeaseState | None) -> None:
        """PostgreSQL: the lease had expired, but a transaction of its holder has kept the
        row locked for a third of a lease more. A leader stopped inside its fenced
        transaction (by SIGSTOP, a paused VM) would keep every standby out for as long as
        it sleeps, whether idle in that transaction, halfway through a pipeline or in a
        COPY. End that backend if it has been waiting for its client all that time: its
        writes roll back, and the next look takes the lease over. (It is an error where
        the leader wakes up, and its loop stands by.) A backend still working (a
        rebuild's long switch) is left to finish; the standby looks again."""
        waited = func.now() - func.greatest(_activity.c.query_start, _activity.c.state_change)
        with self.database.writing() as connection:
            ended = connection.execute(
                select(_activity.c.pid, func.pg_terminate_backend(_activity.c.pid))
                .select_from(leases)
                .join(_activity, _activity.c.backend_xid == literal_column("leases.xmax"))
                .where(
                    leases.c.name == self.name,
                    _activity.c.pid != func.pg_backend_pid(),
                    _activity.c.wait_event == "ClientRead",
                    waited >= bindparam("stale", type_=Interval()),
                ),
                {"stale": timedelta(seconds=self.renew_every)},
            ).all()
        for pid, _ in ended:
            log.warning(
                "ended backend %s of %s: its transaction kept holding the expired lease %s",
                pid,
                before.holder if before is not None else "the holder",
                self.name,
            )

    def _open_session(self) -> int | None:
        """PostgreSQL: open the holder's session (if not open) and return its pid."""
        if not self.database.is_postgres:
            return None
        if self._session is None or self._session.closed:
            import psycopg  # PostgreSQL only

            self._session = psycopg.connect(self.database.psycopg_conninfo(), autocommit=True)
        return int(self._session.info.backend_pid)

    def _close_session(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            session.close()

    # ---- reading -----------------------------------------------------------------------

    def state(self, connection: Connection) -> LeaseState | None:
        """The lease as stored (None: never taken). Expired: by its time, or (PostgreSQL)
        because its holder's session is gone."""
        if self._database_clock:
            expired: Any = leases.c.expires_at <= func.statement_timestamp(type_=_TIME)
        else:
            expired = leases.c.expires_at <= literal(self._times()["now"], _TIME)
        if self.database.is_postgres:
            expired = or_(expired, _session_gone())
        row = connection.execute(
            select(leases, expired.label("expired")).where(leases.c.name == self.name)
        ).one_or_none()
        if row is None:
            return None
        return LeaseState(
            row.name,
            row.holder,
            int(row.epoch),
            clock.as_utc(row.acquired_at),
            clock.as_utc(row.expires_at),
            bool(row.expired),
        )


def lease_states(connection: Connection) -> dict[str, tuple[str, int]]:
    """Every lease's holder and epoch, by name (for /metrics and /readyz)."""
    rows = connection.execute(select(leases.c.name, leases.c.holder, leases.c.epoch))
    return {row.name: (row.holder, int(row.epoch)) for row in rows}


# ---- statements, built once per dialect and clock -------------------------------------------


def _now(database_clock: bool) -> Any:
    if database_clock:
        return func.statement_timestamp(type_=_TIME)
    return bindparam("now", type_=_TIME)


def _expires(database_clock: bool) -> Any:
    if database_clock:
        return func.statement_timestamp(type_=_TIME) + bindparam("seconds", type_=Interval())
    return bindparam("expires", type_=_TIME)


def _acquire(connection: Connection, database_clock: bool) -> Any:
    """Insert the lease, or take it over if it has expired or was this holder's."""
    make = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement: Any = make(leases).values(
        name=bindparam("lease"),
        holder=bindparam("holder"),
        epoch=1,
        acquired_at=_now(database_clock),
        expires_at=_expires(database_clock),
        session=bindparam("session", type_=leases.c.session.type),
    )
    takeover = [
        leases.c.expires_at <= statement.excluded.acquired_at,
        leases.c.holder == statement.excluded.holder,
    ]
    if connection.dialect.name == "postgresql":
        takeover.append(_session_gone())
    return statement.on_conflict_do_update(
        index_elements=[leases.c.name],
        set_={
            "holder": statement.excluded.holder,
            "epoch": leases.c.epoch + 1,
            "acquired_at": statement.excluded.acquired_at,
            "expires_at": statement.excluded.expires_at,
            "session": statement.excluded.session,
        },
        where=or_(*takeover),
    ).returning(leases.c.epoch)


_activity = table(
    "pg_stat_activity",
    column("pid"),
    column("backend_xid"),
    column("wait_event"),
    column("query_start", _TIME),
    column("state_change", _TIME),
)


def _session_gone() -> Any:
    """PostgreSQL: the holder's session has ended (a pid reused since only delays a
    takeover, to the lease's expiry)."""
    return and_(
        leases.c.session.is_not(None),
        # Not a correlated EXISTS: in ON CONFLICT DO UPDATE, SQLAlchemy does not correlate
        # it, and the subquery would read `leases` as of the statement's snapshot.
        leases.c.session.not_in(select(_activity.c.pid)),
    )


_extends: dict[tuple[str, bool], DriverStatement] = {}


def _extend(connection: Connection, database_clock: bool) -> DriverStatement:
    """UPDATE the lease's expiry WHERE it still has the epoch: run in every batch of the
    projection, so compiled once and run on the driver (adapters/database.py)."""
    key = (connection.dialect.name, database_clock)
    if key not in _extends:
        statement = (
            update(leases)
            .where(
                leases.c.name == bindparam("lease", type_=leases.c.name.type),
                leases.c.epoch == bindparam("epoch", type_=leases.c.epoch.type),
            )
            .values(expires_at=_expires(database_clock))
        )
        _extends[key] = DriverStatement(statement, connection.dialect)
    return _extends[key]
