"""Shadow read models: a rebuild replays the log into these while the live read models go
on serving, then replaces the live rows in one transaction (adapters/rebuild.py).

The same columns and primary keys as the read-model tables, without their secondary
indexes and unique constraints.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shadow_report_schedules",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "shadow_commitment_summaries",
        sa.Column("commitment_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("pillar", sa.String(length=40), nullable=False),
        sa.Column("sectors", sa.Text(), nullable=False),
        sa.Column("parties", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("health", sa.String(length=20), nullable=True),
        sa.Column("overdue_since", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("commitment_id"),
    )
    op.create_table(
        "shadow_milestones",
        sa.Column("commitment_id", sa.String(length=36), nullable=False),
        sa.Column("milestone_id", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("original_due_date", sa.Date(), nullable=False),
        sa.Column("times_rescheduled", sa.Integer(), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("missed_since", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("commitment_id", "milestone_id"),
    )
    op.create_table(
        "shadow_indicators",
        sa.Column("commitment_id", sa.String(length=36), nullable=False),
        sa.Column("indicator_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=60), nullable=False),
        sa.Column("baseline", sa.String(length=60), nullable=False),
        sa.Column("target", sa.String(length=60), nullable=False),
        sa.Column("latest_value", sa.String(length=60), nullable=True),
        sa.Column("latest_as_of", sa.Date(), nullable=True),
        sa.Column("measurements", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("commitment_id", "indicator_id"),
    )
    op.create_table(
        "shadow_progress_points",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("commitment_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("confidence", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_table(
        "shadow_indicator_measurements",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("commitment_id", sa.String(length=36), nullable=False),
        sa.Column("indicator_id", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=60), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_table(
        "shadow_assessments",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("commitment_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )


def downgrade() -> None:
    for name in (
        "assessments",
        "indicator_measurements",
        "progress_points",
        "indicators",
        "milestones",
        "commitment_summaries",
        "report_schedules",
    ):
        op.drop_table(f"shadow_{name}")
    # A rebuild's position, if one was under way.
    op.execute(
        sa.text("DELETE FROM projection_positions WHERE name LIKE :shadow").bindparams(
            shadow="%:rebuild"
        )
    )
