"""Projection catch-up, chain verification and report generation over a large log.

Baselines measured in the same run: the projection applied one event per transaction
(batch size 1, as a per-event tracking recorder would) against the batched catch-up;
chain verification and report generation are printed as events per second and seconds,
next to the ROADMAP targets.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

from adapters.event_store import engine_of, open_tracker
from adapters.ledger import verify
from adapters.migrate import upgrade
from adapters.projection import ReadModelProjection
from adapters.reports.data import ReportInputs, build_report, log_head
from adapters.reports.render import render
from domain.commitment import Commitment
from domain.tracker import Tracker

COMMITMENTS = 1_000
EVENTS_EACH = 100
NAIVE_SAMPLE = 2_000


def build_log(tracker: Tracker) -> None:
    def script(c: Commitment) -> None:
        c.add_milestone(actor="bench", title="m", due_date=date(2026, 12, 1))
        for k in range(EVENTS_EACH - 2):
            if k % 2:
                c.rate_health(actor="bench", rating="green", rationale="r", as_of=date(2026, 1, 1))
            else:
                c.log_progress(actor="bench", percent=k, as_of=date(2026, 1, 1), note="n")

    for i in range(COMMITMENTS):
        code = f"CMAP-BENCH-C{i:04d}"
        tracker.register(
            actor="bench", code=code, title="Bench", pillar=("prosperity", "security")[i % 2],
            sectors=["trade"], parties=["CA", "MX"], lead_party="joint",
        )  # fmt: skip
        tracker.apply_script(code, script)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite'}"
        upgrade(url)
        tracker = open_tracker(url)
        build_log(tracker)
        head = log_head(tracker)

        naive = ReadModelProjection(tracker, name="bench_naive", batch_size=1)
        start = time.perf_counter()
        naive.catch_up(max_batches=NAIVE_SAMPLE)
        naive_rate = NAIVE_SAMPLE / (time.perf_counter() - start)

        batched = ReadModelProjection(tracker)
        batched.rebuild()
        start = time.perf_counter()
        applied = batched.catch_up()
        batched_rate = applied / (time.perf_counter() - start)

        start = time.perf_counter()
        result = verify(engine_of(tracker))
        verify_rate = result.events / (time.perf_counter() - start)

        timings = {}
        for as_of in (date(2026, 11, 24), date(2026, 1, 15)):
            start = time.perf_counter()
            render(build_report(tracker, ReportInputs(head, as_of)), "html")
            timings[as_of] = time.perf_counter() - start
        tracker.close()

    print(f"log of {head:,} events, {COMMITMENTS:,} commitments (SQLite)")
    print(f"  projection, one event per transaction  {naive_rate:10,.0f} events/s (baseline)")
    print(
        f"  projection, batched catch-up           {batched_rate:10,.0f} events/s "
        f"{batched_rate / naive_rate:6.1f}x the baseline (target >= 10x and >= 30,000/s)"
    )
    print(f"  chain verification                     {verify_rate:10,.0f} events/s", end="")
    print(" (target >= 100,000/s)")
    for as_of, seconds in timings.items():
        print(f"  HTML report with charts, as of {as_of}  {seconds:6.2f} s (target <= 3 s)")


if __name__ == "__main__":
    main()
