"""Domain errors: each carries a message that can be shown to the user as is."""


class DomainError(Exception):
    """A command broke a rule of the model."""

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else type(self).__name__


class InvalidValue(DomainError):
    """A value is malformed or out of bounds (HTTP 422)."""


class StateConflict(DomainError):
    """The command does not fit the commitment's current state (HTTP 409)."""


class DuplicateCode(StateConflict):
    """A commitment with this code is already registered (HTTP 409)."""


class DuplicateName(StateConflict):
    """A token with this name (whatever its case) exists already (HTTP 409)."""


class Forbidden(DomainError):
    """The principal's role or party may not do this (HTTP 403)."""


class NotFound(DomainError):
    """No commitment (or milestone, indicator) with that reference (HTTP 404)."""


class VersionMismatch(DomainError):
    """The caller expected another version of the commitment or schedule (HTTP 412).
    `actual` 0: it does not exist (yet)."""

    def __init__(self, expected: int, actual: int, what: str = "commitment") -> None:
        now = f"is at version {actual}" if actual else "does not exist yet"
        super().__init__(f"expected version {expected} but the {what} {now}")
        self.expected = expected
        self.actual = actual


def check_version(expected: int | None, actual: int, what: str = "commitment") -> None:
    """If-Match: with an expected version, any other current version (0: none) fails."""
    if expected is not None and expected != actual:
        raise VersionMismatch(expected, actual, what)
