"""Time travel from the timeline (domain/time_travel.py) answers exactly what a replay
answers, whatever part of the history the timeline has indexed yet; here on the
in-memory store, with the timeline kept in memory (the SQL one: tests/integration)."""

from __future__ import annotations

import random
from bisect import bisect_right
from datetime import date, datetime
from itertools import pairwise
from uuid import UUID

import pytest

from domain import clock
from domain.commitment import Commitment
from domain.time_travel import Cuts, Mark, next_mark, plan
from domain.tracker import Tracker
from tests.conftest import memory_tracker
from tests.histories import FIRST_RECORDED, compare, history, play
from tests.support import ADMIN, CODE, registration


class MemoryTimeline:
    """The Timeline port over the marks of the first `indexed` events of each commitment."""

    def __init__(self) -> None:
        self.marks: dict[UUID, list[Mark]] = {}
        self.asked = 0

    def index(self, events: list[Commitment.Event], indexed: int) -> None:
        marks: list[Mark] = []
        for event in events[:indexed]:
            marks.append(next_mark(marks[-1] if marks else None, event))
        if events:
            self.marks[events[0].originator_id] = marks

    def cuts(self, commitment_id: UUID, *, known_at: datetime | None, as_of: date | None) -> Cuts:
        marks = self.marks.get(commitment_id)
        if not marks:
            return Cuts(None)
        self.asked += 1
        first_unknown = first_later = next_irregular = None
        if known_at is not None:
            at = bisect_right([m.known_from for m in marks], known_at)
            first_unknown = marks[at].version if at < len(marks) else None
        if as_of is not None:
            later = (m for m in marks if m.dated_until is not None and m.dated_until > as_of)
            first_later = next((m.version for m in later), None)
            if first_later is not None:
                after = (m for m in marks if m.version > first_later and m.irregular)
                next_irregular = next((m.version for m in after), None)
        return Cuts(marks[-1], first_unknown, first_later, next_irregular)

    def irregular(self, commitment_id: UUID, after: int, up_to: int) -> list[Mark]:
        return [m for m in self.marks[commitment_id] if after < m.version <= up_to and m.irregular]


def tracked(seed: int, steps: int) -> tuple[Tracker, MemoryTimeline, list[Commitment.Event]]:
    tracker = memory_tracker()
    with clock.frozen_at(FIRST_RECORDED):
        tracker.register(ADMIN, registration())
    play(history(random.Random(seed), steps), lambda c: tracker.update(ADMIN, CODE, c))
    timeline = MemoryTimeline()
    tracker.timeline = timeline
    return tracker, timeline, tracker.events_of(CODE)


@pytest.mark.parametrize("seed", range(12))
def test_every_answer_is_the_replays_whatever_the_timeline_has_indexed(seed: int) -> None:
    rng = random.Random(seed)
    tracker, timeline, events = tracked(seed, steps=rng.randint(5, 60))
    for indexed in sorted({0, 1, len(events), rng.randint(1, len(events))}):
        timeline.index(events, indexed)
        assert compare(tracker, CODE, rng, queries=60) > 60
    assert timeline.asked > 0  # the timeline was used, not only the events


def test_the_running_maxima_of_the_marks() -> None:
    _, _, events = tracked(seed=3, steps=40)
    marks: list[Mark] = []
    for event in events:
        marks.append(next_mark(marks[-1] if marks else None, event))
    assert marks[0].effective_on is None and marks[0].irregular
    for (before, mark), event in zip(pairwise(marks), events[1:], strict=True):
        assert mark.known_from == max(before.known_from, clock.as_utc(event.timestamp))
        dates = [d for e in events[1 : mark.version] if (d := e.effective_on()) is not None]
        assert mark.dated_until == (max(dates) if dates else None)
        effective, seen = mark.effective_on, before.dated_until
        late = effective is not None and seen is not None and effective < seen
        assert mark.irregular == (effective is None or late)
    # Recording times went backwards somewhere in this history, and facts came late.
    assert any(e.timestamp < d.timestamp for d, e in pairwise(events))
    assert any(m.irregular and m.effective_on is not None for m in marks)


def test_a_plan_applies_only_the_facts_dated_by_then_after_the_first_skipped_one() -> None:
    _, timeline, events = tracked(seed=5, steps=50)
    timeline.index(events, len(events))
    commitment_id = events[0].originator_id
    dated = [e for e in events[1:] if e.effective_on() is not None]
    as_of = sorted(e.effective_on() for e in dated)[len(dated) // 2]  # type: ignore[type-var]
    cuts = timeline.cuts(commitment_id, known_at=None, as_of=as_of)
    found = plan(timeline, commitment_id, cuts, [], as_of=as_of, known_at=None)
    first_later = next(e.originator_version for e in dated if e.effective_on() > as_of)  # type: ignore[operator]
    assert (found.known, found.base) == (len(events), first_later - 1)
    assert list(found.versions) == [
        e.originator_version
        for e in events[first_later:]
        if e.effective_on() is None or e.effective_on() <= as_of  # type: ignore[operator]
    ]
    assert found.events == ()
