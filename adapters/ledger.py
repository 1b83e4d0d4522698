"""The tamper-evident hash chain over the event log (docs/architecture.md, Tamper evidence).

Every stored event gets a chain entry h_n = sha256(h_prev || canonical bytes of
(position, originator_id, version, topic, state)), written by the event store's
recorder (adapters/event_store.py) in the transaction that inserts the event. The stored
bytes are hashed (after any encryption), so the chain survives a future key deletion.
Writers are serialised (PostgreSQL: LOCK TABLE on the events; SQLite: one writer at a
time), so reading the previous entry inside the transaction is safe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import Connection, Select, select

from adapters.database import Database
from adapters.tables import event_chain, events

GENESIS = "0" * 64
# A stored event as the chain hashes it: its position and the columns the library writes.
STORED_EVENT = (
    events.c.id,
    events.c.originator_id,
    events.c.originator_version,
    events.c.topic,
    events.c.state,
)
_STREAM_BATCH = 5_000


def canonical_bytes(
    position: int, originator_id: UUID, version: int, topic: str, state: bytes
) -> bytes:
    """Length-prefixed fields, so no two different events share the same bytes."""
    topic_bytes = topic.encode("utf-8")
    return b"".join(
        (
            position.to_bytes(8, "big", signed=True),
            originator_id.bytes,
            version.to_bytes(8, "big", signed=True),
            len(topic_bytes).to_bytes(4, "big"),
            topic_bytes,
            len(state).to_bytes(8, "big"),
            state,
        )
    )


def chain_hash(previous: str, canonical: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(previous) + canonical).hexdigest()


@dataclass(frozen=True)
class ChainEntry:
    position: int
    hash: str


def last_entry(connection: Connection) -> ChainEntry | None:
    """The newest chain entry, or None for an empty log."""
    row = connection.execute(
        select(event_chain.c.position, event_chain.c.hash)
        .order_by(event_chain.c.position.desc())
        .limit(1)
    ).first()
    return ChainEntry(int(row.position), str(row.hash)) if row else None


def entries(stored: Sequence[tuple[int, StoredEvent]], previous: str) -> list[ChainEntry]:
    """The chain entries of new events (position order), after the entry `previous`."""
    result = []
    for position, event in sorted(stored, key=lambda item: item[0]):
        previous = chain_hash(
            previous,
            canonical_bytes(
                position,
                _uuid(event.originator_id),
                event.originator_version,
                event.topic,
                event.state,
            ),
        )
        result.append(ChainEntry(position, previous))
    return result


# ---- verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    events: int
    head_position: int
    chain_head: str | None
    verified: bool
    first_bad_position: int | None
    problem: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "head_position": self.head_position,
            "chain_head": self.chain_head,
            "verified": self.verified,
            "first_bad_position": self.first_bad_position,
            "problem": self.problem,
        }


def _stream(connection: Connection, query: Any) -> Iterator[Any]:
    yield from connection.execution_options(stream_results=True, yield_per=_STREAM_BATCH).execute(
        query
    )


def verify(database: Database) -> Verification:
    """Recompute the chain from the first event, in one snapshot of the log."""
    with database.reading() as connection:
        return _verify(connection)


def _verify(connection: Connection) -> Verification:
    """Recompute the chain from the first event; name the first position that differs.

    Streams both tables in position order (constant memory) and merges them, so an event
    without a chain entry, a chain entry without its event, a changed byte, a reordered
    or inserted event and an edited chain entry all show up at their position.
    """
    event_rows = _stream(connection, select(*STORED_EVENT).order_by(events.c.id))
    chain_rows = _stream(
        connection,
        select(event_chain.c.position, event_chain.c.hash).order_by(event_chain.c.position),
    )
    previous = GENESIS
    count = 0
    head = 0
    event = next(event_rows, None)
    entry = next(chain_rows, None)
    while event is not None or entry is not None:
        event_position = event.id if event is not None else None
        entry_position = entry.position if entry is not None else None
        if entry_position is None or (
            event_position is not None and event_position < entry_position
        ):
            return _bad(count, head, previous, event_position, "event has no chain entry")
        if event_position is None or entry_position < event_position:
            return _bad(
                count, head, previous, entry_position, "chain entry has no event (deleted?)"
            )
        assert event is not None and entry is not None
        expected = chain_hash(
            previous,
            canonical_bytes(
                event.id,
                _uuid(event.originator_id),
                event.originator_version,
                event.topic,
                bytes(event.state),
            ),
        )
        if expected != entry.hash:
            return _bad(count, head, previous, event_position, "hash does not match the event")
        previous = expected
        count += 1
        head = event_position
        event = next(event_rows, None)
        entry = next(chain_rows, None)
    return Verification(count, head, previous if count else None, True, None, None)


def _bad(count: int, head: int, previous: str, position: int | None, problem: str) -> Verification:
    return Verification(count, head, previous if count else None, False, position, problem)


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def events_with_hashes() -> Select[Any]:
    """Stored events with their chain entries (None where missing), in log order."""
    return (
        select(*STORED_EVENT, event_chain.c.hash)
        .outerjoin(event_chain, event_chain.c.position == events.c.id)
        .order_by(events.c.id)
    )
