"""Idempotency-Key records: the first response to a request, kept with its events."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from adapters.tables import idempotency_records


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    status_code: int
    headers: dict[str, str]
    body: str


def fingerprint(method: str, path: str, payload: Any) -> str:
    """The same method, path and JSON body (whatever its key order) give the same hash."""
    canonical = json.dumps([method, path, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def find(engine: Engine, actor: str, key: str) -> StoredResponse | None:
    r = idempotency_records.c
    with engine.connect() as connection:
        row = connection.execute(
            select(r.request_hash, r.status_code, r.headers, r.body).where(
                r.actor == actor, r.key == key
            )
        ).first()
    if row is None:
        return None
    return StoredResponse(row.request_hash, row.status_code, json.loads(row.headers), row.body)


def record(session: Session, actor: str, key: str, response: StoredResponse) -> bool:
    """Store the response in the write's own transaction. False: the key was taken by a
    concurrent request that committed first (the caller then rolls back its write)."""
    values = {
        "actor": actor,
        "key": key,
        "request_hash": response.request_hash,
        "status_code": response.status_code,
        "headers": json.dumps(response.headers, sort_keys=True),
        "body": response.body,
        "created_at": datetime.now(UTC),
    }
    dialect = session.get_bind().dialect.name
    statement: Any = (pg_insert if dialect == "postgresql" else sqlite_insert)(
        idempotency_records
    ).values(values)
    statement = statement.on_conflict_do_nothing(index_elements=["actor", "key"]).returning(
        idempotency_records.c.key
    )
    # RETURNING gives a row only when this insert took the key (rowcount is not reliable
    # for ON CONFLICT through the ORM session on every driver).
    return session.execute(statement).first() is not None
