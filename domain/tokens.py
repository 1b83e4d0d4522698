"""API tokens as event-sourced aggregates: issuing and revoking a token are events in the
same chained log as the commitments, so who could act, and from when to when, is audited
like what they did. The secret and its hash are never part of an event.

Names: 1-64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit, unique
whatever their case (the store checks that: adapters/tokens.py), and never one the system
records its own writes under (RESERVED_NAMES; system actors such as `schedule:weekly`
contain ':', which no name may). A token holder's actor is `name#<8 hex digits of the id>`
(domain/access.py).

Topics are stored: never rename this module or its events.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from eventsourcing.domain import Aggregate

from domain import clock
from domain.access import Role, token_actor
from domain.commands import EarlierToken, IssueToken, RevokeToken
from domain.errors import InvalidValue, StateConflict
from domain.vocabulary import LATEST_DATE, MAX_TITLE, check_party, check_text

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
# Actors the system records its own writes under (adapters/seeds.py, adapters/scheduler.py,
# api/cli.py), whatever their case: a token of that name would pass for the system.
RESERVED_NAMES = frozenset({"seed", "sample-data", "system", "scheduler", "cli"})
LATEST_EXPIRY = datetime(LATEST_DATE.year + 1, 1, 1, tzinfo=UTC)


class TokenStatus:
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


def token_status(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> str:
    """Revoked, else expired once its expiry has come, else active."""
    if revoked_at is not None:
        return TokenStatus.REVOKED
    if expires_at is not None and expires_at <= now:
        return TokenStatus.EXPIRED
    return TokenStatus.ACTIVE


def name_key(name: str) -> str:
    """What makes two names the same name: their case does not count."""
    return name.lower()


def check_token_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidValue(
            f"token name {name!r} must be 1-64 letters, digits, '.', '_', '-' or '@', "
            "starting with a letter or digit"
        )
    if name_key(name) in RESERVED_NAMES:
        raise InvalidValue(
            f"token name {name!r} is reserved: the system records its own writes under it"
        )
    if _looks_like_an_id(name):
        # `token revoke ID-or-NAME` must mean one thing.
        raise InvalidValue(f"token name {name!r} looks like a token id; choose a name")
    return name


def _looks_like_an_id(name: str) -> bool:
    try:
        uuid.UUID(name)
    except ValueError:
        return False
    return True


def check_role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidValue(
            f"role must be one of {', '.join(r.value for r in Role)}; got {role!r}"
        ) from None


def check_role_and_party(role: Role | str, party: str | None) -> tuple[Role, str | None]:
    """An editor writes for one party, so it needs one; viewers and admins may name one."""
    role = check_role(role)
    if party is not None:
        check_party(party)
    elif role is Role.EDITOR:
        raise InvalidValue("an editor token needs a party (CA, MX, US...): it writes for one")
    return role, party


def check_expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    """A time after `now` (UTC if it has no offset), or None for a token that never expires."""
    if expires_at is None:
        return None
    if not isinstance(expires_at, datetime):
        raise InvalidValue("expires_at must be a date-time")
    moment = clock.as_utc(expires_at)
    if moment <= now:
        raise InvalidValue(f"expires_at {moment.isoformat()} is not in the future")
    if moment > LATEST_EXPIRY:
        raise InvalidValue(f"expires_at must be before {LATEST_EXPIRY.date().isoformat()}")
    return moment


class ApiToken(Aggregate):
    """A bearer token: who holds it (name, role, party), until when, and whether revoked."""

    class Event(Aggregate.Event):
        actor: str

        @staticmethod
        def create_timestamp() -> datetime:
            return clock.now()

    class Issued(Aggregate.Created, Event):
        name: str
        role: str
        party: str | None
        expires_at: datetime | None

        def apply(self, aggregate: ApiToken) -> None:
            aggregate._describe(self.name, self.role, self.party, self.expires_at)
            aggregate.issued_at = self.timestamp

    class IssuedEarlier(Aggregate.Created, Event):
        """A token issued before issuing was recorded, recorded when first changed."""

        name: str
        role: str
        party: str | None
        expires_at: datetime | None
        issued_at: datetime

        def apply(self, aggregate: ApiToken) -> None:
            aggregate._describe(self.name, self.role, self.party, self.expires_at)
            aggregate.issued_at = self.issued_at

    class Revoked(Event):
        reason: str

        def apply(self, aggregate: ApiToken) -> None:
            aggregate.revoked_at = self.timestamp
            aggregate.revoked_by = self.actor
            aggregate.revoke_reason = self.reason

    def __init__(self) -> None:
        # Only declarations: the creating event's apply sets the rest.
        self.revoked_at = None
        self.revoked_by = None
        self.revoke_reason = None

    name: str
    role: Role
    party: str | None
    expires_at: datetime | None
    issued_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None

    def _describe(
        self, name: str, role: str, party: str | None, expires_at: datetime | None
    ) -> None:
        self.name = name
        self.role = Role(role)
        self.party = party
        self.expires_at = expires_at

    @property
    def token_id(self) -> str:
        return str(self.id.hex)

    @property
    def actor(self) -> str:
        """What the events this token causes record as their actor."""
        return token_actor(self.name, self.token_id)

    def status(self, now: datetime) -> str:
        return token_status(self.revoked_at, self.expires_at, now)

    @classmethod
    def issue(cls, command: IssueToken, *, actor: str) -> ApiToken:
        role, party = check_role_and_party(command.role, command.party)
        return cls._create(
            cls.Issued,
            id=uuid.uuid4(),
            actor=_check_actor(actor),
            name=check_token_name(command.name),
            role=role.value,
            party=party,
            expires_at=check_expiry(command.expires_at, clock.now()),
        )

    @classmethod
    def recorded_late(cls, token_id: uuid.UUID, earlier: EarlierToken, *, actor: str) -> ApiToken:
        """A token issued before issuing was logged, as its row describes it. Its name and
        party predate today's rules (the migration to 0009 made names unique), so only
        what any event needs is checked."""
        return cls._create(
            cls.IssuedEarlier,
            id=token_id,
            actor=_check_actor(actor),
            name=check_text(earlier.name, "name", required=True, limit=MAX_TITLE),
            role=Role(earlier.role).value,
            party=earlier.party,
            expires_at=None if earlier.expires_at is None else clock.as_utc(earlier.expires_at),
            issued_at=clock.as_utc(earlier.issued_at),
        )

    def revoke(self, command: RevokeToken, *, actor: str) -> None:
        if self.revoked_at is not None:
            raise StateConflict(
                f"token {self.name} ({self.token_id}) was revoked already, at "
                f"{clock.as_utc(self.revoked_at).isoformat()}"
            )
        reason = check_text(command.reason, "reason", required=False, limit=MAX_TITLE)
        self.trigger_event(self.Revoked, actor=_check_actor(actor), reason=reason)


def _check_actor(actor: str) -> str:
    return check_text(actor, "actor", required=True, limit=MAX_TITLE)
