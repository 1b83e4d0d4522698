"""Bearer tokens: issued and revoked as events in the log (domain/tokens.py), each with its
row of `api_tokens` written in the same transaction by the unit of work, so a token never
exists without its event nor an event without its token. A token's secret is made here,
shown once and stored only as a SHA-256 hash; neither is ever in an event.

`Authenticator` checks a token on each request: unknown, revoked and expired tokens fail,
and failures are counted per client address (adapters/rate_limit.py).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from cachetools import TTLCache
from sqlalchemy import Connection, Row, Update, insert, select, update

from adapters.database import Database
from adapters.event_store import EventWrite
from adapters.metrics import Metrics
from adapters.rate_limit import FailureLimit
from adapters.tables import api_tokens, sessions
from adapters.unit_of_work import Beside, UnitOfWork, Write
from domain import clock
from domain.access import ACTOR_SEPARATOR, Principal, Role, token_actor
from domain.commands import EarlierToken, IssueToken, RevokeToken
from domain.errors import DuplicateName, NotFound
from domain.tokens import ApiToken, TokenStatus, check_role, name_key, token_status
from domain.tracker import Change

TOKEN_PREFIX = "cmt_"
# How long a server remembers a token's holder (a lookup per request would cost more than
# many a write). A revocation takes effect at once on the server that made it, and within
# this many seconds on the others; expiry is checked on every request.
AUTH_CACHE_SECONDS = 5.0


def digest(token: str) -> str:
    # Tokens are 256 random bits, so a plain hash is as strong as a slow one here.
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class TokenInfo:
    """A token as `api_tokens` holds it, without its hash."""

    id: str
    name: str
    role: Role
    party: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def actor(self) -> str:
        return token_actor(self.name, self.id)

    def status(self, now: datetime) -> str:
        return token_status(self.revoked_at, self.expires_at, now)

    def principal(self) -> Principal:
        return Principal(self.name, self.role, self.party, token_id=self.id)

    def as_dict(self, now: datetime) -> dict[str, Any]:
        """The token resource of the API and `token list` (api/schemas.py:TokenOut)."""
        return {
            "id": self.id,
            "name": self.name,
            "actor": self.actor,
            "role": self.role.value,
            "party": self.party,
            "status": self.status(now),
            "created_at": self.created_at.isoformat(),
            "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at),
        }

    @classmethod
    def of_row(cls, row: Row[Any]) -> TokenInfo:
        return cls(
            id=row.id,
            name=row.name,
            role=Role(row.role),
            party=row.party,
            created_at=clock.as_utc(row.created_at),
            expires_at=None if row.expires_at is None else clock.as_utc(row.expires_at),
            revoked_at=None if row.revoked_at is None else clock.as_utc(row.revoked_at),
        )

    @classmethod
    def of_token(cls, token: ApiToken) -> TokenInfo:
        """The token as a write left it (the answer of the write, built after its commit)."""
        return cls(
            id=token.token_id,
            name=token.name,
            role=token.role,
            party=token.party,
            created_at=clock.as_utc(token.issued_at),
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
        )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


_COLUMNS = (
    api_tokens.c.id,
    api_tokens.c.name,
    api_tokens.c.role,
    api_tokens.c.party,
    api_tokens.c.created_at,
    api_tokens.c.expires_at,
    api_tokens.c.revoked_at,
)


def _name_tag(key: str) -> tuple[str, str]:
    return ("api_tokens.name_key", key)


@dataclass(eq=False)
class Issuing:
    """A token to issue: the command, the secret, and `beside`, which stores the token's
    row (with the secret's hash) beside its Issued event, or refuses a name that is taken.
    (Checked under the unit of work's lock, so no other issue commits between the check
    and the insert; the unique index has the last word all the same.)"""

    command: IssueToken
    secret: str
    _issued: list[uuid.UUID] = field(default_factory=list)

    def beside(self, write: EventWrite, change: Change) -> None:
        token = change.aggregate
        assert isinstance(token, ApiToken)
        key = name_key(token.name)
        holder = _holder(write.connection, key)
        if holder is not None or write.tagged(_name_tag(key)):
            held = f"token {holder.actor}" if holder is not None else "another token"
            raise DuplicateName(
                f"token name {token.name!r} is taken: {held} has it (names are unique "
                "whatever their case, and stay taken once a token is revoked or expired)"
            )
        row = {
            "id": token.token_id,
            "name": token.name,
            "name_key": key,
            "role": token.role.value,
            "party": token.party,
            "token_hash": digest(self.secret),
            "created_at": token.issued_at,
            "expires_at": token.expires_at,
        }
        write.add_statement(insert(api_tokens).values(row), tag=_name_tag(key))
        self._issued.append(token.id)

    def secret_of(self, token: ApiToken) -> str | None:
        """The secret if this issued `token`; None for one an earlier request with the same
        Idempotency-Key issued (its secret is known to no one any more)."""
        return self.secret if token.id in self._issued else None


def ending_sessions(token_id: str, now: datetime) -> Update:
    """The statement that ends every open dashboard session of a token (adapters/sessions.py)."""
    return (
        update(sessions)
        .where(sessions.c.token_id == token_id, sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )


def _holder(connection: Connection, key: str) -> TokenInfo | None:
    row = connection.execute(select(*_COLUMNS).where(api_tokens.c.name_key == key)).first()
    return None if row is None else TokenInfo.of_row(row)


class TokenStore:
    """Issue, revoke, find and list tokens. Issuing and revoking are writes through the
    unit of work; the API runs them through its own write path with `issuing` and
    `revoking`, which say what to write."""

    def __init__(
        self,
        database: Database,
        unit_of_work: UnitOfWork,
        authenticator: Authenticator,
        *,
        now: Callable[[], datetime] = clock.now,
    ) -> None:
        self.database = database
        self.unit_of_work = unit_of_work
        self.authenticator = authenticator
        self.now = now

    # ---- writes ---------------------------------------------------------------------------

    def issuing(
        self,
        *,
        name: str,
        role: Role | str,
        party: str | None = None,
        expires_at: datetime | None = None,
    ) -> Issuing:
        """What issues a token: its command, its secret and what stores its row."""
        command = IssueToken(name=name, role=check_role(role), party=party, expires_at=expires_at)
        return Issuing(command, new_secret())

    def issue(
        self,
        by: Principal,
        *,
        name: str,
        role: Role | str,
        party: str | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[str, TokenInfo]:
        """Issue a token; its secret (shown once, never stored) and what is stored."""
        issuing = self.issuing(name=name, role=role, party=party, expires_at=expires_at)
        written = self.unit_of_work.run(Write(by, issuing.command, beside=issuing.beside))
        assert written.change is not None
        token = written.change.aggregate
        assert isinstance(token, ApiToken)
        return issuing.secret, TokenInfo.of_token(token)

    def revoking(self, ref: str, *, reason: str = "") -> tuple[RevokeToken, Beside]:
        """The command that revokes the token `ref` names, and what updates its row."""
        found = self.get(ref)
        earlier = EarlierToken(
            name=found.name,
            role=found.role,
            party=found.party,
            issued_at=found.created_at,
            expires_at=found.expires_at,
        )
        command = RevokeToken(token_id=uuid.UUID(found.id), reason=reason, earlier=earlier)
        return command, self._store_revoked

    def _store_revoked(self, write: EventWrite, change: Change) -> None:
        token = change.aggregate
        assert isinstance(token, ApiToken)
        write.add_statement(
            update(api_tokens)
            .where(api_tokens.c.id == token.token_id)
            .values(revoked_at=token.revoked_at)
        )
        # Its dashboard sessions end with it, in the same transaction.
        assert token.revoked_at is not None
        write.add_statement(ending_sessions(token.token_id, token.revoked_at))
        # Once committed, this server stops accepting it at once.
        write.on_commit.append(partial(self.authenticator.forget, token.token_id))

    def revoke(self, by: Principal, ref: str, *, reason: str = "") -> TokenInfo:
        command, beside = self.revoking(ref, reason=reason)
        written = self.unit_of_work.run(Write(by, command, beside=beside))
        assert written.change is not None
        token = written.change.aggregate
        assert isinstance(token, ApiToken)
        return TokenInfo.of_token(token)

    def bootstrap(self, by: Principal, name: str) -> str | None:
        """An admin token's secret if no admin token works yet (None otherwise), named
        `name`, or `name-2`, `name-3`... if that name is taken (by a revoked one, say)."""
        if self.has_admin():
            return None
        for candidate in [name, *(f"{name}-{n}" for n in range(2, 100))]:
            try:
                secret, _ = self.issue(by, name=candidate, role=Role.ADMIN)
            except DuplicateName:
                continue
            return secret
        raise DuplicateName(f"token names {name} to {name}-99 are all taken; give another")

    # ---- reads ----------------------------------------------------------------------------

    def get(self, ref: str) -> TokenInfo:
        """The token `ref` names: its id (32 hex digits or a UUID), its name (any case), or
        its actor as events record it (`name#1a2b3c4d`)."""
        ref = ref.strip()
        query = select(*_COLUMNS)
        try:
            query = query.where(api_tokens.c.id == uuid.UUID(ref).hex)
        except ValueError:
            name, separator, prefix = ref.rpartition(ACTOR_SEPARATOR)
            if not separator:
                name, prefix = ref, ""
            query = query.where(api_tokens.c.name_key == name_key(name))
            if prefix:
                query = query.where(api_tokens.c.id.startswith(prefix.lower(), autoescape=True))
        with self.database.reading() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise NotFound(f"no token {ref!r}: give its id, its name or its actor")
        return TokenInfo.of_row(row)

    def list(self) -> list[TokenInfo]:
        """Every token, revoked and expired ones too, oldest first."""
        query = select(*_COLUMNS).order_by(api_tokens.c.created_at, api_tokens.c.id)
        with self.database.reading() as connection:
            return [TokenInfo.of_row(row) for row in connection.execute(query)]

    def has_admin(self) -> bool:
        """Does an admin token work (not revoked, not expired)?"""
        query = select(*_COLUMNS).where(
            api_tokens.c.role == Role.ADMIN.value, api_tokens.c.revoked_at.is_(None)
        )
        with self.database.reading() as connection:
            found = [TokenInfo.of_row(row) for row in connection.execute(query)]
        now = self.now()
        return any(token.status(now) == TokenStatus.ACTIVE for token in found)


def authenticate(database: Database, token: str, now: datetime | None = None) -> Principal | None:
    """The principal holding `token`, or None for an unknown, revoked or expired token."""
    return _lookup(database, token, now or clock.now())[0]


def _lookup(
    database: Database, token: str, now: datetime
) -> tuple[Principal | None, datetime | None]:
    with database.one_query() as connection:
        row = connection.execute(
            select(*_COLUMNS).where(api_tokens.c.token_hash == digest(token))
        ).first()
    if row is None:
        return None, None
    found = TokenInfo.of_row(row)
    if found.status(now) != TokenStatus.ACTIVE:
        return None, None
    return found.principal(), found.expires_at


class TooManyFailures(Exception):
    """This client address failed to authenticate too often: retry after `seconds`."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many failed authentications from this address; retry in {seconds} s")
        self.seconds = seconds


