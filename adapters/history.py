"""A commitment's events as stored: with their positions in the global log."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import StoredEvent
from sqlalchemy import select

from adapters.event_store import engine_of
from adapters.tables import events
from domain.commitment import Commitment
from domain.tracker import Tracker
from domain.views import event_data, event_type


def commitment_history(tracker: Tracker, ref: str) -> list[dict[str, Any]]:
    """Every event of the commitment, oldest first (CONTRACT: GET .../history)."""
    aggregate_id = tracker.get(ref).id
    query = (
        select(events.c.id, events.c.originator_version, events.c.topic, events.c.state)
        .where(events.c.originator_id == aggregate_id)
        .order_by(events.c.originator_version)
    )
    with engine_of(tracker).connect() as connection:
        rows = connection.execute(query).all()
    history = []
    for row in rows:
        event: Commitment.Event = tracker.mapper.to_domain_event(
            StoredEvent(
                originator_id=aggregate_id,
                originator_version=row.originator_version,
                topic=row.topic,
                state=bytes(row.state),
            )
        )  # type: ignore[assignment]
        history.append(
            {
                "position": row.id,
                "version": event.originator_version,
                "type": event_type(event),
                "recorded_at": event.timestamp.isoformat(),
                "actor": event.actor,
                "data": event_data(event),
                "hash": None,  # The hash chain comes with the ledger.
            }
        )
    return history
