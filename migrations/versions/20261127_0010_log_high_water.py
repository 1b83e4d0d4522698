"""The log's high-water mark: positions are never handed out twice.

One row holding the highest position ever written (set here to the log's head), raised
by every write; `shrunk_from`/`shrunk_to` record a write that found the log shorter
than the mark (its newest events deleted). See adapters/log_guard.py.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_high_water",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("shrunk_from", sa.BigInteger(), nullable=True),
        sa.Column("shrunk_to", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(
        "INSERT INTO log_high_water (id, position) "
        "SELECT 1, coalesce(max(id), 0) FROM tracker_events"
    )


def downgrade() -> None:
    op.drop_table("log_high_water")
