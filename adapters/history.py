"""The event log as people read it: a commitment's history, and the global feed."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from adapters.database import Database
from adapters.ledger import events_with_hashes
from adapters.tables import events
from domain.commitment import Commitment
from domain.tracker import Tracker
from domain.views import event_data, event_type

MAX_FEED_LIMIT = 1000
# The topics of a commitment's events (not tokens', not schedules').
COMMITMENT_TOPICS = get_topic(Commitment) + "."


def _entry(
    tracker: Tracker, position: int, stored: StoredEvent, chain_hash: str | None, leaf: int | None
) -> dict[str, Any]:
    event: Commitment.Event = tracker.mapper.to_domain_event(stored)  # type: ignore[assignment]
    return {
        "position": position,
        "commitment_id": str(event.originator_id),
        "version": event.originator_version,
        "type": event_type(event),
        "recorded_at": event.timestamp.isoformat(),
        "actor": event.actor,
        "data": event_data(event),
        "hash": chain_hash,
        "leaf_index": leaf,
    }


def _entries(database: Database, tracker: Tracker, query: Any) -> list[dict[str, Any]]:
    with database.reading() as connection:
        rows = connection.execute(query).all()
    return [
        _entry(
            tracker,
            row.id,
            StoredEvent(
                originator_id=row.originator_id,
                originator_version=row.originator_version,
                topic=row.topic,
                state=bytes(row.state),
            ),
            row.hash,
            row.leaf,
        )
        for row in rows
    ]


def commitment_history(database: Database, tracker: Tracker, ref: str) -> list[dict[str, Any]]:
    """Every event of the commitment, oldest first (GET .../history, docs/api.md)."""
    aggregate_id = tracker.get(ref).id
    query = events_with_hashes().where(events.c.originator_id == aggregate_id)
    return _entries(database, tracker, query)


def event_feed(
    database: Database, tracker: Tracker, *, after: int, limit: int
) -> list[dict[str, Any]]:
    """Events of all aggregates in log order, after a position (GET /events)."""
    query = events_with_hashes().where(events.c.id > after).limit(min(limit, MAX_FEED_LIMIT))
    return _entries(database, tracker, query)


def recent_commitment_events(
    database: Database,
    tracker: Tracker,
    *,
    limit: int,
    commitment_ids: Collection[UUID] | None = None,
) -> list[dict[str, Any]]:
    """The latest `limit` events of commitments (all, or those of `commitment_ids`),
    newest first: the Atom feeds (adapters/feeds.py)."""
    query = (
        events_with_hashes()
        .where(events.c.topic.startswith(COMMITMENT_TOPICS, autoescape=True))
        .order_by(None)
        .order_by(events.c.id.desc())
        .limit(min(limit, MAX_FEED_LIMIT))
    )
    if commitment_ids is not None:
        if not commitment_ids:
            return []
        query = query.where(events.c.originator_id.in_(list(commitment_ids)))
    return _entries(database, tracker, query)


def commitment_events(
    database: Database, tracker: Tracker, *, after: int, limit: int, up_to: int | None = None
) -> list[dict[str, Any]]:
    """Events of commitments in log order after a position (and at most `up_to`): the
    open-data export and the webhooks' deliveries."""
    query = (
        events_with_hashes()
        .where(events.c.topic.startswith(COMMITMENT_TOPICS, autoescape=True))
        .where(events.c.id > after)
        .limit(min(limit, MAX_FEED_LIMIT))
    )
    if up_to is not None:
        query = query.where(events.c.id <= up_to)
    return _entries(database, tracker, query)
