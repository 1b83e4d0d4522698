"""Loading a commitment with 10,000 events: snapshots and cache against a full replay.

Baseline: replaying all events from the store (what a Tracker without snapshots does).
Measured: a cold load through the snapshot store (new process, empty cache), a cached
load, and a past version. Prints medians and the speed-up over the baseline.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from adapters.bootstrap import Services
from adapters.unit_of_work import Write
from bench.common import fresh_database, services_on
from domain.access import system
from domain.commands import RateHealth, RegisterCommitment, Together
from domain.commitment import replay
from domain.vocabulary import Health, Pillar

CODE = "CMAP-BENCH-LONG"
EVENTS = 10_000


def median_ms(action: Callable[[], object], repeat: int = 15) -> float:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def build(services: Services) -> None:
    bench = system("bench")
    register = RegisterCommitment(
        code=CODE, title="Long-lived", pillar=Pillar.GOVERNANCE, sectors=("governance",),
        parties=("CA", "MX"), lead_party="joint",
    )  # fmt: skip
    services.unit_of_work.run(Write(bench, register))
    ratings = tuple(
        RateHealth(rating=Health.GREEN if i % 2 else Health.AMBER, rationale=f"r{i}")
        for i in range(500)
    )
    for _ in range(EVENTS // 500):
        services.unit_of_work.run(Write(bench, Together(ratings), ref=CODE))


def main() -> None:
    with fresh_database("sqlite") as url:
        writer = services_on(url)
        build(writer)
        aggregate_id = writer.tracker.get(CODE).id
        writer.close()

        services = services_on(url)
        reader = services.tracker
        baseline = median_ms(lambda: replay(reader.events.get(aggregate_id)))  # type: ignore[arg-type]

        def cold() -> object:
            reader.repository.cache.clear()  # type: ignore[union-attr]
            return reader.get(CODE)

        cold_ms = median_ms(cold)
        reader.get(CODE)
        cached_ms = median_ms(lambda: reader.get(CODE))
        past_ms = median_ms(lambda: reader.state(CODE, version=5_123))
        services.close()

    print(f"load a {EVENTS:,}-event commitment (SQLite), median of 15:")
    print(f"  baseline full replay      {baseline:8.2f} ms")
    for name, ms in [
        ("cold, from snapshot", cold_ms),
        ("cached", cached_ms),
        ("past version", past_ms),
    ]:
        print(f"  {name:<25} {ms:8.2f} ms   {baseline / ms:7.1f}x faster than the baseline")


if __name__ == "__main__":
    main()
