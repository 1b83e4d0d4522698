"""The Merkle tree over the log (RFC 9162): each chain entry gets its dense leaf index,
and the tree's nodes are built for the events already stored.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from alembic import op

from adapters.ledger import canonical_bytes, node_row
from domain.merkle import Frontier, leaf_hash

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5_000


def upgrade() -> None:
    with op.batch_alter_table("event_chain") as batch:
        batch.add_column(sa.Column("leaf", sa.BigInteger(), nullable=True))
    nodes = op.create_table(
        "merkle_nodes",
        sa.Column("last_leaf", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("last_leaf", "level"),
    )
    # Leaves in log order, oldest first, in batches: the same bytes the chain hashes.
    connection = op.get_bind()
    query = sa.text(
        "SELECT id, originator_id, originator_version, topic, state FROM tracker_events "
        "WHERE id > :after ORDER BY id LIMIT :limit"
    ).columns(originator_id=sa.LargeBinary() if connection.dialect.name == "sqlite" else sa.Uuid())
    set_leaf = sa.text("UPDATE event_chain SET leaf = :leaf WHERE position = :position")
    frontier, after = Frontier(), 0
    while True:
        rows = connection.execute(query, {"after": after, "limit": _BATCH}).all()
        if not rows:
            break
        leaves: list[dict[str, Any]] = []
        new_nodes: list[dict[str, Any]] = []
        for row in rows:
            originator = row.originator_id
            originator_id = (
                originator if isinstance(originator, UUID) else UUID(bytes=bytes(originator))
            )
            canonical = canonical_bytes(
                row.id, originator_id, row.originator_version, row.topic, bytes(row.state)
            )
            leaves.append({"leaf": frontier.size, "position": row.id})
            frontier, completed = frontier.append(leaf_hash(canonical))
            new_nodes.extend(node_row(node, value) for node, value in completed)
        connection.execute(set_leaf, leaves)
        op.bulk_insert(nodes, new_nodes)
        after = rows[-1].id
    with op.batch_alter_table("event_chain") as batch:
        batch.alter_column("leaf", existing_type=sa.BigInteger(), nullable=False)
        batch.create_index("event_chain_leaf_idx", ["leaf"], unique=True)


def downgrade() -> None:
    op.drop_table("merkle_nodes")
    with op.batch_alter_table("event_chain") as batch:
        batch.drop_index("event_chain_leaf_idx")
        batch.drop_column("leaf")
