"""Snapshots that are trusted only when they match the log.

A snapshot spares replaying an aggregate's events, so an edited one would be served (and
written on) as if it were the log's state. Each snapshot is therefore stored with a digest
record (table snapshot_digests, written in the same transaction): the position and chain
hash of the event it was taken at, the SHA-256 of its stored bytes, and its seal: an
HMAC of all of these under a key the database does not hold (adapters/seals.py, derived
from the operator's signing key).

- Loading (CheckedSnapshotStore, the repository's snapshot store) uses a snapshot only if
  its digest record exists, its bytes still have that SHA-256, the record names the chain
  entry of the aggregate's event at that version and, in a process with the signing key,
  its seal is there and right; otherwise it logs the mismatch and the aggregate is
  replayed from its events alone. So someone who edits a snapshot and its digest record
  together still does not get it served: they cannot make its seal.
- `commitments verify` and `/ledger` (check_snapshots, from adapters/ledger.py) check the
  same for every snapshot and also replay each snapshotted aggregate's events, comparing
  the state at each snapshot's version with the snapshot.

A process without the signing key (a witness, a dev process) writes no seals and checks
none: there, the digest is not secret, and only the replay in `verify` catches an edit of
both. A snapshot sealed with another key (the key was rotated) is replayed past, and
`verify` reports it, until it is re-taken (docs/trust.md).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import EventStore, Mapper, StoredEvent
from sqlalchemy import Connection, and_, bindparam, func, literal, null, select, union_all
from sqlalchemy.engine import Dialect

from adapters.database import Database, DriverStatement
from adapters.seals import Sealer
from adapters.tables import event_chain, events, snapshot_digests, snapshots
from domain.tracker import Tracker

log = logging.getLogger(__name__)

_d = snapshot_digests.c
_s = snapshots.c


def state_sha256(state: bytes) -> str:
    return hashlib.sha256(state).hexdigest()


def digest_row(
    snapshot: dict[str, Any], position: int, chain_hash: str, sealer: Sealer | None
) -> dict[str, Any]:
    """The digest record of a snapshot row taken at the event at `position`, sealed when
    there is a sealer."""
    originator_id, version = snapshot["originator_id"], snapshot["originator_version"]
    state = snapshot["state"]
    return {
        "originator_id": originator_id,
        "originator_version": version,
        "position": position,
        "chain_hash": chain_hash,
        "state_sha256": state_sha256(state),
        "seal": (
            None
            if sealer is None
            else sealer.snapshot(originator_id, version, position, chain_hash, state)
        ),
    }


# Each snapshot with its digest record, and the position and chain hash of the event at
# its version (None where missing).
_CHECKED = (
    select(
        _s.originator_id,
        _s.originator_version,
        _s.topic,
        _s.state,
        _d.position.label("digest_position"),
        _d.chain_hash.label("digest_chain_hash"),
        _d.state_sha256,
        _d.seal,
        events.c.id.label("event_position"),
        event_chain.c.hash.label("event_chain_hash"),
    )
    .select_from(snapshots)
    .outerjoin(
        snapshot_digests,
        and_(_d.originator_id == _s.originator_id, _d.originator_version == _s.originator_version),
    )
    .outerjoin(
        events,
        and_(
            events.c.originator_id == _s.originator_id,
            events.c.originator_version == _s.originator_version,
        ),
    )
    .outerjoin(event_chain, event_chain.c.position == events.c.id)
)


# A past version in one round trip: the latest snapshot up to `version` (a _CHECKED row,
# part 0) and the events after it up to `version` (part 1, oldest first).
_LATEST = (
    _CHECKED.where(
        _s.originator_id == bindparam("id"), _s.originator_version <= bindparam("version")
    )
    .order_by(_s.originator_version.desc())
    .limit(1)
    .subquery()
)
_SNAPSHOT_VERSION = (
    select(func.coalesce(func.max(_s.originator_version), 0))
    .where(_s.originator_id == bindparam("id"), _s.originator_version <= bindparam("version"))
    .scalar_subquery()
)
_CHECKS = (
    "digest_position",
    "digest_chain_hash",
    "state_sha256",
    "seal",
    "event_position",
    "event_chain_hash",
)
_UP_TO = union_all(
    select(
        literal(0).label("part"),
        *(_LATEST.c[name] for name in ("originator_id", "originator_version", "topic", "state")),
        *(_LATEST.c[name] for name in _CHECKS),
    ),
    select(
        literal(1).label("part"),
        events.c.originator_id,
        events.c.originator_version,
        events.c.topic,
        events.c.state,
        *(null().label(name) for name in _CHECKS),
    ).where(
        events.c.originator_id == bindparam("id"),
        events.c.originator_version > _SNAPSHOT_VERSION,
        events.c.originator_version <= bindparam("version"),
    ),
).order_by("part", "originator_version")


def mismatch(row: Any, sealer: Sealer | None) -> str | None:
    """Why this snapshot row (from _CHECKED) does not match the log, or None. Its seal is
    checked when there is a sealer (a process with the signing key)."""
    what = f"the snapshot of {row.originator_id} at version {row.originator_version}"
    if row.state_sha256 is None:
        return f"{what} has no digest record"
    if state_sha256(bytes(row.state)) != row.state_sha256:
        return f"{what} does not have the SHA-256 recorded for it (edited?)"
    if row.event_position is None:
        return f"{what} is of a version the log does not have"
    if row.digest_position != row.event_position or row.digest_chain_hash != row.event_chain_hash:
        return f"{what} is not anchored at the chain entry of the event at its version"
    if sealer is not None:
        if row.seal is None:
            return f"{what} is not sealed (taken by a process without the signing key?)"
        expected = sealer.snapshot(
            row.originator_id,
            row.originator_version,
            row.digest_position,
            row.digest_chain_hash,
            bytes(row.state),
        )
        if not sealer.same(expected, row.seal):
            return f"{what} does not carry its seal (edited, or sealed with another key)"
    return None


class CheckedSnapshotStore(EventStore[UUID]):
    """The repository's snapshot store: a snapshot is given only if it matches the log
    (see the module's docstring); else none, so the aggregate is replayed from events."""

    def __init__(
        self, mapper: Mapper[UUID], recorder: Any, database: Database, sealer: Sealer | None
    ) -> None:
        super().__init__(mapper, recorder)  # the library's recorder still writes (tests)
        self.database = database
        self.sealer = sealer
        self.rejected = 0  # snapshots refused since start (also logged)

    def get(
        self,
        originator_id: UUID,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Iterator[Any]:
        query = _CHECKED.where(_s.originator_id == originator_id)
        if gt is not None:
            query = query.where(_s.originator_version > gt)
        if lte is not None:
            query = query.where(_s.originator_version <= lte)
        order = _s.originator_version.desc() if desc else _s.originator_version
        query = query.order_by(order).limit(limit)
        with self.database.one_query() as connection:
            rows = connection.execute(query).all()
        found = []
        for row in rows:
            problem = mismatch(row, self.sealer)
            if problem is not None:
                self.rejected += 1
                log.warning("%s: ignored, replaying from the events", problem)
                # An older snapshot would not be safer to trust: replay everything.
                return iter(())
            found.append(self.mapper.to_domain_event(_stored(row)))
        return iter(found)

    def up_to(self, originator_id: UUID, version: int) -> list[StoredEvent] | None:
        """The latest snapshot up to `version`, if any, then the events after it up to
        `version`, in one round trip; None if that snapshot does not match the log
        (then the events from the first are to be read)."""
        with self.database.one_query() as connection:
            rows = connection.execute(_UP_TO, {"id": originator_id, "version": version}).all()
        found = []
        for row in rows:
            if row.part == 0:
                problem = mismatch(row, self.sealer)
                if problem is not None:
                    self.rejected += 1
                    log.warning("%s: ignored, replaying from the events", problem)
                    return None
            found.append(
                StoredEvent(
                    originator_id=originator_id,
                    originator_version=row.originator_version,
                    topic=row.topic,
                    state=bytes(row.state),
                )
            )
        return found


def _stored(row: Any) -> StoredEvent:
    return StoredEvent(
        originator_id=row.originator_id,
        originator_version=row.originator_version,
        topic=row.topic,
        state=bytes(row.state),
    )


@cache
def _mapper() -> Mapper[UUID]:
    """The event log's mapper (the Tracker's transcodings), on no database."""
    return Tracker().mapper


@dataclass(frozen=True)
class BadSnapshot:
    position: int | None  # of the event at the snapshot's version, if the log has it
    problem: str


def check_snapshots(connection: Connection, sealer: Sealer | None = None) -> BadSnapshot | None:
    """Check every snapshot: its digest record (and seal, given a sealer), and the state it
    holds against a replay of its aggregate's events up to its version. The first bad
    one, or None."""
    rows = connection.execute(_CHECKED.order_by(_s.originator_id, _s.originator_version)).all()
    by_aggregate: dict[Any, list[Any]] = {}
    for row in rows:
        problem = mismatch(row, sealer)
        if problem is not None:
            return BadSnapshot(row.event_position, problem)
        by_aggregate.setdefault(row.originator_id, []).append(row)
    mapper = _mapper()
    # One query an aggregate, its rows as the driver's tuples: this replays most of the
    # log when most aggregates have a snapshot.
    replay = _replay_statement(connection.dialect)
    for originator_id, taken in by_aggregate.items():
        last = taken[-1].originator_version
        pending = iter(taken)
        due = next(pending)
        aggregate: Aggregate | None = None
        for version, topic, state in replay.rows(connection, {"id": originator_id, "last": last}):
            stored = StoredEvent(originator_id, version, topic, bytes(state))
            aggregate = mapper.to_domain_event(stored).mutate(aggregate)  # type: ignore[attr-defined]
            if version != due.originator_version:
                continue
            from_snapshot = mapper.to_domain_event(_stored(due)).mutate(None)  # type: ignore[attr-defined]
            if not same_state(aggregate, from_snapshot):
                return BadSnapshot(
                    due.event_position,
                    f"the snapshot of {originator_id} at version {due.originator_version} "
                    "differs from the replay of its events",
                )
            due = next(pending, None)
            if due is None:
                break
    return None


_REPLAY = (
    select(events.c.originator_version, events.c.topic, events.c.state)
    .where(
        events.c.originator_id == bindparam("id", type_=events.c.originator_id.type),
        events.c.originator_version <= bindparam("last", type_=events.c.originator_version.type),
    )
    .order_by(events.c.originator_version)
)
_replays: dict[str, DriverStatement] = {}


def _replay_statement(dialect: Dialect) -> DriverStatement:
    """An aggregate's events up to a version, in order: (version, topic, state)."""
    if dialect.name not in _replays:
        _replays[dialect.name] = DriverStatement(_REPLAY, dialect)
    return _replays[dialect.name]


_MISSING = object()


def same_state(replayed: Any, restored: Any) -> bool:
    """Do two aggregates hold the same state? An attribute a snapshot lacks is read from
    the class (a default added after it was taken), as loading it would."""
    names = set(vars(replayed)) | set(vars(restored))
    return type(replayed) is type(restored) and all(
        getattr(replayed, name, _MISSING) == getattr(restored, name, _MISSING) for name in names
    )
