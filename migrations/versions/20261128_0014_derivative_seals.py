"""Derivative seals: snapshots and archived artefacts carry an HMAC under a key derived
from the operator's signing key, which the database does not hold (adapters/seals.py).

Existing rows get NULL (unsealed). A server with the signing key does not load an unsealed
snapshot (it replays instead, and the next snapshot is taken sealed), and serves an
unsealed artefact on its sha256 alone, saying so (header X-Content-Sealed: false).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("snapshot_digests") as batch:
        batch.add_column(sa.Column("seal", sa.String(length=64), nullable=True))
    with op.batch_alter_table("report_artefacts") as batch:
        batch.add_column(sa.Column("seal", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("report_artefacts") as batch:
        batch.drop_column("seal")
    with op.batch_alter_table("snapshot_digests") as batch:
        batch.drop_column("seal")
