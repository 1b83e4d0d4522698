"""Signed checkpoints of the log and the witnesses' cosignatures (docs/trust.md).

A checkpoint is a C2SP signed note (domain/checkpoint.py) stating the log's origin, its
Merkle tree size and root. The operator signs one on demand (`commitments checkpoint`),
on a schedule (the report scheduler) and when a report is archived; each party's witness
(`commitments witness`, adapters/witness.py) fetches the newest one, checks it extends
the one it saw before, and posts its cosignature, kept here line by line.

The operator signs only what the events themselves give: before signing, the stored
tree at the previous checkpoint must still have that checkpoint's root, and the events
after it are hashed again from their stored bytes and must give the stored tree's root.
An edited, truncated or recomputed log is thus refused here too, not only by witnesses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from adapters.database import Database
from adapters.leases import Lease
from adapters.ledger import STORED_EVENT, read_nodes, row_bytes, verify_log
from adapters.metrics import Metrics
from adapters.proofs import consistency_nodes, root_at, tree_size
from adapters.settings import ConfigurationError
from adapters.tables import (
    checkpoint_cosignatures,
    checkpoints,
    event_chain,
    events,
    merkle_nodes,
)
from domain import clock, merkle
from domain.checkpoint import (
    TIMESTAMP_SIZE,
    Checkpoint,
    Note,
    NoteError,
    Signature,
    Signer,
    Verifier,
    verified_by,
)
from domain.errors import InvalidValue, NotFound, StateConflict


def read_signer(path: str | None) -> Signer | None:
    """The operator's signing key from its file (COMMITMENTS_SIGNING_KEY_FILE)."""
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigurationError(
            f"COMMITMENTS_SIGNING_KEY_FILE: cannot read {path}: {error.strerror}"
        ) from None
    try:
        signer = Signer.parse(text)
    except NoteError as error:
        raise ConfigurationError(
            f"COMMITMENTS_SIGNING_KEY_FILE: {path} holds no signing key: {error}"
        ) from None
    if signer.kind != "ed25519":
        raise ConfigurationError(
            f"COMMITMENTS_SIGNING_KEY_FILE: {path} holds a witness (cosignature) key; the "
            "operator signs with an ed25519 key (commitments keygen without --witness)"
        )
    return signer


@dataclass(frozen=True)
class _Head:
    tree_size: int
    root_hash: str


class CheckpointRefused(StateConflict):
    """The operator will not sign: the log does not extend its last checkpoint (409)."""


class NoSigningKey(InvalidValue):
    """No signing key is configured."""


@dataclass(frozen=True)
class Signed:
    """A stored checkpoint: its tree head and the note with every signature it has."""

    checkpoint: Checkpoint
    note: Note
    signed_at: datetime

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root_hash(self) -> str:
        return self.checkpoint.root.hex()


@dataclass(frozen=True)
class Covering:
    """How a signed checkpoint covers the tree head of a report (or any older tree)."""

    checkpoint: Signed
    signed_by: list[str]
    cosigned_by: list[str]
    consistent: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.checkpoint.size,
            "root_hash": self.checkpoint.root_hash,
            "signed_by": self.signed_by,
            "cosigned_by": self.cosigned_by,
            "consistent": self.consistent,
            "note": self.checkpoint.note.text(),
        }


