"""Queries on the read models: the commitment list, with filters and cursor pagination."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection
from copy import copy
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import orjson
from sqlalchemy import Select, and_, func, not_, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from adapters.tables import commitment_summaries, milestone_rows
from domain.commitment import is_past
from domain.errors import InvalidValue
from domain.views import CommitmentSummary, TranslationResource, next_milestone_on

S = commitment_summaries
MAX_LIMIT = 500
DEFAULT_LIMIT = 50


# The `health` filter's value for commitments not rated yet (health null).
UNRATED = "unrated"
# A list item's keys in the order of its type, the order the API has always written them
# in (the response model's); rows written before closures, translations and text
# languages lack those keys, which read as none.
_ITEM_KEYS = tuple(CommitmentSummary.__annotations__)
_ABSENT: dict[str, Any] = {"pending_closure": None, "text_languages": {}}
_TRANSLATION_KEYS = tuple(TranslationResource.__annotations__)


@dataclass(frozen=True)
class ListFilters:
    """What the list keeps. Several values of one filter mean either (`status=a&status=b`:
    a or b); different filters all apply. An empty tuple does not filter."""

    pillar: tuple[str, ...] = ()
    sector: tuple[str, ...] = ()
    party: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    health: tuple[str, ...] = ()  # ratings, and UNRATED for none yet
    overdue: bool | None = None
    q: str | None = None  # in code, title, description and sector slugs


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
    for column, values in ((S.c.pillar, filters.pillar), (S.c.status, filters.status)):
        if values:
            conditions.append(column.in_(values))
    if filters.health:
        ratings = [h for h in filters.health if h != UNRATED]
        either = [S.c.health.in_(ratings)] if ratings else []
        if UNRATED in filters.health:
            either.append(S.c.health.is_(None))
        conditions.append(or_(*either))
    for column, values in ((S.c.sectors, filters.sector), (S.c.parties, filters.party)):
        if values:
            # Stored as |a|b|: a whole name between bars, LIKE's wildcards plain characters.
            conditions.append(or_(*(column.contains(f"|{v}|", autoescape=True) for v in values)))
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
                func.lower(S.c.sectors).contains(needle, autoescape=True),
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
    query = _items(today).where(*_conditions(filters, today))
    if cursor is not None:
        query = query.where(S.c.code > decode_cursor(cursor))
    rows = connection.execute(query.order_by(S.c.code).limit(limit + 1)).all()
    page = [_item(row, today) for row in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1].code) if len(rows) > limit else None
    return page, next_cursor


def commitments_listed(
    connection: Connection, commitment_ids: Collection[str], *, today: date
) -> list[CommitmentSummary]:
    """The list items of these commitments (ids), in no order: what a reader who keeps
    the list reads again after writes to them (api/portfolio.py)."""
    ids = list(commitment_ids)
    return [
        _item(row, today)
        for start in range(0, len(ids), MAX_LIMIT)
        for row in connection.execute(
            _items(today).where(S.c.commitment_id.in_(ids[start : start + MAX_LIMIT]))
        )
    ]


def _items(today: date) -> Select[Any]:
    """The list's rows, with the count of milestones missed on `today`."""
    missed = (
        select(func.count())
        .where(
            milestone_rows.c.commitment_id == S.c.commitment_id,
            _since(milestone_rows.c.missed_since, today),
        )
        .scalar_subquery()
    )
    return select(S.c.code, S.c.document, S.c.overdue_since, missed.label("missed"))


def _item(row: Any, today: date) -> CommitmentSummary:
    """A list item: the stored document (parsed by orjson: the list's main cost was
    json.loads) with the fields derived from the day it is read on."""
    document = orjson.loads(row.document)
    derived = {
        "translations": {
            language: {key: texts[key] for key in _TRANSLATION_KEYS if key in texts}
            for language, texts in document.get("translations", {}).items()
        },
        "next_milestone": next_milestone_on(document["next_milestone"], today),
        "overdue": is_past(row.overdue_since, today),
        "milestones_missed": row.missed,
    }
    return cast(
        CommitmentSummary,
        {
            key: derived[key]
            if key in derived
            else document[key]
            if key in document
            else copy(_ABSENT.get(key))
            for key in _ITEM_KEYS
        },
    )
