"""The event chain (tamper evidence), built for the events already stored.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import sqlalchemy as sa
from alembic import op

from adapters.ledger import GENESIS, canonical_bytes, chain_hash

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5_000


def upgrade() -> None:
    chain = op.create_table(
        "event_chain",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    # Chain the events stored before this revision, oldest first, in batches.
    connection = op.get_bind()
    query = sa.text(
        "SELECT id, originator_id, originator_version, topic, state FROM tracker_events "
        "WHERE id > :after ORDER BY id LIMIT :limit"
    ).columns(originator_id=sa.LargeBinary() if connection.dialect.name == "sqlite" else sa.Uuid())
    previous, after = GENESIS, 0
    while True:
        rows = connection.execute(query, {"after": after, "limit": _BATCH}).all()
        if not rows:
            break
        entries = []
        for row in rows:
            originator = row.originator_id
            originator_id = (
                originator if isinstance(originator, UUID) else UUID(bytes=bytes(originator))
            )
            previous = chain_hash(
                previous,
                canonical_bytes(
                    row.id, originator_id, row.originator_version, row.topic, bytes(row.state)
                ),
            )
            entries.append({"position": row.id, "hash": previous})
        op.bulk_insert(chain, entries)
        after = rows[-1].id


def downgrade() -> None:
    op.drop_table("event_chain")
