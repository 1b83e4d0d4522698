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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import Connection, Select, select, tuple_

from adapters.database import Database
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
from domain.merkle import Frontier, NodeId

# A stored event as the chain hashes it: its position and the columns the library writes.
STORED_EVENT = (
    events.c.id,
    events.c.originator_id,
    events.c.originator_version,
    events.c.topic,
    events.c.state,
)
_STREAM_BATCH = 5_000


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
    key = tuple_(merkle_nodes.c.last_leaf, merkle_nodes.c.level)
    rows = connection.execute(
        select(merkle_nodes.c.last_leaf, merkle_nodes.c.level, merkle_nodes.c.hash).where(
            key.in_([node_key(node) for node in ids])
        )
    )
    return {
        (int(row.level), ((int(row.last_leaf) + 1) >> int(row.level)) - 1): bytes(row.hash)
        for row in rows
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


def _stream(connection: Connection, query: Any) -> Iterator[Any]:
    # Options on the statement, not the connection: SQLAlchemy 2 changes a connection's
    # options in place, and a write after a verify in the same transaction would then
    # run through a server-side cursor (DECLARE ... CURSOR FOR INSERT on PostgreSQL).
    yield from connection.execute(
        query.execution_options(stream_results=True, yield_per=_STREAM_BATCH)
    )


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
    """
    event_rows = _stream(connection, select(*STORED_EVENT).order_by(events.c.id))
    chain_rows = _stream(
        connection,
        select(event_chain.c.position, event_chain.c.hash, event_chain.c.leaf).order_by(
            event_chain.c.position
        ),
    )
    node_rows = _stream(
        connection,
        select(merkle_nodes.c.last_leaf, merkle_nodes.c.level, merkle_nodes.c.hash).order_by(
            merkle_nodes.c.last_leaf, merkle_nodes.c.level
        ),
    )
    previous = GENESIS
    frontier = Frontier()
    head = 0
    event = next(event_rows, None)
    entry = next(chain_rows, None)
    try:
        # The checkpoints signed over this log: its tree must still have their roots.
        signed = _signed_roots(connection, operator)
        while event is not None or entry is not None:
            event_position = event.id if event is not None else None
            entry_position = entry.position if entry is not None else None
            if entry_position is None or (
                event_position is not None and event_position < entry_position
            ):
                raise _Bad(event_position, "event has no chain entry")
            if event_position is None or entry_position < event_position:
                raise _Bad(entry_position, "chain entry has no event (deleted?)")
            assert event is not None and entry is not None
            canonical = row_bytes(event)
            expected = chain_hash(previous, canonical)
            if expected != entry.hash:
                raise _Bad(event_position, "hash does not match the event")
            if entry.leaf != frontier.size:
                raise _Bad(
                    event_position,
                    f"chain entry gives leaf index {entry.leaf}, expected {frontier.size}",
                )
            grown, completed = frontier.append(merkle.leaf_hash(canonical))
            for node, value in completed:
                _check_node(next(node_rows, None), node, value, event_position)
            previous, frontier, head = expected, grown, event_position
            if grown.size in signed and grown.root().hex() != signed[grown.size]:
                raise _Bad(
                    event_position,
                    f"the tree of the first {grown.size} events does not have the root of "
                    f"the signed checkpoint {grown.size} ({signed[grown.size]}): the log "
                    "was rewritten",
                )
            event = next(event_rows, None)
            entry = next(chain_rows, None)
        extra = next(node_rows, None)
        if extra is not None:
            raise _Bad(None, f"Merkle node at leaf {extra.last_leaf} has no event")
        beyond = max(signed, default=0)
        if beyond > frontier.size:
            raise _Bad(
                None,
                f"the log has {frontier.size} events, fewer than the {beyond} of the signed "
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
        return _result(frontier, head, previous, bad.position, bad.problem)
    return _result(frontier, head, previous, None, None)


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


def _check_node(row: Any, node: NodeId, value: bytes, position: int) -> None:
    level, index = node
    if row is None or node_key(node) != (row.last_leaf, row.level):
        raise _Bad(position, f"Merkle node (level {level}, index {index}) is missing")
    if bytes(row.hash) != value:
        raise _Bad(position, f"Merkle node (level {level}, index {index}) does not match")


def _result(
    frontier: Frontier, head: int, previous: str, position: int | None, problem: str | None
) -> Verification:
    count = frontier.size
    return Verification(
        count,
        head,
        previous if count else None,
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
