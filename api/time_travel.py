"""Time travel on a commitment's page: `?as_of=DATE`, `?known_at=DATETIME`, `?version=N`,
the same questions as GET /api/v1/commitments/{ref} answers (domain Tracker.state).

A page does not refuse a bad value with a problem document: it says what is wrong next
to the form and shows the commitment as it is now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from domain import clock
from domain.vocabulary import EARLIEST_DATE, LATEST_DATE

MAX_VERSION = 10**9


@dataclass(frozen=True)
class Moment:
    """When the page shows the commitment at (all None: now), and what was wrong."""

    version: int | None = None
    as_of: date | None = None
    known_at: datetime | None = None
    problems: tuple[str, ...] = ()

    @property
    def past(self) -> bool:
        return not (self.version is None and self.as_of is None and self.known_at is None)


def read_moment(params: Mapping[str, str], gettext: Callable[[str], str]) -> Moment:
    """The moment asked for; a value that is not one gives a problem in words, not a 500."""
    _ = gettext
    problems: list[str] = []
    as_of = known_at = None
    version = None
    # The API's bounds: outside them a date is a typing mistake (and the chart's
    # calendar cannot draw it).
    bounds = _("Choose a date from %(first)s to %(last)s.") % {
        "first": EARLIEST_DATE.isoformat(),
        "last": LATEST_DATE.isoformat(),
    }
    if raw := params.get("as_of", "").strip():
        try:
            as_of = date.fromisoformat(raw)
        except ValueError:
            problems.append(_("“%(value)s” is not a date such as 2026-03-31.") % {"value": raw})
        else:
            if not EARLIEST_DATE <= as_of <= LATEST_DATE:
                problems.append(bounds)
    if raw := params.get("known_at", "").strip():
        try:
            known_at = clock.as_utc(datetime.fromisoformat(raw))
        except (ValueError, OverflowError):
            problems.append(
                _("“%(value)s” is not a date and time such as 2026-04-01T09:00 (UTC).")
                % {"value": raw}
            )
        else:
            if not EARLIEST_DATE <= known_at.date() <= LATEST_DATE:
                problems.append(bounds)
    if raw := params.get("version", "").strip():
        if raw.isdigit() and 1 <= int(raw) <= MAX_VERSION:
            version = int(raw)
        else:
            problems.append(_("“%(value)s” is not a version number.") % {"value": raw})
    if version is not None and (as_of is not None or known_at is not None):
        problems.append(_("Choose either a version, or a date and/or a time, not both."))
    if problems:
        return Moment(problems=tuple(problems))
    return Moment(version, as_of, known_at)


def utc_text(moment: datetime) -> str:
    """A recorded time as people read it: 2026-04-01 09:00 UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
