"""Snapshot digests: a snapshot is trusted only with the chain entry and SHA-256 it was
taken with (adapters/snapshots.py).

The snapshots stored before carry no digest and were never checked against the log:
they are deleted (they only spare replaying events; the next snapshot of each aggregate
is taken, with its digest, when its version next passes a multiple of the interval).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy_utils.types.uuid import UUIDType

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "snapshot_digests",
        sa.Column("originator_id", UUIDType(), nullable=False),
        sa.Column("originator_version", _BIGINT, autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.Column("state_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("originator_id", "originator_version"),
    )
    op.execute("DELETE FROM tracker_snapshots")


def downgrade() -> None:
    op.drop_table("snapshot_digests")
