"""Archived reports record all their inputs: the format version and language join the
as-of date, period and log position, so an archived report can be reproduced by its id.

Reports archived before this revision were made by format version 1, in English.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("report_archive") as batch:
        batch.add_column(
            sa.Column("format_version", sa.Integer(), nullable=False, server_default="1")
        )
        batch.add_column(sa.Column("language", sa.String(8), nullable=False, server_default="en"))
    # The defaults were for the rows already there: new rows always say.
    with op.batch_alter_table("report_archive") as batch:
        batch.alter_column("format_version", server_default=None)
        batch.alter_column("language", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("report_archive") as batch:
        batch.drop_column("language")
        batch.drop_column("format_version")
