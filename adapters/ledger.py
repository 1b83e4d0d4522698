"""Tamper evidence over the event log: a hash chain and a Merkle tree (docs/architecture.md).

Every stored event has canonical bytes (position, originator_id, version, topic, state;
defined in domain/log_bytes.py, which the offline verifier shares). They make
- its chain entry h_n = sha256(h_prev || canonical bytes), and
- its leaf in an RFC 9162 Merkle tree (domain/merkle.py), at the next dense leaf index;
  the tree's complete perfect subtrees are stored as nodes (table merkle_nodes), so
  proofs and roots of any past size are a few reads away.
Both are written by the event store's recorder (adapters/event_store.py) in the
transaction that inserts the event. The stored bytes are hashed (after any encryption),
so both survive a future key deletion. Writers are serialised (PostgreSQL: LOCK TABLE on
the events; SQLite: one writer at a time), so extending the tip inside the transaction is
safe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import Connection, Select, select

from adapters.database import Database, driver_rows
from adapters.log_guard import shrinkage
from adapters.seals import Sealer, check_artefacts
from adapters.snapshots import check_snapshots
from adapters.tables import checkpoints, event_chain, events, merkle_nodes
from domain import merkle
from domain.checkpoint import Checkpoint, Note, NoteError, Verifier

# Re-exported: migrations 0003 and 0007 and other callers import them from here.
from domain.log_bytes import GENESIS as GENESIS
from domain.log_bytes import canonical_bytes as canonical_bytes
from domain.log_bytes import chain_hash as chain_hash
from domain.log_bytes import stored_bytes
from domain.merkle import Frontier, NodeId

# A stored event as the chain hashes it: its position and the columns the library writes.
STORED_EVENT = (
    events.c.id,
    events.c.originator_id,
    events.c.originator_version,
    events.c.topic,
    events.c.state,
)


@dataclass(frozen=True)
class ChainEntry:
    position: int
    hash: str
    leaf: int


@dataclass(frozen=True)
class Tip:
    """Where the log ends: its newest chain entry (None: empty log) and the Merkle tree's
    frontier, all a writer needs to extend both."""

    entry: ChainEntry | None
    frontier: Frontier

    def follows(self, next_position: int) -> bool:
        """Is this the tip just before `next_position`? (Empty: before any position.)"""
        if self.entry is None:
            return self.frontier.size == 0
        return self.entry.position == next_position - 1 and self.entry.leaf + 1 == (
            self.frontier.size
        )


EMPTY_TIP = Tip(None, Frontier())


def read_tip(connection: Connection) -> Tip:
    """The tip as stored: the newest chain entry and the frontier's nodes."""
    row = connection.execute(
        select(event_chain.c.position, event_chain.c.hash, event_chain.c.leaf)
        .order_by(event_chain.c.position.desc())
        .limit(1)
    ).first()
    if row is None:
        return EMPTY_TIP
    entry = ChainEntry(int(row.position), str(row.hash), int(row.leaf))
    size = entry.leaf + 1
    ids = Frontier.node_ids(size)
    nodes = read_nodes(connection, ids)
    return Tip(entry, Frontier(size, tuple(nodes[node] for node in ids)))


def extend(
    tip: Tip, stored: Sequence[tuple[int, StoredEvent]]
) -> tuple[Tip, list[ChainEntry], list[dict[str, Any]]]:
    """Chain entries and Merkle nodes of new events (given with their positions), and the
    new tip."""
    entry, frontier = tip.entry, tip.frontier
    previous = entry.hash if entry is not None else GENESIS
    entries: list[ChainEntry] = []
    nodes: list[dict[str, Any]] = []
    for position, event in sorted(stored, key=lambda item: item[0]):
        canonical = canonical_bytes(
            position,
            as_uuid(event.originator_id),
            event.originator_version,
            event.topic,
            event.state,
        )
        previous = chain_hash(previous, canonical)
        entry = ChainEntry(position, previous, frontier.size)
        entries.append(entry)
        frontier, completed = frontier.append(merkle.leaf_hash(canonical))
        nodes.extend(node_row(node, value) for node, value in completed)
    return Tip(entry, frontier), entries, nodes


def node_key(node: NodeId) -> tuple[int, int]:
    """A node's key in merkle_nodes: (the last leaf it covers, its level)."""
    level, index = node
    return ((index + 1) << level) - 1, level


def node_row(node: NodeId, value: bytes) -> dict[str, Any]:
    last_leaf, level = node_key(node)
    return {"last_leaf": last_leaf, "level": level, "hash": value}


