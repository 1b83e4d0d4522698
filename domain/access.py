"""Who may do what: roles and party scope (docs/api.md), as domain rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from domain.errors import Forbidden


class Role(Enum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """The holder of a token. Its `name` is recorded as the actor of its events."""

    name: str
    role: Role
    party: str | None = None

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


# Writes made by the system itself (seeds, the CLI on the operator's behalf).
def system(name: str) -> Principal:
    return Principal(name=name, role=Role.ADMIN)
