"""Queries on the read models: the commitment list, with filters and cursor pagination."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import and_, func, not_, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from adapters.tables import commitment_summaries, milestone_rows
from domain.commitment import is_past
from domain.errors import InvalidValue
from domain.views import CommitmentSummary

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
    except (binascii.Error, ValueError, KeyError, TypeError, RecursionError):
        raise InvalidValue("cursor is not one this API gave out") from None
    if not isinstance(after, str):
        raise InvalidValue("cursor is not one this API gave out")
    return after


def _since(column: Any, today: date) -> ColumnElement[bool]:
    """A derived state held from the day in `column` on (the domain's `is_past`)."""
    return and_(column.is_not(None), column <= today)


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
        overdue = _since(S.c.overdue_since, today)
        conditions.append(overdue if filters.overdue else not_(overdue))
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


def list_commitments(
    connection: Connection,
    filters: ListFilters,
    *,
    today: date,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> tuple[list[CommitmentSummary], str | None]:
    """One page of commitments ordered by code, and the cursor of the next page."""
    missed = (
        select(func.count())
        .where(
            milestone_rows.c.commitment_id == S.c.commitment_id,
            _since(milestone_rows.c.missed_since, today),
        )
        .scalar_subquery()
    )
    query = select(S.c.code, S.c.document, S.c.overdue_since, missed.label("missed")).where(
        *_conditions(filters, today)
    )
    if cursor is not None:
        query = query.where(S.c.code > decode_cursor(cursor))
    rows = connection.execute(query.order_by(S.c.code).limit(limit + 1)).all()
    page = [
        cast(
            CommitmentSummary,
            # Rows written before closures (translations) were recorded lack the key.
            {"pending_closure": None, "translations": {}}
            | json.loads(row.document)
            | {"overdue": is_past(row.overdue_since, today), "milestones_missed": row.missed},
        )
        for row in rows[:limit]
    ]
    next_cursor = encode_cursor(rows[limit - 1].code) if len(rows) > limit else None
    return page, next_cursor


def commitment_texts(connection: Connection) -> dict[str, dict[str, Any]]:
    """Each commitment's `translations` and `next_milestone` (with its id), by code: what
    a page needs to read a report's rows in another language (domain/translations.py)."""
    texts = {}
    for row in connection.execute(select(S.c.code, S.c.document)):
        document = json.loads(row.document)
        texts[row.code] = {
            "translations": document.get("translations") or {},
            "next_milestone": document.get("next_milestone"),
        }
    return texts
