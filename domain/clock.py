"""The one source of 'now' for the domain, so scripted histories can fix the recorded time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_fixed: list[datetime] = []


def now() -> datetime:
    """Timezone-aware UTC now, or the time fixed by `frozen_at`."""
    return _fixed[-1] if _fixed else datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored or given time as aware UTC: naive ones (SQLite hands them back, users type
    them) are taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    """Record every event created inside the block at `moment` (tests, imports)."""
    if moment.tzinfo is None:
        raise ValueError("frozen_at needs a timezone-aware datetime")
    _fixed.append(moment)
    try:
        yield
    finally:
        _fixed.pop()
