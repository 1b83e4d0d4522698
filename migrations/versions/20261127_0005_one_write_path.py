"""One write path: commitment summaries hold the list item as a document, milestones
their derived missed_since, idempotency records what identifies the first response.

Read models are derived data: their tables are emptied and the projection position reset,
so the projection worker rebuilds them from the log. Idempotency records of writes made
before the upgrade are dropped (a retry after the upgrade writes again).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DERIVED = ("progress_points", "indicator_measurements", "assessments", "indicators",
            "report_schedules")  # fmt: skip


def upgrade() -> None:
    op.drop_table("commitment_summaries")
    op.create_table(
        "commitment_summaries",
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
        sa.UniqueConstraint("code"),
    )
    for column in ("health", "pillar", "status"):
        op.create_index(
            op.f(f"ix_commitment_summaries_{column}"),
            "commitment_summaries",
            [column],
            unique=False,
        )
    with op.batch_alter_table("milestones") as batch:
        batch.add_column(sa.Column("missed_since", sa.Date(), nullable=True))
    op.execute("DELETE FROM milestones")
    for table in _DERIVED:
        op.execute(f"DELETE FROM {table}")
    op.execute("UPDATE projection_positions SET position = 0")

    op.drop_table("idempotency_records")
    op.create_table(
        "idempotency_records",
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("aggregate_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("actor", "key"),
    )


def downgrade() -> None:
    """Back to 0004's shapes, empty (the projection rebuilds them; records are dropped)."""
    op.drop_table("idempotency_records")
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
    op.execute("DELETE FROM milestones")
    with op.batch_alter_table("milestones") as batch:
        batch.drop_column("missed_since")
    for table in _DERIVED:
        op.execute(f"DELETE FROM {table}")
    op.execute("UPDATE projection_positions SET position = 0")
    op.drop_table("commitment_summaries")
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
    for column in ("health", "pillar", "status"):
        op.create_index(
            op.f(f"ix_commitment_summaries_{column}"),
            "commitment_summaries",
            [column],
            unique=False,
        )
