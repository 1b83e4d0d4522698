"""Who may do what: roles and party scope (docs/api.md), as domain rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from domain.errors import Forbidden, InvalidValue


class Role(Enum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"


# Separates a token's name from its id in an actor: no name may contain it (domain/tokens.py),
# so `name#1a2b3c4d` is always a token holder and an actor without it is the system.
ACTOR_SEPARATOR = "#"
TOKEN_ID_SHOWN = 8  # hex digits of the token id in an actor: enough to tell tokens apart


@dataclass(frozen=True)
class Principal:
    """The holder of a token, or the system itself (`token_id` None). Its `actor` is
    recorded as who caused each of its events."""

    name: str
    role: Role
    party: str | None = None
    token_id: str | None = None  # 32 hex digits

    @property
    def actor(self) -> str:
        """`name#<first 8 hex digits of the token id>` for a token holder: a name alone
        would be ambiguous across a restore, or for tokens named before names were unique.
        The system's own writes keep their plain names (`seed`, `scheduler`...)."""
        if self.token_id is None:
            return self.name
        return token_actor(self.name, self.token_id)

    def require_writer(self) -> None:
        """May this principal write at all? (Viewers and editors without a party not.)"""
        if self.role is Role.VIEWER:
            raise Forbidden("a viewer token may only read")
        if self.role is Role.EDITOR and self.party is None:
            raise Forbidden("an editor token without a party writes nothing")

    def require_write(self, parties: Sequence[str]) -> None:
        """Admins write anything; editors only commitments that include their party."""
        self.require_writer()
        if self.role is Role.EDITOR and self.party not in parties:
            raise Forbidden(
                f"token {self.name!r} (party {self.party}) may not write to a commitment "
                f"of {', '.join(parties)}"
            )

    def require_admin(self) -> None:
        if self.role is not Role.ADMIN:
            raise Forbidden("this needs an admin token")


def token_actor(name: str, token_id: str) -> str:
    return f"{name}{ACTOR_SEPARATOR}{token_id[:TOKEN_ID_SHOWN]}"


# Writes made by the system itself (seeds, the CLI on the operator's behalf).
def system(name: str) -> Principal:
    if ACTOR_SEPARATOR in name:
        # It would read as a token holder's actor.
        raise InvalidValue(f"a system actor must not contain {ACTOR_SEPARATOR!r}; got {name!r}")
    return Principal(name=name, role=Role.ADMIN)
