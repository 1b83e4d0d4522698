"""Dashboard sessions: what the sign-in cookie stands for, kept on the server.

Signing in with a token starts a session: the browser gets a random id (256 bits), the
`sessions` table only its SHA-256 hash and the id of the token it was signed in with,
so neither a stolen database row nor the cookie gives away the token. Each page view
finds the session's holder through its token, so what the token may do is what the
session may do, and:

- signing out ends the session (`end`): the old cookie no longer works anywhere;
- revoking the token ends its sessions, in the revocation's own transaction
  (adapters/tokens.py:ending_sessions); a token that expired is refused
  at the next page view, and that ends the session too;
- a session ends `idle` seconds after it was last seen, and `max_age` seconds after it
  began, whatever (COMMITMENTS_SESSION_IDLE_SECONDS, COMMITMENTS_SESSION_MAX_SECONDS);
  it never outlives its token's own expiry.

`last_seen_at` is written at most once per `TOUCH_SECONDS`, so a page view is not a
write each time; the idle limit is therefore kept to within that many seconds.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, insert, select, update

from adapters.database import Database
from adapters.settings import DEFAULT_SESSION_IDLE_SECONDS, DEFAULT_SESSION_MAX_SECONDS
from adapters.tables import api_tokens, sessions
from adapters.tokens import TokenInfo, digest
from domain import clock
from domain.access import Principal, Role
from domain.tokens import TokenStatus

TOUCH_SECONDS = 60.0
# Ended and expired sessions are deleted this long after they could last have been used
# (kept a while for whoever looks into a sign-in).
KEEP_ENDED = timedelta(days=30)
_SESSION_ID_LENGTH = 43  # secrets.token_urlsafe(32)


class SessionStore:
    """Start, find and end dashboard sessions."""

    def __init__(
        self,
        database: Database,
        *,
        idle_seconds: float = DEFAULT_SESSION_IDLE_SECONDS,
        max_seconds: float = DEFAULT_SESSION_MAX_SECONDS,
        now: Callable[[], datetime] = clock.now,
    ) -> None:
        self.database = database
        self.idle = timedelta(seconds=idle_seconds)
        self.max_age = timedelta(seconds=max_seconds)
        self.now = now

    def start(self, principal: Principal) -> str:
        """A new session for the holder of a token; its id, for the cookie (never stored)."""
        if principal.token_id is None:
            raise ValueError("only a token's holder signs in")
        session_id = secrets.token_urlsafe(32)
        now = self.now()
        with self.database.writing() as connection:
            connection.execute(delete(sessions).where(sessions.c.expires_at < now - KEEP_ENDED))
            connection.execute(
                insert(sessions).values(
                    id_hash=digest(session_id),
                    token_id=principal.token_id,
                    created_at=now,
                    expires_at=now + self.max_age,
                    last_seen_at=now,
                    ended_at=None,
                )
            )
        return session_id

    def holder(self, session_id: str) -> Principal | None:
        """Who the session is of, or None: unknown, ended, idle or too old, or its token
        revoked or expired (then the session is ended here)."""
        if len(session_id) != _SESSION_ID_LENGTH:
            return None
        key = digest(session_id)
        with self.database.one_query() as connection:
            row = connection.execute(
                select(
                    sessions.c.expires_at,
                    sessions.c.last_seen_at,
                    sessions.c.ended_at,
                    api_tokens.c.id,
                    api_tokens.c.name,
                    api_tokens.c.role,
                    api_tokens.c.party,
                    api_tokens.c.created_at,
                    api_tokens.c.expires_at.label("token_expires_at"),
                    api_tokens.c.revoked_at,
                )
                .join(api_tokens, api_tokens.c.id == sessions.c.token_id)
                .where(sessions.c.id_hash == key)
            ).first()
        if row is None or row.ended_at is not None:
            return None
        now = self.now()
        token = TokenInfo(
            id=row.id,
            name=row.name,
            role=Role(row.role),
            party=row.party,
            created_at=clock.as_utc(row.created_at),
            expires_at=None if row.token_expires_at is None else clock.as_utc(row.token_expires_at),
            revoked_at=None if row.revoked_at is None else clock.as_utc(row.revoked_at),
        )
        last_seen = clock.as_utc(row.last_seen_at)
        if (
            clock.as_utc(row.expires_at) <= now
            or last_seen + self.idle <= now
            or token.status(now) != TokenStatus.ACTIVE
        ):
            self._end(key, now)
            return None
        if now - last_seen >= timedelta(seconds=TOUCH_SECONDS):
            with self.database.writing() as connection:
                connection.execute(
                    update(sessions)
                    .where(sessions.c.id_hash == key, sessions.c.ended_at.is_(None))
                    .values(last_seen_at=now)
                )
        return token.principal()

    def end(self, session_id: str) -> None:
        """Sign out: the session (if any) stops working at once."""
        if len(session_id) == _SESSION_ID_LENGTH:
            self._end(digest(session_id), self.now())

    def open_sessions(self, token_id: str) -> int:
        """How many sessions of the token have not ended (they may still be past a limit)."""
        with self.database.reading() as connection:
            return len(
                connection.execute(
                    select(sessions.c.id_hash).where(
                        and_(sessions.c.token_id == token_id, sessions.c.ended_at.is_(None))
                    )
                ).all()
            )

    def _end(self, key: str, now: datetime) -> None:
        with self.database.writing() as connection:
            connection.execute(
                update(sessions)
                .where(sessions.c.id_hash == key, sessions.c.ended_at.is_(None))
                .values(ended_at=now)
            )