def read_nodes(connection: Connection, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
    """The stored nodes among `ids`, in one query (a missing one is simply absent)."""
    if not ids:
        return {}
    wanted = {node_key(node) for node in ids}
    # By the key's first column alone: SQLite scans the whole table for a tuple IN (a
    # tenth of a second a read at a million events), and a few more nodes cost nothing.
    rows = connection.execute(
        select(merkle_nodes.c.last_leaf, merkle_nodes.c.level, merkle_nodes.c.hash).where(
            merkle_nodes.c.last_leaf.in_(sorted({last_leaf for last_leaf, _ in wanted}))
        )
    )
    return {
        (level, ((last_leaf + 1) >> level) - 1): bytes(value)
        for last_leaf, level, value in rows
        if (last_leaf, level) in wanted
    }


# ---- verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    events: int
    head_position: int
    chain_head: str | None
    verified: bool
    first_bad_position: int | None
    problem: str | None
    # The Merkle tree of the events verified (the whole log when verified).
    tree_size: int = 0
    root_hash: str = merkle.EMPTY_ROOT.hex()

    def why(self) -> str:
        """What is wrong, where: "at position N: problem" (or the problem alone)."""
        if self.first_bad_position is None:
            return f": {self.problem}"
        return f" at position {self.first_bad_position}: {self.problem}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "head_position": self.head_position,
            "chain_head": self.chain_head,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "verified": self.verified,
            "first_bad_position": self.first_bad_position,
            "problem": self.problem,
        }


def verify(
    database: Database, operator: Verifier | None = None, sealer: Sealer | None = None
) -> Verification:
    """Recompute the chain and the Merkle tree from the first event, in one snapshot of
    the log, and check them against the checkpoints signed over it (their signatures too,
    given the operator's key). Given a sealer (a process with the signing key), the seals
    of snapshots and archived artefacts are checked too (adapters/seals.py)."""
    with database.reading() as connection:
        return verify_log(connection, operator, sealer)


class _Bad(Exception):
    def __init__(self, position: int | None, problem: str) -> None:
        self.position, self.problem = position, problem


def verify_log(
    connection: Connection, operator: Verifier | None = None, sealer: Sealer | None = None
) -> Verification:
    """Recompute the chain and the tree from the first event; name the first position
    where what is stored differs.

    Streams the three tables in log order (constant memory) and merges them, so an event
    without a chain entry, a chain entry without its event, a changed byte, a reordered
    or inserted event, an edited chain entry, a wrong leaf index and an edited or missing
    Merkle node all show up at their position.

    The loop runs once per event of the log, so it works on the driver's rows and
    hashlib directly (no Row, Frontier or hex round trip per event): the same checks as
    Frontier.append and chain_hash, in the same order.
    """
    sha256 = hashlib.sha256
    previous = bytes.fromhex(GENESIS)  # the chain entry of the last event checked
    nodes: list[bytes] = []  # the frontier (Frontier.nodes) of the leaves checked
    size = head = 0
    try:
        # The checkpoints signed over this log: its tree must still have their roots.
        signed = _signed_roots(connection, operator)
        with (
            driver_rows(connection, select(*STORED_EVENT).order_by(events.c.id)) as event_rows,
            driver_rows(connection, _CHAIN) as chain_rows,
            driver_rows(connection, _NODES) as node_rows,
        ):
            event = next(event_rows, None)
            entry = next(chain_rows, None)
            while event is not None or entry is not None:
                if entry is None or (event is not None and event[0] < entry[0]):
                    raise _Bad(event[0] if event is not None else None, "event has no chain entry")
                if event is None or entry[0] < event[0]:
                    raise _Bad(entry[0], "chain entry has no event (deleted?)")
                position, originator, version, topic, state = event
                if type(originator) is not bytes:  # PostgreSQL gives a UUID
                    originator = as_uuid(originator).bytes
                canonical = stored_bytes(position, originator, version, topic, bytes(state))
                expected = sha256(previous + canonical).digest()
                if expected.hex() != entry[1]:
                    raise _Bad(position, "hash does not match the event")
                if entry[2] != size:
                    raise _Bad(
                        position, f"chain entry gives leaf index {entry[2]}, expected {size}"
                    )
                # Frontier.append: the leaf, then each node it completes (their left
                # siblings are the frontier's last nodes), every one checked as stored.
                value = sha256(b"\x00" + canonical).digest()
                level, index, kept = 0, size, len(nodes)
                _check_node(next(node_rows, None), size, level, index, value, position)
                while index & 1:
                    kept -= 1
                    value = sha256(b"\x01" + nodes[kept] + value).digest()
                    level, index = level + 1, index >> 1
                    _check_node(next(node_rows, None), size, level, index, value, position)
                del nodes[kept:]
                nodes.append(value)
                previous, size, head = expected, size + 1, position
                if size in signed and Frontier(size, tuple(nodes)).root().hex() != signed[size]:
                    raise _Bad(
                        position,
                        f"the tree of the first {size} events does not have the root of "
                        f"the signed checkpoint {size} ({signed[size]}): the log "
                        "was rewritten",
                    )
                event = next(event_rows, None)
                entry = next(chain_rows, None)
            extra = next(node_rows, None)
            if extra is not None:
                raise _Bad(None, f"Merkle node at leaf {extra[0]} has no event")
        beyond = max(signed, default=0)
        if beyond > size:
            raise _Bad(
                None,
                f"the log has {size} events, fewer than the {beyond} of the signed "
                f"checkpoint {beyond} ({signed[beyond]}): events were removed",
            )
        shrunk = shrinkage(connection)
        if shrunk is not None:
            raise _Bad(None, shrunk)
        # What loads faster than the log must say what the log says (adapters/snapshots.py).
        bad_snapshot = check_snapshots(connection, sealer)
        if bad_snapshot is not None:
            raise _Bad(bad_snapshot.position, bad_snapshot.problem)
        # Archived reports are served as fact as well: their bytes must be theirs.
        if sealer is not None:
            bad_artefact = check_artefacts(connection, sealer)
            if bad_artefact is not None:
                raise _Bad(None, bad_artefact)
    except _Bad as bad:
        return _result(Frontier(size, tuple(nodes)), head, previous, bad.position, bad.problem)
    return _result(Frontier(size, tuple(nodes)), head, previous, None, None)


