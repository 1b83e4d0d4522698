"""Time travel's index in SQL: the table commitment_timeline (adapters/tables.py), written
by the projection (adapters/projection.py) and read by Tracker.state through the
domain's Timeline port (domain/time_travel.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Table, bindparam, select, true

from adapters.database import Database
from adapters.tables import commitment_timeline
from domain import clock
from domain.time_travel import Mark

_t = commitment_timeline.c
_MARK = (_t.version, _t.known_from, _t.effective_on, _t.dated_until, _t.irregular)
_ID = _t.commitment_id == bindparam("id")

# Statements built once: each read runs a few of them.
_LAST = select(*_MARK).where(_ID).order_by(_t.version.desc()).limit(1)
_FIRST_UNKNOWN = (
    select(_t.version)
    .where(_ID, _t.known_from > bindparam("known_at", type_=_t.known_from.type))
    .order_by(_t.known_from, _t.version)
    .limit(1)
)
_FIRST_LATER = (
    select(_t.version)
    .where(_ID, _t.dated_until > bindparam("as_of", type_=_t.dated_until.type))
    .order_by(_t.dated_until, _t.version)
    .limit(1)
)
_IRREGULAR = (
    select(*_MARK)
    .where(
        _ID,
        _t.irregular == true(),
        _t.version > bindparam("after"),
        _t.version <= bindparam("up_to"),
    )
    .order_by(_t.version)
)


def mark_of(row: Any) -> Mark:
    return Mark(
        version=row.version,
        known_from=clock.as_utc(row.known_from),
        effective_on=row.effective_on,
        dated_until=row.dated_until,
        irregular=bool(row.irregular),
    )


def timeline_row(commitment_id: UUID, position: int, mark: Mark) -> dict[str, Any]:
    return {
        "commitment_id": str(commitment_id),
        "version": mark.version,
        "position": position,
        "known_from": mark.known_from,
        "effective_on": mark.effective_on,
        "dated_until": mark.dated_until,
        "irregular": mark.irregular,
    }


def mark_at(connection: Connection, table: Table, commitment_id: UUID, version: int) -> Mark | None:
    """The mark stored for a version in `table` (the live timeline or its shadow)."""
    c = table.c
    row = connection.execute(
        select(c.version, c.known_from, c.effective_on, c.dated_until, c.irregular).where(
            c.commitment_id == str(commitment_id), c.version == version
        )
    ).first()
    return None if row is None else mark_of(row)


class SqlTimeline:
    """The Timeline port on the commitment_timeline read model."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def last(self, commitment_id: UUID) -> Mark | None:
        with self.database.one_query() as connection:
            row = connection.execute(_LAST, {"id": str(commitment_id)}).first()
        return None if row is None else mark_of(row)

    def first_unknown(self, commitment_id: UUID, known_at: datetime) -> int | None:
        # Stored in UTC (SQLite compares them as text).
        values = {"id": str(commitment_id), "known_at": clock.as_utc(known_at)}
        with self.database.one_query() as connection:
            return connection.execute(_FIRST_UNKNOWN, values).scalar_one_or_none()

    def first_later(self, commitment_id: UUID, as_of: date) -> int | None:
        with self.database.one_query() as connection:
            return connection.execute(
                _FIRST_LATER, {"id": str(commitment_id), "as_of": as_of}
            ).scalar_one_or_none()

    def irregular(self, commitment_id: UUID, after: int, up_to: int) -> list[Mark]:
        values = {"id": str(commitment_id), "after": after, "up_to": up_to}
        with self.database.one_query() as connection:
            return [mark_of(row) for row in connection.execute(_IRREGULAR, values)]
