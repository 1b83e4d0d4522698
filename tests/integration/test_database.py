"""Statements run on the driver (adapters/database.py:DriverStatement), on both databases."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError

from adapters.bootstrap import Services
from adapters.database import DriverStatement, _ValuesTemplate
from adapters.tables import progress_points, projection_positions


def points(count: int) -> list[dict[str, Any]]:
    start = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    return [
        {
            "position": n,
            "commitment_id": f"c-{n % 7}",
            "version": n,
            "percent": n % 101,
            "as_of": date(2026, 1, 1) + timedelta(days=n % 300),
            "confidence": None if n % 2 else n % 5,
            "recorded_at": start + timedelta(seconds=n),
            "actor": f"actor {n} ' \" ; --",
            "evidence": None if n % 3 else n % 4,
        }
        for n in range(1, count + 1)
    ]


def test_an_insert_of_many_rows_stores_each_row_as_given(services: Services) -> None:
    """More rows than one multi-row INSERT holds on PostgreSQL, in a pipeline there: every
    value arrives converted by its column's type (dates, times, nulls, quotes)."""
    database = services.database
    rows = points(2_345)
    with database.writing() as connection:
        statement = DriverStatement(
            insert(progress_points), connection.dialect, [c.name for c in progress_points.c]
        )
        driver: Any = connection.connection.driver_connection
        with driver.pipeline() if database.is_postgres else nullcontext():
            statement.run_many(connection, rows[:1])
            statement.run_many(connection, rows[1:])
    with database.reading() as connection:
        stored = [
            dict(row._mapping)
            for row in connection.execute(
                select(progress_points).order_by(progress_points.c.position)
            )
        ]
    assert len(stored) == len(rows)
    for got, wanted in zip(stored, rows, strict=True):
        recorded = got.pop("recorded_at")
        wanted = dict(wanted)
        assert recorded.replace(tzinfo=recorded.tzinfo or UTC) == wanted.pop("recorded_at")
        assert got == wanted


def test_an_update_reports_the_rows_it_touched(services: Services) -> None:
    services.projection.catch_up()
    current = services.projection.position()
    advance = (
        update(projection_positions)
        .where(projection_positions.c.position == bindparam("expected"))
        .values(position=bindparam("new", type_=projection_positions.c.position.type))
    )
    with services.database.writing() as connection:
        statement = DriverStatement(advance, connection.dialect)
        assert statement.run(connection, {"expected": current, "new": current}) == 1
        assert statement.run(connection, {"expected": current + 99, "new": 0}) == 0


def test_a_values_template_keeps_casts_and_what_follows_the_values() -> None:
    template = _ValuesTemplate.of(
        "INSERT INTO t (a, b) VALUES (%(a)s::UUID, lower(%(b)s)) ON CONFLICT DO NOTHING"
    )
    assert template.names == ["a", "b"]
    assert template.sql(2) == (
        "INSERT INTO t (a, b) VALUES (%s::UUID, lower(%s)), (%s::UUID, lower(%s))"
        " ON CONFLICT DO NOTHING"
    )


def test_one_statement_reads_in_autocommit_and_raises_sqlalchemy_errors(
    services: Services,
) -> None:
    """A read of one statement on the driver (the projection's position, an aggregate's
    new events): its rows as the driver gives them; a failing statement raises
    SQLAlchemy's error (which the API answers with a 503), and leaves the pooled
    connection usable and outside any transaction."""
    database = services.database
    dialect = database.engine.dialect
    position = DriverStatement(
        select(projection_positions.c.position).where(
            projection_positions.c.name == bindparam("name")
        ),
        dialect,
    )
    missing = DriverStatement(
        select(projection_positions.c.position).where(
            projection_positions.c.name == bindparam("name")
        ),
        dialect,
    )
    missing.sql = missing.sql.replace("projection_positions", "no_such_table")
    for _ in range(3):  # the one pooled connection, again after each failure
        with pytest.raises(DBAPIError):
            database.one_statement(missing, {"name": "x"})
        assert database.one_statement(position, {"name": "nothing-here"}) == []
    with database.writing() as connection:
        connection.execute(
            insert(projection_positions).values(
                name="probe", position=7, updated_at=datetime(2026, 1, 1, tzinfo=UTC)
            )
        )
    assert database.one_statement(position, {"name": "probe"}) == [(7,)]
