"""Event store (as eventsourcing-sqlalchemy expects it) and API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy_utils.types.uuid import UUIDType

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Column for column what eventsourcing_sqlalchemy.models declares; the position of
    # an event in the global log is `id`.
    op.create_table(
        "tracker_events",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("originator_id", UUIDType(), nullable=False),
        sa.Column("originator_version", _BIGINT, nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "tracker_events_aggregate_idx",
        "tracker_events",
        ["originator_id", "originator_version"],
        unique=True,
    )
    op.create_table(
        "tracker_snapshots",
        sa.Column("originator_id", UUIDType(), nullable=False),
        sa.Column("originator_version", _BIGINT, nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("originator_id", "originator_version"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("party", sa.String(length=2), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("api_tokens_token_hash_idx", "api_tokens", ["token_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("api_tokens_token_hash_idx", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("tracker_snapshots")
    op.drop_index("tracker_events_aggregate_idx", table_name="tracker_events")
    op.drop_table("tracker_events")
