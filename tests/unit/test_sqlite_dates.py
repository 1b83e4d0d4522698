"""SQLite's date and datetime bind processors (adapters/database.py): the text written is
SQLAlchemy's own, byte for byte; reads and comparisons in SQL depend on it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Date, DateTime
from sqlalchemy.dialects import sqlite

from adapters.database import _bind_processor

DIALECT = sqlite.dialect()


class LaterDate(date):
    """A subclass: left to SQLAlchemy's processor."""


VALUES: list[Any] = [
    None,
    date(2026, 1, 1),
    date(1, 1, 1),
    date(999, 12, 31),
    date(9999, 12, 31),
    LaterDate(2026, 3, 4),
    datetime(2026, 1, 1),
    datetime(2026, 5, 6, 7, 8, 9, 1),
    datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    datetime(45, 5, 6, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=14))),
]


@pytest.mark.parametrize("column", [Date(), DateTime(), DateTime(timezone=True)])
@pytest.mark.parametrize("value", VALUES)
def test_the_text_is_sqlalchemys(column: Any, value: Any) -> None:
    impl = column.dialect_impl(DIALECT)
    theirs = impl.bind_processor(DIALECT)
    ours = _bind_processor(impl, DIALECT)
    assert ours is not theirs  # the fast one is in use
    assert ours is not None
    assert ours(value) == theirs(value)
    assert ours(value) == theirs(value)  # again: made once, then kept (dates)


def test_equal_datetimes_of_two_time_zones_keep_their_own_text() -> None:
    impl = Date().dialect_impl(DIALECT)
    ours = _bind_processor(impl, DIALECT)
    assert ours is not None
    utc = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    east = utc.astimezone(timezone(timedelta(hours=-5)))
    assert utc == east
    assert [ours(utc), ours(east), ours(utc)] == ["2026-01-01", "2025-12-31", "2026-01-01"]


def test_other_formats_keep_sqlalchemys_processor() -> None:
    custom = sqlite.DATETIME(truncate_microseconds=True)  # type: ignore[no-untyped-call]
    ours = _bind_processor(custom, DIALECT)
    assert ours is not None
    assert ours(datetime(2026, 1, 2, 3, 4, 5, 6)) == "2026-01-02 03:04:05"
