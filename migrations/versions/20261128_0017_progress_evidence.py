"""Progress points keep how many evidence documents each figure came with, so a report
counts a commitment's evidence from the read models instead of decoding every event
(adapters/reports/fast.py). Rows projected before stay null: reports replay the log
until `commitments project --rebuild` fills them (the shadow tables have the column too).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("progress_points", "shadow_progress_points")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("evidence", sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("evidence")