_CHAIN = select(event_chain.c.position, event_chain.c.hash, event_chain.c.leaf).order_by(
    event_chain.c.position
)
_NODES = select(merkle_nodes.c.last_leaf, merkle_nodes.c.level, merkle_nodes.c.hash).order_by(
    merkle_nodes.c.last_leaf, merkle_nodes.c.level
)


def _signed_roots(connection: Connection, operator: Verifier | None) -> dict[int, str]:
    """{tree size: root} of the stored checkpoints, as their signed notes state them (the
    table's other columns are not signed)."""
    roots: dict[int, str] = {}
    for size, text in connection.execute(select(checkpoints.c.tree_size, checkpoints.c.note)):
        try:
            note = Note.parse(text)
            stated = Checkpoint.parse(note.body)
        except NoteError as error:
            raise _Bad(None, f"the stored checkpoint {size} is unreadable: {error}") from None
        if stated.size != size or (operator is not None and operator.verify(note) is None):
            raise _Bad(
                None,
                f"the stored checkpoint {size} is not as the operator signed it: the "
                "checkpoints table was edited",
            )
        roots[stated.size] = stated.root.hex()
    return roots


def _check_node(
    row: tuple[Any, ...] | None, leaf: int, level: int, index: int, value: bytes, position: int
) -> None:
    """The node (level, index), completed by leaf `leaf` (so keyed (leaf, level)), must be
    the next stored one and hold `value`."""
    if row is None or row[0] != leaf or row[1] != level:
        raise _Bad(position, f"Merkle node (level {level}, index {index}) is missing")
    if bytes(row[2]) != value:
        raise _Bad(position, f"Merkle node (level {level}, index {index}) does not match")


def _result(
    frontier: Frontier, head: int, previous: bytes, position: int | None, problem: str | None
) -> Verification:
    count = frontier.size
    return Verification(
        count,
        head,
        previous.hex() if count else None,
        problem is None,
        position,
        problem,
        tree_size=count,
        root_hash=frontier.root().hex(),
    )


def row_bytes(row: Any) -> bytes:
    """The canonical bytes of a stored event read with STORED_EVENT's columns."""
    return canonical_bytes(
        row.id, as_uuid(row.originator_id), row.originator_version, row.topic, bytes(row.state)
    )


def as_uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def events_with_hashes() -> Select[Any]:
    """Stored events with their chain entries and leaf indexes (None where missing), in
    log order."""
    return (
        select(*STORED_EVENT, event_chain.c.hash, event_chain.c.leaf)
        .outerjoin(event_chain, event_chain.c.position == events.c.id)
        .order_by(events.c.id)
    )
