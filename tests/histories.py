"""Generated commitment histories for time travel: dated facts reported late and early,
undated facts about the plan, recording times that sometimes go backwards (clocks of
several hosts), several events per write; and the check that Tracker.state answers
exactly what a replay of the events answers."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain import clock
from domain.commands import (
    AddMilestone,
    CommitmentCommand,
    CompleteMilestone,
    LogProgress,
    RateHealth,
    ReviseDetails,
    Together,
)
from domain.commitment import Commitment, replay
from domain.errors import NotFound
from domain.tracker import Tracker
from domain.vocabulary import Health

START = date(2025, 9, 18)  # the registration's start date (tests/support.py)
FIRST_RECORDED = datetime(2026, 1, 5, 9, tzinfo=UTC)


@dataclass(frozen=True)
class Step:
    recorded_at: datetime
    command: CommitmentCommand


def _past_date(rng: random.Random, recorded_at: datetime) -> date:
    return START + timedelta(days=rng.randint(0, (recorded_at.date() - START).days))


def history(rng: random.Random, steps: int) -> list[Step]:
    """Writes after the registration (recorded at FIRST_RECORDED)."""
    moment = FIRST_RECORDED
    added = completed = 0
    found: list[Step] = []
    for i in range(steps):
        # Mostly forwards, sometimes the same instant or backwards.
        moment += timedelta(hours=rng.choice([-30, -1, 0, 2, 20, 50, 200]))
        moment = max(moment, FIRST_RECORDED)
        commands: list[CommitmentCommand] = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            kind = rng.random()
            if kind < 0.35:
                commands.append(
                    LogProgress(
                        percent=rng.randint(0, 100),
                        as_of=_past_date(rng, moment),
                        note=f"n{i}",
                    )
                )
            elif kind < 0.65:
                as_of = None if rng.random() < 0.3 else _past_date(rng, moment)
                commands.append(
                    RateHealth(rating=rng.choice(list(Health)), rationale=f"r{i}", as_of=as_of)
                )
            elif kind < 0.8 or added == completed:
                added += 1
                due = moment.date() + timedelta(days=rng.randint(0, 400))
                commands.append(AddMilestone(title=f"milestone {added}", due_date=due))
            elif kind < 0.9:
                completed += 1
                commands.append(
                    CompleteMilestone(
                        milestone_id=f"m{completed}", completed_on=_past_date(rng, moment)
                    )
                )
            else:
                commands.append(
                    ReviseDetails(description=f"revised {i}.{len(commands)}", reason="re-planned")
                )
        command = commands[0] if len(commands) == 1 else Together(tuple(commands))
        found.append(Step(moment, command))
    return found


def play(steps: list[Step], run: Callable[[CommitmentCommand], Any]) -> None:
    for step in steps:
        with clock.frozen_at(step.recorded_at):
            run(step.command)


def compare(tracker: Tracker, code: str, rng: random.Random, queries: int) -> int:
    """Ask Tracker.state for random as_of dates, known_at times and both (and every
    version), asserting each answer is replay's; returns how many answers were compared."""
    events = tracker.events_of(code)
    recorded = sorted({e.timestamp for e in events})
    dated = sorted({d for e in events if (d := e.effective_on()) is not None})
    first, last = START - timedelta(days=2), max([*dated, START]) + timedelta(days=2)

    def some_date() -> date:
        if dated and rng.random() < 0.6:
            return rng.choice(dated) + timedelta(days=rng.choice([-1, 0, 0, 1]))
        return first + timedelta(days=rng.randint(0, (last - first).days))

    def some_time() -> datetime:
        moment = rng.choice(recorded)
        return moment + timedelta(microseconds=rng.choice([-1, 0, 0, 1]))

    compared = 0
    for version in range(1, len(events) + 1):
        assert _same(tracker.state(code, version=version), replay(events[:version]))
        compared += 1
    for _ in range(queries):
        as_of = some_date() if rng.random() < 0.8 else None
        known_at = some_time() if rng.random() < 0.6 or as_of is None else None
        expected = replay(events, as_of=as_of, known_at=known_at)
        try:
            found: Commitment | None = tracker.state(code, as_of=as_of, known_at=known_at)
        except NotFound:
            found = None
        assert _same(found, expected), (as_of, known_at)
        compared += 1
    return compared


def _same(found: Commitment | None, expected: Commitment | None) -> bool:
    if found is None or expected is None:
        return found is expected
    return type(found) is type(expected) and vars(found) == vars(expected)
