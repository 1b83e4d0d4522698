"""Loading a commitment with 10,000 events: snapshots and cache against a full replay.

Baseline: replaying all events from the store (what a Tracker without snapshots does).
Measured: a cold load through the snapshot store (new process, empty cache), a cached
load, and a past version. Prints medians and the speed-up over the baseline.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from adapters.event_store import open_tracker
from adapters.migrate import upgrade
from domain.commitment import Commitment, replay
from domain.tracker import Tracker

CODE = "CMAP-BENCH-LONG"
EVENTS = 10_000


def median_ms(action: Callable[[], object], repeat: int = 15) -> float:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def build(tracker: Tracker) -> None:
    tracker.register(
        actor="bench",
        code=CODE,
        title="Long-lived",
        pillar="governance",
        sectors=["governance"],
        parties=["CA", "MX"],
        lead_party="joint",
    )

    def script(c: Commitment) -> None:
        for i in range(500):
            c.rate_health(actor="bench", rating="green" if i % 2 else "amber", rationale=f"r{i}")

    for _ in range(EVENTS // 500):
        tracker.apply_script(CODE, script)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite'}"
        upgrade(url)
        writer = open_tracker(url)
        build(writer)
        aggregate_id = writer.get(CODE).id
        writer.close()

        reader = open_tracker(url)
        baseline = median_ms(lambda: replay(reader.events.get(aggregate_id)))  # type: ignore[arg-type]

        def cold() -> object:
            reader.repository.cache.clear()  # type: ignore[union-attr]
            return reader.get(CODE)

        cold_ms = median_ms(cold)
        reader.get(CODE)
        cached_ms = median_ms(lambda: reader.get(CODE))
        past_ms = median_ms(lambda: reader.state(CODE, version=5_123))
        reader.close()

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
