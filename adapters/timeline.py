"""Time travel's index in SQL: the table commitment_timeline (adapters/tables.py), written
by the projection (adapters/projection.py) and read by Tracker.state through the
domain's Timeline port (domain/time_travel.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Table, bindparam, func, select

from adapters.database import Database
from adapters.tables import commitment_timeline, events
from domain import clock
from domain.time_travel import Cuts, Mark

_t = commitment_timeline.c
_MARK = (_t.version, _t.known_from, _t.effective_on, _t.dated_until, _t.irregular_version)
_ID = _t.commitment_id == bindparam("id")

# Statements built once. The cuts in one statement: the last mark, each cut as a
# subquery (NULL when its bound is NULL: not asked), the first irregular version after
# the as_of cut, and the last version in the log.
_first = commitment_timeline.alias("first")
_f = _first.c
_FIRST_UNKNOWN = (
    select(_f.version)
    .where(
        _f.commitment_id == bindparam("id"),
        _f.known_from > bindparam("known_at", type_=_t.known_from.type),
    )
    .order_by(_f.known_from, _f.version)
    .limit(1)
    .scalar_subquery()
)
_FIRST_LATER = (
    select(_f.version)
    .where(
        _f.commitment_id == bindparam("id"),
        _f.dated_until > bindparam("as_of", type_=_t.dated_until.type),
    )
    .order_by(_f.dated_until, _f.version)
    .limit(1)
    .scalar_subquery()
)
_after = commitment_timeline.alias("after")
_NEXT_IRREGULAR = (
    select(func.min(_after.c.irregular_version))
    .where(
        _after.c.commitment_id == bindparam("id"),
        _after.c.irregular_version > _FIRST_LATER,
    )
    .scalar_subquery()
)
_LOGGED = (
    select(func.max(events.c.originator_version))
    .where(events.c.originator_id == bindparam("uuid"))
    .scalar_subquery()
)
_CUTS = (
    select(
        *_MARK,
        _FIRST_UNKNOWN.label("first_unknown"),
        _FIRST_LATER.label("first_later"),
        _NEXT_IRREGULAR.label("next_irregular"),
        _LOGGED.label("logged"),
    )
    .where(_ID)
    .order_by(_t.version.desc())
    .limit(1)
)
_IRREGULAR = (
    select(*_MARK)
    .where(
        _ID,
        _t.irregular_version > bindparam("after"),
        _t.irregular_version <= bindparam("up_to"),
    )
    .order_by(_t.irregular_version)
)


def mark_of(row: Any) -> Mark:
    return Mark(
        version=row.version,
        known_from=clock.as_utc(row.known_from),
        effective_on=row.effective_on,
        dated_until=row.dated_until,
        irregular=row.irregular_version is not None,
    )


def timeline_row(commitment_id: str, position: int, mark: Mark) -> tuple[Any, ...]:
    """The mark's row, in the table's column order (DriverStatement.run_tuples)."""
    return (
        commitment_id,
        mark.version,
        position,
        mark.known_from,
        mark.effective_on,
        mark.dated_until,
        mark.version if mark.irregular else None,
    )


def mark_at(connection: Connection, table: Table, commitment_id: UUID, version: int) -> Mark | None:
    """The mark stored for a version in `table` (the live timeline or its shadow)."""
    c = table.c
    row = connection.execute(
        select(c.version, c.known_from, c.effective_on, c.dated_until, c.irregular_version).where(
            c.commitment_id == str(commitment_id), c.version == version
        )
    ).first()
    return None if row is None else mark_of(row)


class SqlTimeline:
    """The Timeline port on the commitment_timeline read model."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def cuts(self, commitment_id: UUID, *, known_at: datetime | None, as_of: date | None) -> Cuts:
        values = {
            "id": str(commitment_id),
            "uuid": commitment_id,
            # Stored in UTC (SQLite compares them as text).
            "known_at": None if known_at is None else clock.as_utc(known_at),
            "as_of": as_of,
        }
        with self.database.one_query() as connection:
            row = connection.execute(_CUTS, values).first()
        if row is None:
            return Cuts(None)
        return Cuts(
            mark_of(row), row.first_unknown, row.first_later, row.next_irregular, row.logged
        )

    def irregular(self, commitment_id: UUID, after: int, up_to: int) -> list[Mark]:
        values = {"id": str(commitment_id), "after": after, "up_to": up_to}
        with self.database.one_query() as connection:
            return [mark_of(row) for row in connection.execute(_IRREGULAR, values)]
