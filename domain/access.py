"""Who may do what: roles and party scope of CONTRACT section 4."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


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

    def may_write(self, parties: list[str]) -> bool:
        """Admins write anything; editors only commitments that include their party."""
        if self.role is Role.ADMIN:
            return True
        return self.role is Role.EDITOR and self.party is not None and self.party in parties

    def may_administer(self) -> bool:
        return self.role is Role.ADMIN
