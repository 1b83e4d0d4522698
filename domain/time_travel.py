"""Reading a commitment as it was without folding its whole history.

`replay` (domain/commitment.py) defines the answer: `known_at` keeps the prefix of events
recorded by then; `as_of` then skips the facts dated later, while the version still
counts them. Its cost grows with the history; this module finds the same answer from a
timeline of marks, one per event, kept by the projection (adapters/timeline.py):

- the known prefix ends before the first event whose `known_from` (the latest recording
  time up to it) is later than `known_at`;
- the first event skipped for `as_of` is the first whose `dated_until` (the latest
  effective date up to it) is later than `as_of`. Everything before it is applied, so
  the state up to there is a plain past version (a snapshot and a few events);
- after it, an event is applied only if it has no effective date or one on or before
  `as_of`, which (being earlier than a date already seen) makes it `irregular`: only
  those are looked at, and only those dated then or undated are decoded.

Both running maxima only grow with the version, so each search is one indexed lookup.
The marks of the events the timeline has not indexed yet (the projection lags) are
computed here from the events themselves, so the answer never depends on the lag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from domain import clock
from domain.commitment import Commitment


@dataclass(frozen=True)
class Mark:
    """What the timeline keeps of one event of a commitment."""

    version: int
    known_from: datetime  # the latest recording time of the events up to this one (UTC)
    effective_on: date | None  # None: applies whatever the date (and version 1, never skipped)
    dated_until: date | None  # the latest effective date of the events up to this one
    # Undated, or dated before an earlier event: the only kind applied after a skipped one.
    irregular: bool


def next_mark(previous: Mark | None, event: Commitment.Event) -> Mark:
    """The mark of `event`, given the mark of the event before it (None for version 1)."""
    recorded = clock.as_utc(event.timestamp)
    # replay() never skips the first event, whatever its date.
    effective = None if previous is None else event.effective_on()
    before = None if previous is None else previous.dated_until
    if effective is None:
        dated_until = before
    else:
        dated_until = effective if before is None else max(before, effective)
    return Mark(
        version=event.originator_version,
        known_from=recorded if previous is None else max(previous.known_from, recorded),
        effective_on=effective,
        dated_until=dated_until,
        irregular=effective is None or (before is not None and effective < before),
    )


@dataclass(frozen=True)
class Cuts:
    """What the timeline says of a commitment for a known_at and an as_of: the mark of
    the highest version indexed (None: none is), the first indexed version whose
    known_from is later than known_at, and the first whose dated_until is later than
    as_of (None: no such version, or not asked), and the first irregular version after
    that one (None: none); and, if it can tell, the commitment's last version in the log
    (when that is the last indexed, no event is left to read)."""

    last: Mark | None
    first_unknown: int | None = None
    first_later: int | None = None
    next_irregular: int | None = None
    logged: int | None = None


class Timeline(Protocol):
    """The marks of each commitment's events, versions 1 to some version without gaps
    (adapters/timeline.py keeps them in a read model)."""

    def cuts(self, commitment_id: UUID, *, known_at: datetime | None, as_of: date | None) -> Cuts:
        """All at once (one round trip to a database)."""

    def irregular(self, commitment_id: UUID, after: int, up_to: int) -> list[Mark]:
        """The irregular marks of the versions in (after, up_to], oldest first."""


@dataclass(frozen=True)
class Plan:
    """How to build the state: the plain version `base`, then the events of `versions`
    (to be read from the log) and `events` (already read), in version order, the
    version set to `version` at the end. `known` == 0: nothing was recorded by then."""

    known: int
    base: int
    versions: tuple[int, ...] = ()
    events: tuple[Commitment.Event, ...] = ()


def plan(
    timeline: Timeline,
    commitment_id: UUID,
    cuts: Cuts,
    unindexed: Sequence[Commitment.Event],
    *,
    as_of: date | None,
    known_at: datetime | None,
) -> Plan:
    """The plan giving what `replay(events, as_of=..., known_at=...)` gives, from the
    timeline's `cuts` for the same known_at and as_of and `unindexed`, the commitment's
    events after its last indexed version, in order."""
    last = cuts.last
    indexed = 0 if last is None else last.version
    tail: list[tuple[Mark, Commitment.Event]] = []
    mark = last
    for event in unindexed:
        mark = next_mark(mark, event)
        tail.append((mark, event))
    known = mark.version if mark is not None else 0
    if known_at is not None:
        known_at = clock.as_utc(known_at)
        first = cuts.first_unknown
        if first is None:
            first = next((m.version for m, _ in tail if m.known_from > known_at), None)
        if first is not None:
            known = first - 1
    if as_of is None or known == 0:
        return Plan(known, known)
    later = cuts.first_later
    if later is None:
        later = next(
            (m.version for m, _ in tail if m.dated_until is not None and m.dated_until > as_of),
            None,
        )
    if later is None or later > known:
        return Plan(known, known)

    def applies(m: Mark) -> bool:
        return m.effective_on is None or m.effective_on <= as_of

    up_to = min(known, indexed)
    irregular = cuts.next_irregular is not None and later < cuts.next_irregular <= up_to
    versions = (
        tuple(m.version for m in timeline.irregular(commitment_id, later, up_to) if applies(m))
        if irregular
        else ()
    )
    events = tuple(e for m, e in tail if later < m.version <= known and m.irregular and applies(m))
    return Plan(known, later - 1, versions, events)
