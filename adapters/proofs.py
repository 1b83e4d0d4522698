"""RFC 9162 proofs over the log's Merkle tree (GET /api/v1/proofs/...), read from the
stored nodes (adapters/ledger.py) in one query each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from adapters.database import Database
from adapters.ledger import read_nodes
from adapters.tables import event_chain
from domain import merkle
from domain.errors import InvalidValue, NotFound, StateConflict


def tree_size(connection: Connection) -> int:
    """Leaves in the tree: the events with a chain entry."""
    last = connection.execute(select(func.max(event_chain.c.leaf))).scalar_one()
    return 0 if last is None else int(last) + 1


def root_at(connection: Connection, size: int) -> bytes:
    """The root of the tree of the first `size` leaves."""
    return merkle.root_hash(size, _nodes(connection, merkle.root_ids(size)))


def tree_head_at(connection: Connection, position: int) -> tuple[int, str]:
    """(size, root hex) of the tree of the events at or before `position`."""
    last = connection.execute(
        select(func.max(event_chain.c.leaf)).where(event_chain.c.position <= position)
    ).scalar_one()
    size = 0 if last is None else int(last) + 1
    return size, root_at(connection, size).hex()


def inclusion(database: Database, position: int, size: int | None = None) -> dict[str, Any]:
    """Proof that the event at `position` is in the tree of `size` leaves (default: now)."""
    with database.reading() as connection:
        leaf = connection.execute(
            select(event_chain.c.leaf).where(event_chain.c.position == position)
        ).scalar_one_or_none()
        if leaf is None:
            raise NotFound(f"no event at position {position}")
        current = tree_size(connection)
        size = current if size is None else size
        if not leaf < size <= current:
            raise InvalidValue(
                f"tree_size must be above the event's leaf index {leaf} and at most the "
                f"tree's size {current}; got {size}"
            )
        ids = merkle.inclusion_proof_ids(leaf, size)
        nodes = _nodes(connection, [*ids, *merkle.root_ids(size), (0, leaf)])
    return {
        "position": position,
        "leaf_index": leaf,
        "tree_size": size,
        "leaf_hash": nodes[(0, leaf)].hex(),
        "root_hash": merkle.root_hash(size, nodes).hex(),
        "path": [node.hex() for node in merkle.inclusion_proof(leaf, size, nodes)],
    }


def consistency(database: Database, first: int, second: int | None = None) -> dict[str, Any]:
    """Proof that the tree of `second` leaves (default: now) extends that of `first`."""
    with database.reading() as connection:
        current = tree_size(connection)
        second = current if second is None else second
        if not 0 < first <= second <= current:
            raise InvalidValue(
                f"need 0 < from <= to <= the tree's size {current}; got from={first}, to={second}"
            )
        ids = merkle.consistency_proof_ids(first, second)
        nodes = _nodes(connection, [*ids, *merkle.root_ids(first), *merkle.root_ids(second)])
    return {
        "from": first,
        "to": second,
        "from_root": merkle.root_hash(first, nodes).hex(),
        "to_root": merkle.root_hash(second, nodes).hex(),
        "path": [node.hex() for node in merkle.consistency_proof(first, second, nodes)],
    }


def consistency_nodes(connection: Connection, first: int, second: int) -> list[bytes]:
    """The consistency proof from the tree of `first` leaves to that of `second`."""
    if first == 0 or first == second:
        return []
    ids = merkle.consistency_proof_ids(first, second)
    return merkle.consistency_proof(first, second, _nodes(connection, ids))


def _nodes(connection: Connection, ids: list[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
    nodes = read_nodes(connection, ids)
    missing = [node for node in ids if node not in nodes]
    if missing:
        # Only a damaged database lacks nodes: `commitments verify` names where.
        level, index = missing[0]
        raise ProofUnavailable(
            f"the Merkle tree lacks node (level {level}, index {index}); run commitments verify"
        )
    return nodes


class ProofUnavailable(StateConflict):
    """The stored tree cannot give the proof (it is damaged): 409, not a server error."""
