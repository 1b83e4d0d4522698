"""Every table of the database, as SQLAlchemy metadata that Alembic migrations follow.

The event store's tables are the ones eventsourcing-sqlalchemy expects: we take its own
definitions, so the migrations cannot drift from what the library reads and writes.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.utils import get_topic
from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from domain.progress_report import SERIES_EVENTS
from domain.tracker import Tracker

metadata = MetaData()

_PREFIX = Tracker.name.lower()
EVENTS_TABLE = f"{_PREFIX}_events"
EVENTS_SEQUENCE = f"{EVENTS_TABLE}_id_seq"  # PostgreSQL's, behind the events' positions
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

# The series facts' topics (domain/progress_report.py SERIES_EVENTS: most of a log, kept
# by the read models as rows); a commitment's other events are its "structural" ones,
# which reports decode. As SQL with the topics written out, so a query's condition is
# the partial index's word for word (SQLite and PostgreSQL then use the index); a new
# series event needs a migration that writes the index again.
SERIES_TOPICS = tuple(get_topic(cls) for cls in SERIES_EVENTS)
STRUCTURAL_EVENTS = text(
    "topic NOT IN ("
    + ", ".join("'" + topic.replace(":", "\\:") + "'" for topic in SERIES_TOPICS)
    + ")"
)
# A commitment's structural events without walking its series facts: a report over a
# million events read and skipped them all (0.5 s at 1,000 events a commitment).
Index(
    "tracker_events_structural_idx",
    events.c.originator_id,
    events.c.id,
    sqlite_where=STRUCTURAL_EVENTS,
    postgresql_where=STRUCTURAL_EVENTS,
)

# Why a snapshot may be trusted (adapters/snapshots.py): the chain entry of the event it
# was taken at and the SHA-256 of its stored bytes, written in the snapshot's transaction.
snapshot_digests = Table(
    "snapshot_digests",
    metadata,
    Column("originator_id", snapshots.c.originator_id.type, primary_key=True),
    Column(
        "originator_version",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("position", BigInteger, nullable=False),
    Column("chain_hash", String(64), nullable=False),
    Column("state_sha256", String(64), nullable=False),
    # HMAC-SHA256 under a key the database does not hold (adapters/seals.py); NULL: written
    # by a process without the signing key.
    Column("seal", String(64), nullable=True),
)

# The hash chain: one entry per event, written in the event's transaction (adapters/ledger.py).
event_chain = Table(
    "event_chain",
    metadata,
    Column(
        "position",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("hash", String(64), nullable=False),
    # The event's leaf index in the Merkle tree: 0, 1, 2, ... in log order, without gaps
    # even where positions have them.
    Column("leaf", BigInteger, nullable=False),
    Index("event_chain_leaf_idx", "leaf", unique=True),
)

# The Merkle tree over the log (RFC 9162, domain/merkle.py): the hash of every complete
# perfect subtree, written with the events that complete it. A node (level, index) covers
# leaves [index * 2**level, (index + 1) * 2**level) and is keyed by the last of them, so
# rows are appended in key order and a scan in key order follows the log.
merkle_nodes = Table(
    "merkle_nodes",
    metadata,
    Column("last_leaf", BigInteger, primary_key=True, autoincrement=False),
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

# The log's high-water mark (adapters/log_guard.py): one row, the highest position ever
# written, raised in every write's transaction. New positions come after it, so a log
# whose newest events were deleted never hands their positions out again; and a head
# below it, or a write that found one (`shrunk_from` -> `shrunk_to`), is an alarm.
log_high_water = Table(
    "log_high_water",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("position", BigInteger, nullable=False),
    Column("shrunk_from", BigInteger, nullable=True),
    Column("shrunk_to", BigInteger, nullable=True),
)

# Signed checkpoints (adapters/checkpoints.py): the operator's C2SP signed note of one
# tree head, and the witnesses' cosignatures of it, kept line by line as they arrive.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", DateTime(timezone=True), nullable=False),
)

checkpoint_cosignatures = Table(
    "checkpoint_cosignatures",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(200), primary_key=True),
    Column("key_id", String(8), primary_key=True),
    Column("line", Text, nullable=False),
    # The POSIX time the witness signed (from the cosignature itself).
    Column("timestamp", BigInteger, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

# Bearer tokens: only a hash of each token is stored. Written in the transaction of the
# token's event (ApiToken.Issued, .Revoked: adapters/tokens.py).
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    # The name as compared (lower case): unique, so two tokens can never share a name,
    # however concurrently they are issued; revoked and expired ones keep theirs.
    Column("name_key", String(64), nullable=False),
    Column("role", String(10), nullable=False),
    Column("party", String(2), nullable=True),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("api_tokens_token_hash_idx", "token_hash", unique=True),
    Index("api_tokens_name_key_idx", "name_key", unique=True),
)

# ---- read models (written only by the projection, adapters/projection.py) -------------

# One row per commitment: the columns the list filters on, and the list item itself
# (domain/views.py:summarize, without the derived fields) as a JSON document. Sectors and
# parties are kept as '|a|b|' so a filter is a plain LIKE on both databases.
commitment_summaries = Table(
    "commitment_summaries",
    metadata,
    Column("commitment_id", String(36), primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("pillar", String(40), nullable=False, index=True),
    Column("sectors", Text, nullable=False),
    Column("parties", String(200), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("health", String(20), nullable=True, index=True),
    # Overdue from this day on (derived by the domain; null: never).
    Column("overdue_since", Date, nullable=True),
    Column("version", Integer, nullable=False),
    Column("last_position", BigInteger, nullable=False),
    Column("document", Text, nullable=False),
)

milestone_rows = Table(
    "milestones",
    metadata,
    Column("commitment_id", String(36), primary_key=True),
    Column("milestone_id", String(16), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("due_date", Date, nullable=False, index=True),
    Column("original_due_date", Date, nullable=False),
    Column("times_rescheduled", Integer, nullable=False),
    Column("completed_on", Date, nullable=True),
    # Missed from this day on (derived by the domain; null: completed).
    Column("missed_since", Date, nullable=True),
)

indicator_rows = Table(
    "indicators",
    metadata,
    Column("commitment_id", String(36), primary_key=True),
    Column("indicator_id", String(16), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("unit", String(60), nullable=False),
    # Decimals as text: exact on both databases.
    Column("baseline", String(60), nullable=False),
    Column("target", String(60), nullable=False),
    Column("latest_value", String(60), nullable=True),
    Column("latest_as_of", Date, nullable=True),
    Column("measurements", Integer, nullable=False),
)

# Time series, one row per event, keyed by the event's log position.
progress_points = Table(
    "progress_points",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("commitment_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("percent", Integer, nullable=False),
    Column("as_of", Date, nullable=False),
    Column("confidence", Integer, nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    # How many evidence documents the figure came with (reports count them without
    # decoding the event); null in rows projected before it was kept (migration 0017).
    Column("evidence", Integer, nullable=True),
    # With the position after the date, the fact in effect on a day (the latest by
    # effective date, the later recorded first) is one index lookup; with the evidence
    # last, a report's totals read the index alone (adapters/reports/fast.py).
    Index("progress_points_commitment_idx", "commitment_id", "as_of", "position", "evidence"),
)

indicator_measurements = Table(
    "indicator_measurements",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("commitment_id", String(36), nullable=False),
    Column("indicator_id", String(16), nullable=False),
    Column("value", String(60), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Index("indicator_measurements_idx", "commitment_id", "indicator_id", "as_of", "position"),
)

# Status changes and health ratings with their reasons: the "changes in the period".
assessments = Table(
    "assessments",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("commitment_id", String(36), nullable=False),
    Column("kind", String(10), nullable=False),  # status | health
    Column("value", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    Column("as_of", Date, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    # By kind first: the reports read health ratings alone (status changes are events).
    Index("assessments_commitment_idx", "commitment_id", "kind", "as_of", "position"),
)

# Time travel's index (domain/time_travel.py, adapters/timeline.py): one row per event of
# a commitment, versions 1 to its last projected one without gaps. `known_from` and
# `dated_until` are running maxima (of recording times, of effective dates), so each
# grows with the version and one indexed lookup finds where a known_at or as_of cuts.
commitment_timeline = Table(
    "commitment_timeline",
    metadata,
    Column("commitment_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("position", BigInteger, nullable=False),
    Column("known_from", DateTime(timezone=True), nullable=False),
    Column("effective_on", Date, nullable=True),
    Column("dated_until", Date, nullable=True),
    # The version again if the event is irregular (domain/time_travel.py), else NULL: its
    # index holds those alone, so no planner scans the others (fresh statistics or not).
    Column("irregular_version", Integer, nullable=True),
    Index("commitment_timeline_known_idx", "commitment_id", "known_from", "version"),
    Index("commitment_timeline_dated_idx", "commitment_id", "dated_until", "version"),
    Index("commitment_timeline_irregular_idx", "commitment_id", "irregular_version"),
)

# Report schedules as the scheduler reads them (projected from ReportSchedule events).
# (The schedule resource of domain/views.py as a JSON document.)
report_schedules = Table(
    "report_schedules",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("active", Boolean, nullable=False),
    Column("document", Text, nullable=False),
)

READ_MODEL_TABLES = (
    report_schedules,
    commitment_summaries,
    milestone_rows,
    indicator_rows,
    progress_points,
    indicator_measurements,
    assessments,
    commitment_timeline,
)


def _shadow(table: Table) -> Table:
    """A read-model table's twin for rebuilds (adapters/rebuild.py): the same columns and
    primary key, derived here so they cannot drift; without the secondary indexes and
    unique constraints, which only readers need and which would slow the replay."""
    return Table(
        f"shadow_{table.name}",
        metadata,
        *(
            Column(
                column.name,
                column.type,
                primary_key=column.primary_key,
                nullable=column.nullable,
                autoincrement=column.autoincrement,
            )
            for column in table.columns
        ),
    )


# In the order of READ_MODEL_TABLES: a rebuild replays the log into these, then replaces
# the live rows with theirs in one transaction.
SHADOW_TABLES = tuple(_shadow(table) for table in READ_MODEL_TABLES)

# How far each projection has got: written in the same transaction as its rows.
projection_positions = Table(
    "projection_positions",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Idempotency-Key records, written in the same transaction as the events they answer:
# what identifies the first response (adapters/idempotency.py).
idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("actor", String(100), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("aggregate_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("result", String(16), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Archived reports: each artefact byte for byte, with what it was built from.
report_archive = Table(
    "report_archive",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("schedule", String(64), nullable=True),
    Column("scheduled_for", DateTime(timezone=True), nullable=True),
    Column("generated_at", DateTime(timezone=True), nullable=False),
    Column("generated_by", String(200), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("period_days", Integer, nullable=False),
    Column("log_position", BigInteger, nullable=False),
    Column("chain_head", String(64), nullable=True),
    Column("formats", String(100), nullable=False),
    # The rest of the report's inputs (adapters/reports/data.py): what reproduces it.
    Column("format_version", Integer, nullable=False),
    Column("language", String(8), nullable=False),
    # One archived run per schedule tick, however many schedulers raced for it.
    UniqueConstraint("schedule", "scheduled_for", name="report_archive_tick_uq"),
    Index("report_archive_generated_idx", "generated_at"),
)

report_artefacts = Table(
    "report_artefacts",
    metadata,
    Column("report_id", String(32), primary_key=True),
    Column("format", String(10), primary_key=True),
    Column("media_type", String(100), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),
    # HMAC-SHA256 of (report id, format, content) under a key the database does not hold
    # (adapters/seals.py); NULL: archived before 0014 or by a process without the key.
    Column("seal", String(64), nullable=True),
)

# Who leads each singleton background job (adapters/leases.py): the projection follower
# and the report scheduler. `epoch` fences: it grows at each takeover, and a leader's
# writes check it in their own transaction.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    # PostgreSQL: the backend pid of a connection the holder keeps open while it leads.
    # Once that session is gone (the holder died), the lease is taken over at once.
    Column("session", BigInteger, nullable=True),
)

# Webhooks an admin registered (adapters/webhooks.py): where to post which events, the
# secret their signatures are made with, and how far delivery has got: `position` is the
# last log position handled (delivered, or not of a type asked for); the next event is
# retried, with backoff, until it is delivered. Configuration, not facts: not in the log.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("url", Text, nullable=False),
    # JSON list of event types (ProgressLogged, ...); [] means every type.
    Column("event_types", Text, nullable=False),
    Column("description", String(200), nullable=False),
    # HMAC-SHA256 key of the signatures; shown once, at registration.
    Column("secret", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("removed_at", DateTime(timezone=True), nullable=True),
    Column("position", BigInteger, nullable=False),
    # Failed attempts at the next event, and when to try again (null: now).
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
)

# Every attempt to deliver an event to a webhook, successful or not.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("webhook_id", String(36), nullable=False),
    # The same for every attempt at one event (X-Commitments-Delivery).
    Column("delivery_id", String(36), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("delivered", Boolean, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Index("webhook_deliveries_webhook_idx", "webhook_id", "id"),
)

# Dashboard sign-ins (adapters/sessions.py): the browser holds a random session id, this
# table only its SHA-256 hash, with the token it was signed in with. A session ends when
# its holder signs out, its token is revoked or expires, or at its idle or absolute limit.
sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("token_id", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Index("sessions_token_id_idx", "token_id"),
)
