"""Projection catch-up, chain verification and report generation over a large log.

Baselines measured in the same run: the projection applied one event per transaction
(batch size 1, as a per-event tracking recorder would) against the batched catch-up;
chain verification and report generation are printed as events per second and seconds,
next to their targets.
"""

from __future__ import annotations

import time
from datetime import date

from adapters.bootstrap import Services
from adapters.ledger import verify
from adapters.projection import ReadModelProjection
from adapters.rebuild import Rebuilder
from adapters.reports.data import ReportInputs
from adapters.reports.render import render
from adapters.unit_of_work import Write
from bench.common import fresh_database, services_on
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

COMMITMENTS = 1_000
EVENTS_EACH = 100
NAIVE_SAMPLE = 2_000


BENCH = system("bench")


def build_log(services: Services) -> None:
    steps: list[CommitmentCommand] = [AddMilestone(title="m", due_date=date(2026, 12, 1))]
    for k in range(EVENTS_EACH - 2):
        if k % 2:
            steps.append(RateHealth(rating=Health.GREEN, rationale="r", as_of=date(2026, 1, 1)))
        else:
            steps.append(LogProgress(percent=k, as_of=date(2026, 1, 1), note="n"))
    script = Together(tuple(steps))
    for i in range(COMMITMENTS):
        code = f"CMAP-BENCH-C{i:04d}"
        register = RegisterCommitment(
            code=code, title="Bench", pillar=(Pillar.PROSPERITY, Pillar.SECURITY)[i % 2],
            sectors=("trade",), parties=("CA", "MX"), lead_party="joint",
        )  # fmt: skip
        services.unit_of_work.run(Write(BENCH, register))
        services.unit_of_work.run(Write(BENCH, script, ref=code))


def main() -> None:
    with fresh_database("sqlite") as url:
        services = services_on(url)
        build_log(services)
        head = services.reports.head()

        naive = ReadModelProjection(
            services.database, services.tracker, name="bench_naive", batch_size=1
        )
        start = time.perf_counter()
        naive.catch_up(max_batches=NAIVE_SAMPLE)
        naive_rate = NAIVE_SAMPLE / (time.perf_counter() - start)

        batched = services.projection
        batched.reset()
        start = time.perf_counter()
        applied = batched.catch_up()
        batched_rate = applied / (time.perf_counter() - start)

        start = time.perf_counter()
        Rebuilder(services.database, services.tracker).run()
        rebuild_seconds = time.perf_counter() - start

        start = time.perf_counter()
        result = verify(services.database)
        verify_rate = result.events / (time.perf_counter() - start)

        timings = {}
        for as_of in (date(2026, 11, 24), date(2026, 1, 15)):
            start = time.perf_counter()
            render(services.reports.build(ReportInputs(head, as_of)), "html")
            timings[as_of] = time.perf_counter() - start
        services.close()

    print(f"log of {head:,} events, {COMMITMENTS:,} commitments (SQLite)")
    print(f"  projection, one event per transaction  {naive_rate:10,.0f} events/s (baseline)")
    print(
        f"  projection, batched catch-up           {batched_rate:10,.0f} events/s "
        f"{batched_rate / naive_rate:6.1f}x the baseline (target >= 10x and >= 30,000/s)"
    )
    print(f"  rebuild beside the live read models    {rebuild_seconds:10.1f} s (replay and switch)")
    print(f"  chain verification                     {verify_rate:10,.0f} events/s", end="")
    print(" (target >= 100,000/s)")
    for as_of, seconds in timings.items():
        print(f"  HTML report with charts, as of {as_of}  {seconds:6.2f} s (target <= 3 s)")


if __name__ == "__main__":
    main()
