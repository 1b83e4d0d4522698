"""Queries on the read models: the commitment list, with filters and cursor pagination."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, func, not_, or_, select
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.sql.elements import ColumnElement

from adapters.projection import split_joined
from adapters.tables import commitment_summaries, milestone_rows
from domain.errors import InvalidValue

S = commitment_summaries
MAX_LIMIT = 500
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class ListFilters:
    pillar: str | None = None
    sector: str | None = None
    party: str | None = None
    status: str | None = None
    health: str | None = None
    overdue: bool | None = None
    q: str | None = None


def encode_cursor(code: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": code}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        after = json.loads(base64.urlsafe_b64decode(padded.encode()))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidValue("cursor is not one this API gave out") from None
    if not isinstance(after, str):
        raise InvalidValue("cursor is not one this API gave out")
    return after


def _overdue(today: date) -> ColumnElement[bool]:
    return and_(S.c.target_date.is_not(None), S.c.target_date < today, S.c.status != "completed")


def _conditions(filters: ListFilters, today: date) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for column, value in (
        (S.c.pillar, filters.pillar),
        (S.c.status, filters.status),
        (S.c.health, filters.health),
    ):
        if value is not None:
            conditions.append(column == value)
    if filters.sector is not None:
        conditions.append(S.c.sectors.contains(f"|{filters.sector}|", autoescape=True))
    if filters.party is not None:
        conditions.append(S.c.parties.contains(f"|{filters.party}|", autoescape=True))
    if filters.overdue is not None:
        conditions.append(_overdue(today) if filters.overdue else not_(_overdue(today)))
    if filters.q:
        needle = filters.q.lower()
        conditions.append(
            or_(
                func.lower(S.c.code).contains(needle, autoescape=True),
                func.lower(S.c.title).contains(needle, autoescape=True),
                func.lower(S.c.description).contains(needle, autoescape=True),
            )
        )
    return conditions


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """One consistent view for several queries (the position and the rows it covers)."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        else:
            # pysqlite opens no transaction for reads; in WAL mode BEGIN pins a snapshot.
            connection.exec_driver_sql("BEGIN")
        try:
            yield connection
        finally:
            connection.rollback()


def list_commitments(
    connection: Connection,
    filters: ListFilters,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    today: date | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of commitments ordered by code, and the cursor of the next page."""
    today = today or datetime.now(UTC).date()
    missed = (
        select(func.count())
        .where(
            milestone_rows.c.commitment_id == S.c.commitment_id,
            milestone_rows.c.completed_on.is_(None),
            milestone_rows.c.due_date < today,
        )
        .scalar_subquery()
    )
    query = select(S, missed.label("milestones_missed")).where(*_conditions(filters, today))
    if cursor is not None:
        query = query.where(S.c.code > decode_cursor(cursor))
    query = query.order_by(S.c.code).limit(limit + 1)
    rows = connection.execute(query).mappings().all()
    page = [_item(row, today) for row in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1]["code"]) if len(rows) > limit else None
    return page, next_cursor


def _utc(moment: datetime) -> str:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _item(row: RowMapping, today: date) -> dict[str, Any]:
    target = row["target_date"]
    return {
        "id": row["commitment_id"],
        "code": row["code"],
        "version": row["version"],
        "title": row["title"],
        "description": row["description"],
        "pillar": row["pillar"],
        "sectors": split_joined(row["sectors"]),
        "parties": split_joined(row["parties"]),
        "lead_party": row["lead_party"],
        "start_date": _iso(row["start_date"]),
        "target_date": _iso(target),
        "status": row["status"],
        "status_as_of": _iso(row["status_as_of"]),
        "health": row["health"],
        "health_rationale": row["health_rationale"],
        "health_as_of": _iso(row["health_as_of"]),
        "progress": row["progress"],
        "progress_as_of": _iso(row["progress_as_of"]),
        "confidence": row["confidence"],
        "overdue": bool(target is not None and target < today and row["status"] != "completed"),
        "next_milestone": None
        if row["next_milestone_id"] is None
        else {
            "id": row["next_milestone_id"],
            "title": row["next_milestone_title"],
            "due_date": _iso(row["next_milestone_due"]),
        },
        "milestones_total": row["milestones_total"],
        "milestones_completed": row["milestones_completed"],
        "milestones_missed": row["milestones_missed"],
        "indicators_total": row["indicators_total"],
        "evidence_total": row["evidence_total"],
        "registered_at": _utc(row["registered_at"]),
        "updated_at": _utc(row["updated_at"]),
    }
