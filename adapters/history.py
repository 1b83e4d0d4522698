"""The event log as people read it: a commitment's history, and the global feed."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from adapters.database import Database
from adapters.ledger import events_with_hashes
from adapters.tables import events
from domain.commitment import Commitment
from domain.tracker import Tracker
from domain.views import describe, diff, event_data, event_type

MAX_FEED_LIMIT = 1000
# The topics of a commitment's events (not tokens', not schedules').
COMMITMENT_TOPICS = get_topic(Commitment) + "."


class Logged:
    """One event of the log as read, with where the log holds it: decoded when first
    asked for (`event`), and written as a history entry by `entry()` (a page decodes and
    writes only what it shows)."""

    __slots__ = ("_event", "_mapper", "_stored", "chain_hash", "leaf", "position")

    def __init__(
        self,
        stored: StoredEvent,
        mapper: Mapper[UUID],
        position: int,
        chain_hash: str | None,
        leaf: int | None,
    ) -> None:
        self._stored, self._mapper, self._event = stored, mapper, None
        self.position, self.chain_hash, self.leaf = position, chain_hash, leaf

    @property
    def version(self) -> int:
        return int(self._stored.originator_version)

    @property
    def topic(self) -> str:
        return self._stored.topic

    @property
    def event(self) -> Commitment.Event:
        if self._event is None:
            self._event = self._mapper.to_domain_event(self._stored)  # type: ignore[assignment]
        return self._event  # type: ignore[return-value]

    def entry(self) -> dict[str, Any]:
        return _entry(self.event, self.position, self.chain_hash, self.leaf)


def _entry(
    event: Commitment.Event, position: int, chain_hash: str | None, leaf: int | None
) -> dict[str, Any]:
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


def _logged(database: Database, tracker: Tracker, query: Any) -> list[Logged]:
    with database.reading() as connection:
        rows = connection.execute(query).all()
    return [
        Logged(
            StoredEvent(
                originator_id=row.originator_id,
                originator_version=row.originator_version,
                topic=row.topic,
                state=bytes(row.state),
            ),
            tracker.mapper,
            row.id,
            row.hash,
            row.leaf,
        )
        for row in rows
    ]


def _entries(database: Database, tracker: Tracker, query: Any) -> list[dict[str, Any]]:
    return [logged.entry() for logged in _logged(database, tracker, query)]


def commitment_log(database: Database, tracker: Tracker, commitment_id: UUID) -> list[Logged]:
    """Every event of the commitment, oldest first, each with its place in the log (the
    commitment page needs both: one query, each event decoded once, when first used)."""
    query = events_with_hashes().where(events.c.originator_id == commitment_id)
    return _logged(database, tracker, query)


def commitment_history(database: Database, tracker: Tracker, ref: str) -> list[dict[str, Any]]:
    """Every event of the commitment, oldest first (GET .../history, docs/api.md)."""
    return [logged.entry() for logged in commitment_log(database, tracker, tracker.get(ref).id)]


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


def versions_in_view(
    events: Iterable[Commitment.Event],
    *,
    version: int | None = None,
    as_of: date | None = None,
    known_at: datetime | None = None,
) -> set[int]:
    """The versions of the events a past state is made of, by the rules of
    `domain.commitment.replay` (and `version`: the first N): what had been recorded by
    `known_at`, less the facts effective after `as_of` (registration always counts)."""
    kept: set[int] = set()
    for event in events:
        if version is not None and event.originator_version > version:
            break
        if known_at is not None and event.timestamp > known_at:
            break
        effective = event.effective_on()
        if kept and as_of is not None and effective is not None and effective > as_of:
            continue
        kept.add(event.originator_version)
    return kept


PROGRESS_TOPIC = get_topic(Commitment.ProgressLogged)


def progress_points(events: Iterable[Commitment.Event]) -> list[tuple[date, int]]:
    """Progress by effective date, as the commitment counts it: for each date logged,
    the percent recorded last for that date (a late report about an earlier date
    takes its place in the line)."""
    by_day: dict[date, int] = {}
    for event in events:
        if isinstance(event, Commitment.ProgressLogged):
            by_day[event.as_of] = event.percent
    return sorted(by_day.items())


def revisions(
    events: Iterable[Commitment.Event], entries: Iterable[dict[str, Any]]
) -> dict[int, dict[str, dict[str, Any]]]:
    """For each `DetailsRevised` among `entries`, by version: each field it changed, as
    {from, to}; the old values are the state before the event (as GET .../diff).

    `events` are all the commitment's events, oldest first: they are folded once, up to
    the last revision asked about (none taken without one), not replayed for each state
    compared."""
    wanted = {e["version"]: e for e in entries if e["type"] == "DetailsRevised"}
    found: dict[int, dict[str, dict[str, Any]]] = {}
    state: Commitment | None = None
    for event in events if wanted else ():
        if not wanted:
            break
        v = event.originator_version
        entry = wanted.pop(v, None)
        before = describe(state, date.min) if entry is not None and state is not None else None
        state = event.mutate(state)
        if entry is None or before is None or state is None:
            continue
        changed = diff(before, describe(state, date.min))
        found[v] = {name: changed[name] for name in entry["data"]["changes"] if name in changed}
    return found
