"""Read models, projection positions and idempotency records

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assessments",
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
    op.create_index(
        "assessments_commitment_idx", "assessments", ["commitment_id", "as_of"], unique=False
    )

    op.create_table(
        "commitment_summaries",
        sa.Column("commitment_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("pillar", sa.String(length=40), nullable=False),
        sa.Column("sectors", sa.Text(), nullable=False),
        sa.Column("parties", sa.String(length=200), nullable=False),
        sa.Column("lead_party", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_as_of", sa.Date(), nullable=True),
        sa.Column("health", sa.String(length=20), nullable=True),
        sa.Column("health_rationale", sa.Text(), nullable=True),
        sa.Column("health_as_of", sa.Date(), nullable=True),
        sa.Column("progress", sa.Integer(), nullable=True),
        sa.Column("progress_as_of", sa.Date(), nullable=True),
        sa.Column("confidence", sa.Integer(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("next_milestone_id", sa.String(length=16), nullable=True),
        sa.Column("next_milestone_title", sa.String(length=200), nullable=True),
        sa.Column("next_milestone_due", sa.Date(), nullable=True),
        sa.Column("milestones_total", sa.Integer(), nullable=False),
        sa.Column("milestones_completed", sa.Integer(), nullable=False),
        sa.Column("indicators_total", sa.Integer(), nullable=False),
        sa.Column("evidence_total", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("commitment_id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(
        op.f("ix_commitment_summaries_health"), "commitment_summaries", ["health"], unique=False
    )
    op.create_index(
        op.f("ix_commitment_summaries_pillar"), "commitment_summaries", ["pillar"], unique=False
    )
    op.create_index(
        op.f("ix_commitment_summaries_status"), "commitment_summaries", ["status"], unique=False
    )

    op.create_table(
        "idempotency_records",
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("actor", "key"),
    )
    op.create_table(
        "indicator_measurements",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("commitment_id", sa.String(length=36), nullable=False),
        sa.Column("indicator_id", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=60), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_index(
        "indicator_measurements_idx",
        "indicator_measurements",
        ["commitment_id", "indicator_id", "as_of"],
        unique=False,
    )

    op.create_table(
        "indicators",
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
        "milestones",
        sa.Column("commitment_id", sa.String(length=36), nullable=False),
        sa.Column("milestone_id", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("original_due_date", sa.Date(), nullable=False),
        sa.Column("times_rescheduled", sa.Integer(), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("commitment_id", "milestone_id"),
    )
    op.create_index(op.f("ix_milestones_due_date"), "milestones", ["due_date"], unique=False)

    op.create_table(
        "progress_points",
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
    op.create_index(
        "progress_points_commitment_idx",
        "progress_points",
        ["commitment_id", "as_of"],
        unique=False,
    )

    op.create_table(
        "projection_positions",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("projection_positions")
    op.drop_index("progress_points_commitment_idx", table_name="progress_points")

    op.drop_table("progress_points")
    op.drop_index(op.f("ix_milestones_due_date"), table_name="milestones")

    op.drop_table("milestones")
    op.drop_table("indicators")
    op.drop_index("indicator_measurements_idx", table_name="indicator_measurements")

    op.drop_table("indicator_measurements")
    op.drop_table("idempotency_records")
    op.drop_index(op.f("ix_commitment_summaries_status"), table_name="commitment_summaries")
    op.drop_index(op.f("ix_commitment_summaries_pillar"), table_name="commitment_summaries")
    op.drop_index(op.f("ix_commitment_summaries_health"), table_name="commitment_summaries")

    op.drop_table("commitment_summaries")
    op.drop_index("assessments_commitment_idx", table_name="assessments")

    op.drop_table("assessments")
