"""Accountable identities: token names unique whatever their case, and tokens that expire.

Adds `api_tokens.name_key` (the name in lower case, under a unique index) and
`api_tokens.expires_at` (null: never; tokens made before never expire).

Existing tokens keep working, with the same secret, role and party, but every name must
now follow the rule new names follow (domain/tokens.py): 1-64 letters, digits, '.', '_',
'-' or '@' starting with a letter or digit, not reserved (`seed`, `sample-data`,
`system`, `scheduler`, `cli`), not shaped like a token id, and unique whatever its case.
Of the tokens sharing a name, the oldest keeps it; every other token whose name breaks
the rule is renamed to its name with other characters replaced by '-', cut to 55
characters, and `-<first 8 hex digits of its id>` added (`Ana.CA` after `ana.ca` becomes
`Ana.CA-1a2b3c4d`; `seed` becomes `seed-1a2b3c4d`). Each rename is logged as a warning.
Their past events keep the name they were recorded with; new ones record
`name#<8 hex digits>` (domain/access.py). Idempotency-Key records of a token whose old
name was its own are carried over to its new actor, so a retry across the upgrade is still
answered; records of names shared by several tokens cannot be told apart and stay behind.

Downgrading drops the two columns; renamed tokens keep their new names.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import Counter
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

# The rule as it stood at this revision (a migration must not follow later code).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_RESERVED = {"seed", "sample-data", "system", "scheduler", "cli"}
_OTHER_CHARACTERS = re.compile(r"[^A-Za-z0-9._@-]")
_BASE_LENGTH = 55  # + '-' + 8 hex digits = 64

_tokens = sa.table(
    "api_tokens",
    sa.column("id", sa.String),
    sa.column("name", sa.String),
    sa.column("name_key", sa.String),
    sa.column("created_at", sa.DateTime),
)
_records = sa.table("idempotency_records", sa.column("actor", sa.String))


def _acceptable(name: str) -> bool:
    if not _NAME.fullmatch(name) or name.lower() in _RESERVED:
        return False
    try:
        uuid.UUID(name)
    except ValueError:
        return True
    return False


def _renamed(name: str, token_id: str, taken: set[str]) -> str:
    base = _OTHER_CHARACTERS.sub("-", name)[:_BASE_LENGTH] or "token"
    if not base[0].isalnum():
        base = "t" + base[: _BASE_LENGTH - 1]
    candidate = f"{base}-{token_id[:8]}"
    extra = 0
    while not _acceptable(candidate) or candidate.lower() in taken:
        extra += 1  # (only if another token was already named so)
        candidate = f"{base[: _BASE_LENGTH - 3]}-{extra}-{token_id[:8]}"
    return candidate


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("name_key", sa.String(64), nullable=True))
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True)))

    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_tokens.c.id, _tokens.c.name).order_by(_tokens.c.created_at, _tokens.c.id)
    ).all()
    names: dict[str, str] = {}
    taken: set[str] = set()
    for row in rows:  # the oldest of a name keeps it
        if _acceptable(row.name) and row.name.lower() not in taken:
            names[row.id] = row.name
            taken.add(row.name.lower())
    for row in rows:
        if row.id not in names:
            names[row.id] = _renamed(row.name, row.id, taken)
            taken.add(names[row.id].lower())
            log.warning(
                "token %s renamed from %r to %r: names are unique and follow one rule now",
                row.id,
                row.name,
                names[row.id],
            )
    held = Counter(row.name for row in rows)
    for row in rows:
        name = names[row.id]
        connection.execute(
            sa.update(_tokens)
            .where(_tokens.c.id == row.id)
            .values(name=name, name_key=name.lower())
        )
        if held[row.name] == 1:
            connection.execute(
                sa.update(_records)
                .where(_records.c.actor == row.name)
                .values(actor=f"{name}#{row.id[:8]}")
            )

    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("name_key", existing_type=sa.String(64), nullable=False)
    op.create_index("api_tokens_name_key_idx", "api_tokens", ["name_key"], unique=True)


def downgrade() -> None:
    op.drop_index("api_tokens_name_key_idx", table_name="api_tokens")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("name_key")
