"""One write path: commitment summaries and report schedules hold their resource as a
document, milestones their derived missed_since, idempotency records what identifies
the first response.

Read models are derived data: their tables are emptied and the projection position reset,
so the projection worker rebuilds them from the log. Idempotency records of writes made
before the upgrade are dropped (a retry of such a request writes again).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DERIVED = ("milestones", "progress_points", "indicator_measurements", "assessments",
            "indicators")  # fmt: skip


def upgrade() -> None:
    _reset_read_models()
    with op.batch_alter_table("milestones") as batch:
        batch.add_column(sa.Column("missed_since", sa.Date(), nullable=True))
    _summaries(
        sa.Column("overdue_since", sa.Date(), nullable=True),
        sa.Column("document", sa.Text(), nullable=False),
    )
    _schedules(sa.Column("document", sa.Text(), nullable=False))
    _idempotency_records(
        sa.Column("aggregate_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=True),
    )


def downgrade() -> None:
    """Back to 0004's shapes, empty (the projection rebuilds them; records are dropped)."""
    _reset_read_models()
    with op.batch_alter_table("milestones") as batch:
        batch.drop_column("missed_since")
    _summaries(
        sa.Column("lead_party", sa.String(length=10), nullable=False),
        sa.Column("status_as_of", sa.Date(), nullable=True),
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
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    _schedules(
        sa.Column("cron", sa.String(length=100), nullable=False),
        sa.Column("formats", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.Column("defined_by", sa.String(length=200), nullable=False),
        sa.Column("defined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    _idempotency_records(
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )


def _reset_read_models() -> None:
    """Empty the derived tables and send the projection back to the first event."""
    for table in _DERIVED:
        op.execute(f"DELETE FROM {table}")
    op.execute("UPDATE projection_positions SET position = 0")


def _summaries(*columns: sa.Column[Any]) -> None:
    """commitment_summaries anew: the columns both shapes share, and `columns`."""
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
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        *columns,
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


def _schedules(*columns: sa.Column[Any]) -> None:
    """report_schedules anew (a read model: the projection fills it again)."""
    op.drop_table("report_schedules")
    op.create_table(
        "report_schedules",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint("name"),
    )


def _idempotency_records(*columns: sa.Column[Any]) -> None:
    """idempotency_records anew (its rows are dropped): the key, and `columns`."""
    op.drop_table("idempotency_records")
    op.create_table(
        "idempotency_records",
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        *columns,
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("actor", "key"),
    )
