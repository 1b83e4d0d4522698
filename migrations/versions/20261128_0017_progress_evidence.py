"""Reports from the read models (adapters/reports/fast.py). Progress points keep how
many evidence documents each figure came with, so a report counts a commitment's evidence
without decoding every event; rows projected before stay null, and reports replay the log
until `commitments project --rebuild` fills them (the shadow tables have the column too).
The series' indexes end with the position, so the fact in effect on a day (the latest by
effective date, the later recorded first) is one index lookup.

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
# Each index's name, table and columns before this revision (it appends the position).
INDEXES = (
    ("progress_points_commitment_idx", "progress_points", ["commitment_id", "as_of"]),
    (
        "indicator_measurements_idx",
        "indicator_measurements",
        ["commitment_id", "indicator_id", "as_of"],
    ),
    ("assessments_commitment_idx", "assessments", ["commitment_id", "as_of"]),
)


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("evidence", sa.Integer(), nullable=True))
    for name, table, columns in INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [*columns, "position"], unique=False)


def downgrade() -> None:
    for name, table, columns in INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, unique=False)
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("evidence")
