"""The tamper-evident hash chain over the event log (DESIGN.md, Tamper evidence).

Every stored event gets a chain entry h_n = sha256(h_prev || canonical bytes of
(position, originator_id, version, topic, state)), written by the event store's own
recorder in the transaction that inserts the event. The stored bytes are hashed (after
any encryption), so the chain survives a future key deletion. Writers are serialised
(PostgreSQL: the recorder's LOCK TABLE; SQLite: one writer at a time), so reading the
previous entry inside the transaction is safe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import Connection, Select, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from adapters.tables import event_chain, events

GENESIS = "0" * 64
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


def last_entry(connection: Connection | Session) -> tuple[int, str]:
    """(position, hash) of the newest chain entry, or (0, GENESIS)."""
    row = connection.execute(
        select(event_chain.c.position, event_chain.c.hash)
        .order_by(event_chain.c.position.desc())
        .limit(1)
    ).first()
    return (int(row.position), str(row.hash)) if row else (0, GENESIS)


def append(session: Session, stored: Sequence[tuple[int, StoredEvent]]) -> None:
    """Chain entries for newly inserted events (in the inserting transaction)."""
    _, previous = last_entry(session)
    rows = []
    for position, event in sorted(stored, key=lambda item: item[0]):
        previous = chain_hash(
            previous,
            canonical_bytes(
                position,
                UUID(str(event.originator_id)),
                event.originator_version,
                event.topic,
                event.state,
            ),
        )
        rows.append({"position": position, "hash": previous})
    if rows:
        session.execute(insert(event_chain), rows)


class ChainedApplicationRecorder(SQLAlchemyApplicationRecorder):
    """The library's recorder, plus a chain entry per event in the same transaction."""

    def _insert_stored_events(
        self, session: Session, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int]:
        positions = super()._insert_stored_events(session, stored_events, **kwargs)
        append(session, list(zip(positions, stored_events, strict=True)))
        return positions


class ChainedSQLAlchemyFactory(SQLAlchemyFactory):
    """PERSISTENCE_MODULE topic for the Tracker: eventsourcing-sqlalchemy with the chain."""

    application_recorder_class = ChainedApplicationRecorder


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


def _stream(engine: Engine, query: Any) -> Iterator[Any]:
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=_STREAM_BATCH).execute(
            query
        )
        yield from result


def verify(engine: Engine) -> Verification:
    """Recompute the chain from the first event; name the first position that differs.

    Streams both tables in position order (constant memory) and merges them, so an event
    without a chain entry, a chain entry without its event, a changed byte, a reordered
    or inserted event and an edited chain entry all show up at their position.
    """
    event_rows = _stream(
        engine,
        select(
            events.c.id,
            events.c.originator_id,
            events.c.originator_version,
            events.c.topic,
            events.c.state,
        ).order_by(events.c.id),
    )
    chain_rows = _stream(
        engine, select(event_chain.c.position, event_chain.c.hash).order_by(event_chain.c.position)
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
        select(
            events.c.id,
            events.c.originator_id,
            events.c.originator_version,
            events.c.topic,
            events.c.state,
            event_chain.c.hash,
        )
        .outerjoin(event_chain, event_chain.c.position == events.c.id)
        .order_by(events.c.id)
    )
