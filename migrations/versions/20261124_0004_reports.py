"""Report schedules (read model), archived reports and their artefacts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_archive",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("schedule", sa.String(length=64), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("generated_by", sa.String(length=200), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.Column("log_position", sa.BigInteger(), nullable=False),
        sa.Column("chain_head", sa.String(length=64), nullable=True),
        sa.Column("formats", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule", "scheduled_for", name="report_archive_tick_uq"),
    )
    op.create_index(
        "report_archive_generated_idx", "report_archive", ["generated_at"], unique=False
    )

    op.create_table(
        "report_artefacts",
        sa.Column("report_id", sa.String(length=32), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("report_id", "format"),
    )
    op.create_table(
        "report_schedules",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("cron", sa.String(length=100), nullable=False),
        sa.Column("formats", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("defined_by", sa.String(length=200), nullable=False),
        sa.Column("defined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("report_schedules")
    op.drop_table("report_artefacts")
    op.drop_index("report_archive_generated_idx", table_name="report_archive")

    op.drop_table("report_archive")
