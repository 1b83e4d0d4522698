"""What an operator covering its tracks would do to the database, for the trust tests:
drop the newest events, edit one and recompute every hash after it, hide the
checkpoints. Each leaves a log whose chain and tree agree with themselves."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import StoredEvent
from sqlalchemy import delete, select, text

from adapters.bootstrap import Services
from adapters.ledger import EMPTY_TIP, STORED_EVENT, extend
from adapters.tables import checkpoint_cosignatures, checkpoints, event_chain, events, merkle_nodes


def sql(services: Services, statement: str, **params: Any) -> None:
    with services.database.writing() as connection:
        connection.execute(text(statement), params)


def progress_position(services: Services) -> int:
    """The newest ProgressLogged event's position (its state has a percent to edit)."""
    with services.database.reading() as connection:
        return int(
            connection.execute(
                select(events.c.id)
                .where(events.c.topic.like("%ProgressLogged"))
                .order_by(events.c.id.desc())
                .limit(1)
            ).scalar_one()
        )


def truncate(services: Services, keep: int) -> None:
    """Drop the events after position `keep` with their chain entries and tree nodes."""
    sql(services, "DELETE FROM tracker_events WHERE id > :keep", keep=keep)
    sql(services, "DELETE FROM event_chain WHERE position > :keep", keep=keep)
    sql(services, "DELETE FROM merkle_nodes WHERE last_leaf >= :keep", keep=keep)
    services.tracker.recorder.tip = None  # type: ignore[attr-defined]


def rewrite(services: Services, position: int | None = None) -> None:
    """Edit a progress figure (default: the newest) and recompute every chain entry and
    tree node: a log that `verify` passes on its own, though its history changed."""
    position = progress_position(services) if position is None else position
    with services.database.writing() as connection:
        state = connection.execute(
            select(events.c.state).where(events.c.id == position)
        ).scalar_one()
        edited = bytes(state).replace(b'"percent":', b'"percent":9', 1)
        assert edited != bytes(state)
        connection.execute(events.update().where(events.c.id == position).values(state=edited))
        rows = connection.execute(select(*STORED_EVENT).order_by(events.c.id)).all()
        stored = [
            (r.id, StoredEvent(r.originator_id, r.originator_version, r.topic, bytes(r.state)))
            for r in rows
        ]
        _, entries, nodes = extend(EMPTY_TIP, stored)
        connection.execute(delete(event_chain))
        connection.execute(delete(merkle_nodes))
        connection.execute(
            event_chain.insert(),
            [{"position": e.position, "hash": e.hash, "leaf": e.leaf} for e in entries],
        )
        connection.execute(merkle_nodes.insert(), nodes)
    services.tracker.recorder.tip = None  # type: ignore[attr-defined]


def forget_checkpoints(services: Services) -> None:
    """Hide the operator's earlier signatures, so that it signs over what it rewrote."""
    with services.database.writing() as connection:
        connection.execute(delete(checkpoint_cosignatures))
        connection.execute(delete(checkpoints))