class Authenticator:
    """Who holds a token, remembered for a few seconds. Unknown tokens are not remembered,
    so a new token works at once; a revoked one is forgotten when its revocation commits
    here, and works on other servers for at most `ttl` seconds more; expiry is judged on
    `now()` at every request. With `failures`, each address may fail only so often."""

    def __init__(
        self,
        database: Database,
        *,
        ttl: float = AUTH_CACHE_SECONDS,
        now: Callable[[], datetime] = clock.now,
        failures: FailureLimit | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.database = database
        self.now = now
        self.failures = failures
        self.metrics = metrics
        self._known: TTLCache[str, tuple[Principal, datetime | None]] = TTLCache(
            maxsize=10_000, ttl=ttl
        )
        self._lock = threading.Lock()

    def remembered(self, token: str) -> Principal | None:
        """The holder if seen in the last `ttl` seconds and not expired (no database)."""
        key = digest(token)
        with self._lock:
            found = self._known.get(key)
        if found is None:
            return None
        principal, expires_at = found
        if expires_at is not None and expires_at <= self.now():
            with self._lock:
                self._known.pop(key, None)
            return None
        return principal

    def __call__(self, token: str) -> Principal | None:
        found = self.remembered(token)
        if found is not None:
            return found
        principal, expires_at = _lookup(self.database, token, self.now())
        if principal is not None:
            with self._lock:
                self._known[digest(token)] = (principal, expires_at)
        return principal

    def forget(self, token_id: str) -> None:
        """Stop accepting a token at once (it was revoked)."""
        with self._lock:
            for key, (principal, _) in list(self._known.items()):
                if principal.token_id == token_id:
                    del self._known[key]

    # ---- with the failure limit (api/dependencies.py, the dashboard) -------------------

    def refuse_if_limited(self, address: str) -> None:
        """Raise TooManyFailures if `address` has failed too often lately."""
        if self.failures is None:
            return
        seconds = self.failures.retry_after(address)
        if seconds is not None:
            if self.metrics is not None:
                self.metrics.auth_throttled.inc()
            raise TooManyFailures(seconds)

    def failed(self, address: str) -> None:
        if self.metrics is not None:
            self.metrics.auth_failures.inc()
        if self.failures is not None:
            self.failures.failed(address)

    def check(self, token: str, address: str) -> Principal | None:
        """The holder of `token` sent from `address`, or None (counted as a failure);
        TooManyFailures, without a look-up, when the address failed too often lately."""
        self.refuse_if_limited(address)
        principal = self(token)
        if principal is None:
            self.failed(address)
        return principal
