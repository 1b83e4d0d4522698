"""Time travel's index: one row per event of a commitment, with the running maxima of
recording times and effective dates that let Tracker.state find a known_at or as_of
cut with one indexed lookup (adapters/timeline.py, domain/time_travel.py); and its
shadow for rebuilds.

Written by the projection from the next event of each commitment on (filling in the
commitment's earlier events then); `commitments project --rebuild` fills it for every
commitment at once. Until then reads of a commitment it lacks replay its events.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    "commitment_timeline_known_idx": ["commitment_id", "known_from", "version"],
    "commitment_timeline_dated_idx": ["commitment_id", "dated_until", "version"],
    "commitment_timeline_irregular_idx": ["commitment_id", "irregular_version"],
}


def _columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("commitment_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("known_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=True),
        sa.Column("dated_until", sa.Date(), nullable=True),
        sa.Column("irregular_version", sa.Integer(), nullable=True),
    ]


def upgrade() -> None:
    for name in ("commitment_timeline", "shadow_commitment_timeline"):
        op.create_table(name, *_columns(), sa.PrimaryKeyConstraint("commitment_id", "version"))
    for index, columns in _INDEXES.items():
        op.create_index(index, "commitment_timeline", columns, unique=False)


def downgrade() -> None:
    for index in _INDEXES:
        op.drop_index(index, table_name="commitment_timeline")
    op.drop_table("shadow_commitment_timeline")
    op.drop_table("commitment_timeline")
