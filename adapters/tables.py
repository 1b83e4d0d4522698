"""Every table of the database, as SQLAlchemy metadata that Alembic migrations follow.

The event store's tables are the ones eventsourcing-sqlalchemy expects: we take its own
definitions, so the migrations cannot drift from what the library reads and writes.
"""

from __future__ import annotations

from typing import Any

from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore
from sqlalchemy import Column, DateTime, Index, MetaData, String, Table

from domain.tracker import Tracker

metadata = MetaData()

_PREFIX = Tracker.name.lower()
EVENTS_TABLE = f"{_PREFIX}_events"
SNAPSHOTS_TABLE = f"{_PREFIX}_snapshots"


def _library_table(table_name: str, cls_name: str, base: type) -> Table:
    record_cls: Any = SQLAlchemyDatastore.define_record_class(
        cls_name=cls_name, table_name=table_name, schema_name=None, base_cls=base
    )
    return record_cls.__table__.to_metadata(metadata)  # type: ignore[no-any-return]


events = _library_table(
    EVENTS_TABLE, "TrackerEvent", SQLAlchemyDatastore.base_stored_event_record_cls
)
snapshots = _library_table(
    SNAPSHOTS_TABLE, "TrackerSnapshot", SQLAlchemyDatastore.base_snapshot_record_cls
)

# Bearer tokens: only a hash of each token is stored.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(10), nullable=False),
    Column("party", String(2), nullable=True),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("api_tokens_token_hash_idx", "token_hash", unique=True),
)
