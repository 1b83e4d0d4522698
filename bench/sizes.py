"""How big the benchmarks' logs are, and the log they share.

`make bench` uses COMMITMENTS_BENCH_EVENTS events (100,000 unless set; the issue's
1,000,000 with COMMITMENTS_BENCH_EVENTS=1000000); `make bench-quick` 10,000. The log is
commitments of EVENTS_EACH events each (a registration, a milestone, then progress and
health ratings alternating) up to MOST_COMMITMENTS of them; a longer log has longer
commitments: the issue's report is on 1,000 commitments at 100,000 and at 1,000,000
events (`shape`).

The log is written through the unit of work, as the API writes (commands, recorder, hash
chain, Merkle tree), by BUILDERS threads at once, so that its group commit puts up to
MAX_BATCH writes in a transaction. One commit (and one fsync) per write is 20,000 of them
for a million events, 5.6 ms each measured while the shared disk was busy: two minutes
of waiting on the disk alone. The threads cost no more CPU than one writer.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from adapters.bootstrap import Services
from adapters.unit_of_work import Write
from domain.access import system
from domain.commands import (
    AddMilestone,
    CommitmentCommand,
    LogProgress,
    RateHealth,
    RegisterCommitment,
    Together,
)
from domain.vocabulary import Health, Pillar

# Writers at once: as many as a group commit takes (adapters/unit_of_work.py MAX_BATCH).
BUILDERS = 64
QUICK_EVENTS = 10_000
DEFAULT_EVENTS = 100_000
EVENTS_EACH = 100  # each commitment's, at least
MOST_COMMITMENTS = 1_000
BENCH = system("bench")


def log_events(quick: bool) -> int:
    """Events in the shared log of this run."""
    if quick:
        return QUICK_EVENTS
    return int(os.environ.get("COMMITMENTS_BENCH_EVENTS", DEFAULT_EVENTS))


def shape(events: int) -> tuple[int, int]:
    """How many commitments the log of `events` events has, and how many events each."""
    commitments = max(1, min(MOST_COMMITMENTS, events // EVENTS_EACH))
    return commitments, max(EVENTS_EACH, events // commitments)


def build_log(services: Services, events: int) -> None:
    """About `events` events (`shape`), and the read models caught up."""
    commitments, each = shape(events)
    steps: list[CommitmentCommand] = [AddMilestone(title="m", due_date=date(2026, 12, 1))]
    for k in range(each - 2):
        if k % 2:
            steps.append(RateHealth(rating=Health.GREEN, rationale="r", as_of=date(2026, 1, 1)))
        else:
            percent = k * 100 // each  # rising to 99, whatever the length
            steps.append(LogProgress(percent=percent, as_of=date(2026, 1, 1), note="n"))
    script = Together(tuple(steps))

    def commitment(i: int) -> None:
        code = f"CMAP-BENCH-C{i:05d}"
        register = RegisterCommitment(
            code=code, title="Bench", pillar=(Pillar.PROSPERITY, Pillar.SECURITY)[i % 2],
            sectors=("trade",), parties=("CA", "MX"), lead_party="joint",
        )  # fmt: skip
        services.unit_of_work.run(Write(BENCH, register))
        services.unit_of_work.run(Write(BENCH, script, ref=code))

    with ThreadPoolExecutor(BUILDERS) as builders:
        # list(): a failed write raises here, not lost in its future.
        list(builders.map(commitment, range(commitments)))
    services.projection.catch_up()
    # As autovacuum would have by the time a log grew this long (it is written here in
    # minutes): the planner's statistics of the tables just filled (PostgreSQL).
    services.database.analyze()
