"""Idempotency-Key records: what identifies the first response to a request.

A record is written in the transaction of the events it answers (adapters/unit_of_work.py)
and holds the request's fingerprint and the aggregate, version and position the write
reached; a retry renders its answer again from the event store at that version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select

from adapters.tables import events, idempotency_records
from domain.errors import StateConflict


class KeyReused(Exception):
    """The Idempotency-Key was used before for a different request."""


class DamagedRecord(StateConflict):
    """A record names an event the log does not have at its position: it was edited, and
    what it would replay is not what the first request wrote (HTTP 409)."""


@dataclass(frozen=True)
class IdempotencyKey:
    """A request's key and the fingerprint of what it asks."""

    key: str
    request_hash: str


@dataclass(frozen=True)
class Record:
    request_hash: str
    aggregate_id: UUID
    version: int
    position: int
    result: str | None


def fingerprint(method: str, path: str, payload: Any) -> str:
    """The same method, path and JSON body (whatever its key order) give the same hash."""
    canonical = json.dumps([method, path, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def find(connection: Connection, actor: str, key: str) -> Record | None:
    r = idempotency_records.c
    row = connection.execute(
        select(r.request_hash, r.aggregate_id, r.version, r.position, r.result).where(
            r.actor == actor, r.key == key
        )
    ).first()
    if row is None:
        return None
    return Record(row.request_hash, UUID(row.aggregate_id), row.version, row.position, row.result)


def row(actor: str, key: str, entry: Record) -> dict[str, Any]:
    """The record as a row of idempotency_records (written with the events it answers)."""
    return {
        "actor": actor,
        "key": key,
        "request_hash": entry.request_hash,
        "aggregate_id": str(entry.aggregate_id),
        "version": entry.version,
        "position": entry.position,
        "result": entry.result,
        "created_at": datetime.now(UTC),
    }


def check_anchored(
    connection: Connection, actor: str, key: str, entry: Record, target: UUID | None = None
) -> None:
    """The record of a write must be of the aggregate the request names (`target`, when it
    names one) and name the event the log has at its position: else a forged record could
    replay another commitment, or another version, as this request's answer."""
    if target is not None and entry.aggregate_id != target:
        raise DamagedRecord(
            f"the record of Idempotency-Key {key!r} is of another aggregate than this "
            "request's: it was changed, so it is not replayed"
        )
    found = connection.execute(
        select(events.c.originator_id, events.c.originator_version).where(
            events.c.id == entry.position
        )
    ).first()
    if found is None or (UUID(str(found.originator_id)), found.originator_version) != (
        entry.aggregate_id,
        entry.version,
    ):
        raise DamagedRecord(
            f"the record of Idempotency-Key {key!r} does not match the event log at position "
            f"{entry.position}: it was changed, so it is not replayed"
        )
