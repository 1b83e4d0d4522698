"""Bearer tokens: created once, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from datetime import UTC, datetime

from cachetools import TTLCache
from sqlalchemy import insert, select

from adapters.database import Database
from adapters.tables import api_tokens
from domain.access import Principal, Role
from domain.errors import InvalidValue
from domain.vocabulary import check_party, check_text

TOKEN_PREFIX = "cmt_"
AUTH_CACHE_SECONDS = 5.0


def _digest(token: str) -> str:
    # Tokens are 256 random bits, so a plain hash is as strong as a slow one here.
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(database: Database, *, name: str, role: Role | str, party: str | None) -> str:
    """Store a new token for `name` and return it; it cannot be shown again."""
    name = check_text(name, "name", required=True, limit=100)
    try:
        role = Role(role)
    except ValueError:
        raise InvalidValue(
            f"role must be one of {', '.join(r.value for r in Role)}; got {role!r}"
        ) from None
    if party is not None:
        check_party(party)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with database.writing() as connection:
        connection.execute(
            insert(api_tokens).values(
                id=uuid.uuid4().hex,
                name=name,
                role=role.value,
                party=party,
                token_hash=_digest(token),
                created_at=datetime.now(UTC),
            )
        )
    return token


def authenticate(database: Database, token: str) -> Principal | None:
    """The principal holding `token`, or None for an unknown or revoked token."""
    with database.engine.connect() as connection:
        row = connection.execute(
            select(api_tokens.c.name, api_tokens.c.role, api_tokens.c.party).where(
                api_tokens.c.token_hash == _digest(token), api_tokens.c.revoked_at.is_(None)
            )
        ).first()
    if row is None:
        return None
    return Principal(name=row.name, role=Role(row.role), party=row.party)


class Authenticator:
    """Who holds a token, remembered for a few seconds: a lookup per request would cost
    more than many a write. Unknown tokens are not remembered, so a new token works at
    once; a token removed from the table keeps working here for at most `ttl` seconds."""

    def __init__(self, database: Database, *, ttl: float = AUTH_CACHE_SECONDS) -> None:
        self.database = database
        self._known: TTLCache[str, Principal] = TTLCache(maxsize=10_000, ttl=ttl)
        self._lock = threading.Lock()

    def remembered(self, token: str) -> Principal | None:
        """The holder if seen in the last `ttl` seconds (no database access)."""
        with self._lock:
            return self._known.get(_digest(token))

    def __call__(self, token: str) -> Principal | None:
        found = self.remembered(token)
        if found is not None:
            return found
        principal = authenticate(self.database, token)
        if principal is not None:
            with self._lock:
                self._known[_digest(token)] = principal
        return principal


def has_admin_token(database: Database) -> bool:
    with database.reading() as connection:
        row = connection.execute(
            select(api_tokens.c.id).where(
                api_tokens.c.role == Role.ADMIN.value, api_tokens.c.revoked_at.is_(None)
            )
        ).first()
    return row is not None