class Checkpoints:
    """The operator's checkpoints of one log."""

    def __init__(
        self,
        database: Database,
        *,
        origin: str,
        signer: Signer | None,
        operator: Verifier | None,
        witnesses: Sequence[Verifier],
        now: Callable[[], datetime] = clock.now,
        metrics: Metrics | None = None,
    ) -> None:
        self.database = database
        self.metrics = metrics
        self.origin = origin
        self.signer = signer
        self.operator = operator or (signer.verifier() if signer is not None else None)
        if signer is not None and self.operator != signer.verifier():
            raise ConfigurationError(
                "COMMITMENTS_OPERATOR_KEY is not the public key of the signing key in "
                "COMMITMENTS_SIGNING_KEY_FILE"
            )
        self.witnesses = list(witnesses)
        self.now = now

    # ---- signing -----------------------------------------------------------------------

    def sign(self, *, whole_log: bool = False, fence: Lease | None = None) -> Signed:
        """Sign the log's current tree head (or return the checkpoint of that size).

        The events since the last checkpoint are always hashed again; `whole_log` (on
        demand: the CLI and the API) first verifies the whole chain and tree as well, so
        an edit of an older event's bytes is refused too, at the cost of reading the log.
        `fence`: the lease of the scheduler that signs, checked in the write transaction."""
        if self.signer is None:
            raise NoSigningKey(
                "no signing key: set COMMITMENTS_SIGNING_KEY_FILE "
                "(make one with `commitments keygen --name NAME --out FILE`)"
            )
        # Everything read and checked in one snapshot of the log, outside any write
        # transaction: hashing the log (all of it on demand) must not hold writers back.
        with self.database.reading() as connection:
            size = tree_size(connection)
            if size == 0:
                raise CheckpointRefused("the log is empty: there is nothing to sign yet")
            if whole_log:
                checked = verify_log(connection, self.operator)
                if not checked.verified:
                    raise CheckpointRefused(f"the log does not verify{checked.why()}")
            last = self._last_signed(connection)
            if last is not None and int(last.tree_size) >= size:
                if int(last.tree_size) > size:
                    raise CheckpointRefused(
                        f"the log has {size} events, fewer than the {last.tree_size} of the "
                        f"last signed checkpoint ({last.root_hash}): events were removed"
                    )
                if root_at(connection, size).hex() != last.root_hash:
                    raise CheckpointRefused(
                        f"the stored tree of {size} events no longer has the root of the "
                        f"signed checkpoint {size} ({last.root_hash}): the log was rewritten"
                    )
                return self._signed(connection, _latest_row(connection))
            root = self._checked_root(connection, last, size)
        body = Checkpoint(self.origin, size, root).body()
        note = Note(body, (self.signer.sign(body),))
        with self.database.writing() as connection:
            if fence is not None:
                fence.fence(connection)
            inserted = connection.execute(
                _insert_or_nothing(connection, checkpoints).values(
                    tree_size=size, root_hash=root.hex(), note=note.text(), signed_at=self.now()
                )
            )
            if self.metrics is not None and inserted.rowcount:  # (not one another process won)
                self.metrics.checkpoints_signed.inc()
            row = connection.execute(
                select(checkpoints).where(checkpoints.c.tree_size == size)
            ).one()
            if row.root_hash != root.hex():  # signed meanwhile over another tree
                raise CheckpointRefused(
                    f"checkpoint {size} was signed meanwhile with root {row.root_hash}, but "
                    f"the log's first {size} events give {root.hex()}: the log forked"
                )
            return self._signed(connection, row)

    def failed_in_background(self) -> None:
        """A scheduled signing failed or was refused (it was logged): count it."""
        if self.metrics is not None:
            self.metrics.checkpoint_failures.inc()

    def _last_signed(self, connection: Connection) -> _Head | None:
        """The newest stored checkpoint as its signed note states it: the table's columns
        are not signed, so an edit there must not pass for the operator's word."""
        row = _latest_row(connection)
        if row is None:
            return None
        try:
            note = Note.parse(row.note)
            stated = Checkpoint.parse(note.body)
        except NoteError as error:
            raise CheckpointRefused(
                f"the stored checkpoint {row.tree_size} is unreadable: {error}"
            ) from None
        assert self.operator is not None  # a signer implies its public key
        if self.operator.verify(note) is None or stated.size != int(row.tree_size):
            raise CheckpointRefused(
                f"the stored checkpoint {row.tree_size} is not as the operator key "
                f"{self.operator.name} signed it: the checkpoints table was edited"
            )
        return _Head(stated.size, stated.root.hex())

    def _checked_root(self, connection: Connection, last: _Head | None, size: int) -> bytes:
        """The root of the first `size` leaves, from the events' own bytes, refusing a
        stored tree that no longer extends the last checkpoint."""
        start = 0 if last is None else int(last.tree_size)
        ids = merkle.Frontier.node_ids(start)
        nodes = read_nodes(connection, ids)
        if any(node not in nodes for node in ids):
            raise CheckpointRefused(f"the stored tree lacks nodes of checkpoint {start}")
        frontier = merkle.Frontier(start, tuple(nodes[node] for node in ids))
        if last is not None and frontier.root().hex() != last.root_hash:
            raise CheckpointRefused(
                f"the stored tree of {start} events no longer has the root of the signed "
                f"checkpoint {start} ({last.root_hash}): the log was rewritten"
            )
        rows = connection.execute(
            select(*STORED_EVENT, event_chain.c.leaf, merkle_nodes.c.hash.label("stored"))
            .join(event_chain, event_chain.c.position == events.c.id)
            .outerjoin(
                merkle_nodes,
                (merkle_nodes.c.last_leaf == event_chain.c.leaf) & (merkle_nodes.c.level == 0),
            )
            # Bounded: on PostgreSQL each statement sees what committed before it began.
            .where(event_chain.c.leaf >= start, event_chain.c.leaf < size)
            .order_by(event_chain.c.leaf)
        )
        for row in rows:
            if int(row.leaf) != frontier.size:
                raise CheckpointRefused(f"leaf {frontier.size} is missing from the log")
            leaf = merkle.leaf_hash(row_bytes(row))
            if row.stored is None or bytes(row.stored) != leaf:
                raise CheckpointRefused(
                    f"the event at position {row.id} (leaf {row.leaf}) does not give its "
                    "stored leaf hash: its bytes or the tree were changed after it was written"
                )
            frontier, _ = frontier.append(leaf)
        if frontier.size != size or frontier.root() != root_at(connection, size):
            raise CheckpointRefused(
                f"the stored tree of {size} events does not match the events' own bytes "
                f"after checkpoint {start}"
            )
        return frontier.root()

    # ---- reading -----------------------------------------------------------------------

    def latest(self) -> Signed:
        with self.database.reading() as connection:
            row = _latest_row(connection)
            if row is None:
                raise NotFound("no checkpoint has been signed yet")
            return self._signed(connection, row)

    def at(self, size: int) -> Signed:
        with self.database.reading() as connection:
            row = connection.execute(
                select(checkpoints).where(checkpoints.c.tree_size == size)
            ).one_or_none()
            if row is None:
                raise NotFound(f"no checkpoint of tree size {size}")
            return self._signed(connection, row)

    def _signed(self, connection: Connection, row: Any) -> Signed:
        """A stored checkpoint with its cosignatures; an edited row is a refusal (409),
        not a server error."""
        lines = connection.execute(
            select(checkpoint_cosignatures.c.line)
            .where(checkpoint_cosignatures.c.tree_size == row.tree_size)
            .order_by(checkpoint_cosignatures.c.name, checkpoint_cosignatures.c.key_id)
        ).scalars()
        try:
            note = Note.parse(row.note)
            for line in lines:
                note = note.with_signature(Signature.parse(line))
            stated = Checkpoint.parse(note.body)
        except NoteError as error:
            raise CheckpointRefused(
                f"the stored checkpoint {row.tree_size} is unreadable: {error}: the "
                "checkpoints table was edited"
            ) from None
        return Signed(stated, note, clock.as_utc(row.signed_at))

    # ---- cosigning ---------------------------------------------------------------------

    def cosign(self, text: str | bytes) -> Signed:
        """Keep the cosignatures a witness added to one of our checkpoints."""
        try:
            note = Note.parse(text)
            checkpoint = Checkpoint.parse(note.body)
        except NoteError as error:
            raise InvalidValue(f"not a signed checkpoint: {error}") from None
        if not self.witnesses:
            raise InvalidValue("no witness keys are configured (COMMITMENTS_WITNESS_KEYS)")
        # The signatures are checked before the write transaction, each once.
        valid = [(w, w.verify(note)) for w in self.witnesses]
        cosigned = [(w, signature) for w, signature in valid if signature is not None]
        if not cosigned:
            try:
                verified_by(note, self.witnesses)  # says which given key's signature is bad
            except NoteError as error:
                raise InvalidValue(str(error)) from None
            raise InvalidValue("the note carries no cosignature by a configured witness key")
        with self.database.writing() as connection:
            row = connection.execute(
                select(checkpoints).where(checkpoints.c.tree_size == checkpoint.size)
            ).one_or_none()
            if row is None or self._signed(connection, row).note.body != note.body:
                raise NotFound(
                    f"this log signed no checkpoint with that text (tree size {checkpoint.size})"
                )
            for _, signature in cosigned:
                timestamp = int.from_bytes(signature.payload[:TIMESTAMP_SIZE], "big")
                connection.execute(
                    _insert_or_nothing(connection, checkpoint_cosignatures).values(
                        tree_size=checkpoint.size,
                        name=signature.name,
                        key_id=signature.key_id.hex(),
                        line=signature.line().rstrip("\n"),
                        timestamp=timestamp,
                        received_at=self.now(),
                    )
                )
            return self._signed(connection, row)

    # ---- covering a report -------------------------------------------------------------

    def covering(self, size: int, root_hash: str) -> Covering | None:
        """The smallest signed checkpoint at or above `size` leaves, checked: the
        operator's signature and the witnesses' (configured keys only), and a consistency
        proof from the tree (size, root_hash) to it. None if none is signed yet."""
        with self.database.reading() as connection:
            row = connection.execute(
                select(checkpoints)
                .where(checkpoints.c.tree_size >= size)
                .order_by(checkpoints.c.tree_size)
                .limit(1)
            ).one_or_none()
            if row is None:
                return None
            signed = self._signed(connection, row)
            proof = consistency_nodes(connection, size, signed.size)
        signed_by = self._names(signed.note, [self.operator] if self.operator else [])
        cosigned_by = self._names(signed.note, self.witnesses)
        try:
            old_root = bytes.fromhex(root_hash)
        except ValueError:
            old_root = b""
        consistent = merkle.verify_consistency(
            size, signed.size, old_root, signed.checkpoint.root, proof
        )
        return Covering(signed, signed_by, cosigned_by, consistent)

    @staticmethod
    def _names(note: Note, keys: Sequence[Verifier]) -> list[str]:
        try:
            return verified_by(note, keys)
        except NoteError:
            return []


def _latest_row(connection: Connection) -> Any:
    return connection.execute(
        select(checkpoints).order_by(checkpoints.c.tree_size.desc()).limit(1)
    ).one_or_none()


def _insert_or_nothing(connection: Connection, table: Any) -> Any:
    insert_of = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    return insert_of(table).on_conflict_do_nothing()
