"""report and dashboard over the shared log: no baseline, the targets alone judge them.

report: the HTML report with charts (adapters/reports), as of today and as of a past
date, read from the read models (the log's projection is caught up); the value is the
slower of the two medians, with the garbage collector as the CLI and the server run it
(`collector_as_served`). Details: the same reports with Python's default collector
(`default_gc_*`, interleaved), and replaying the log (the reference path, which
`verify --report` uses), once each, in the same run.

dashboard: the portfolio (`/`) and a commitment page (`/c/{code}`), each the first view
after a write (the write changes the log's head, so no cache answers), through the
FastAPI app in process; median and p99. After each write the projection applies it
before the view, untimed: in production the projector does so in the background.
Detail `portfolio_replay_ms`: interleaved portfolio views after a write not projected
yet, which replay the log as every first view did before the page read projections.
"""

from __future__ import annotations

import gc
import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient

from adapters.bootstrap import Services
from adapters.reports.data import ReportInputs
from adapters.reports.render import render
from adapters.settings import Settings
from adapters.unit_of_work import Write
from api import collector
from api.app import create_app
from bench.common import Result
from bench.sizes import BENCH
from domain.commands import LogProgress

REPORTS = 3
TARGET_REPORT_S = {100_000: 1.0, 1_000_000: 3.0}  # the targets, by log size
TARGET_MEDIAN_MS = 100.0
TARGET_P99_MS = 300.0
# Views of each page stop once they took this long in all, after MIN_VIEWS each: while a
# first view replays the log (about 20 s a portfolio at 1,000,000 events), 15 of each
# would take a quarter of an hour.
VIEWS_BUDGET_S = 120.0
MIN_VIEWS = 3
CODE = "CMAP-BENCH-C00000"
# Each write logs a percent no write of this process logged before (up to 100 of them:
# at most 36 views a database), so no chart a page keeps by what it shows (drawn in an
# earlier view, of either database) answers a first view after a write.
_PERCENTS = itertools.count(0)


def _seconds(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


@contextmanager
def collector_as_served() -> Iterator[None]:
    """The garbage collector as `commitments serve` and the CLI's commands run it
    (api/collector.py), then as it was for the other benchmarks."""
    thresholds = gc.get_threshold()
    collector.settle()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def report(kind: str, services: Services, events: int) -> Result:
    head = services.reports.head()
    today = datetime.now(UTC).date()
    past = today - timedelta(days=300)

    def html(as_of: date, replay: bool = False) -> object:
        return render(services.reports.build(ReportInputs(head, as_of), replay=replay), "html")

    timings: dict[date, list[float]] = {today: [], past: []}
    untuned: dict[date, list[float]] = {today: [], past: []}
    for _ in range(REPORTS):
        for as_of, seconds in timings.items():
            with collector_as_served():
                seconds.append(_seconds(lambda d=as_of: html(d)))  # type: ignore[misc]
            untuned[as_of].append(_seconds(lambda d=as_of: html(d)))  # type: ignore[misc]
    today_s = statistics.median(timings[today])
    past_s = statistics.median(timings[past])
    replayed = {as_of: _seconds(lambda d=as_of: html(d, replay=True)) for as_of in timings}  # type: ignore[misc]
    target = TARGET_REPORT_S[100_000] if events <= 100_000 else TARGET_REPORT_S[1_000_000]
    value = max(today_s, past_s)
    return Result(
        "report",
        kind,
        round(value, 3),
        "s",
        None,
        None,
        None,
        f"<= {target:.0f} s (today and {past})",
        value <= target,
        {
            "today_s": round(today_s, 3),
            "past_s": round(past_s, 3),
            "default_gc_today_s": round(statistics.median(untuned[today]), 3),
            "default_gc_past_s": round(statistics.median(untuned[past]), 3),
            "replay_today_s": round(replayed[today], 3),
            "replay_past_s": round(replayed[past], 3),
            "events": float(head),
        },
    )


def dashboard(kind: str, url: str, quick: bool) -> Result:
    views = 6 if quick else 15
    settings = Settings(database_url=url, public_read=True, scheduler=False, projector=False)
    portfolio: list[float] = []
    page: list[float] = []
    with TestClient(create_app(settings)) as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]

        def first_view(path: str, projected: bool = True) -> float:
            percent = next(_PERCENTS) % 101
            command = LogProgress(percent=percent, as_of=date(2026, 1, 1), note="bench")
            services.unit_of_work.run(Write(BENCH, command, ref=CODE))
            if projected:
                services.projection.catch_up()
            start = time.perf_counter()
            response = client.get(path)
            elapsed = (time.perf_counter() - start) * 1000
            assert response.status_code == 200, response.status_code
            return elapsed

        first_view("/")  # warm up: templates, routes
        replayed: list[float] = []
        for i in range(views):
            if (
                i >= MIN_VIEWS
                and sum(portfolio) + sum(page) + sum(replayed) > VIEWS_BUDGET_S * 1000
            ):
                break
            portfolio.append(first_view("/"))
            page.append(first_view(f"/c/{CODE}"))
            if i % 3 == 0:
                # Baseline, interleaved: the write not projected yet, so the portfolio
                # replays the log (as every first view did before it read projections).
                replayed.append(first_view("/", projected=False))
    every = sorted(portfolio + page)
    median = statistics.median(every)
    p99 = every[min(len(every) - 1, round(0.99 * (len(every) - 1)))]
    return Result(
        "dashboard",
        kind,
        round(median, 1),
        "ms",
        None,
        None,
        None,
        f"median <= {TARGET_MEDIAN_MS:.0f} ms, p99 <= {TARGET_P99_MS:.0f} ms",
        median <= TARGET_MEDIAN_MS and p99 <= TARGET_P99_MS,
        {
            "p99_ms": round(p99, 1),
            "portfolio_ms": round(statistics.median(portfolio), 1),
            "commitment_ms": round(statistics.median(page), 1),
            "portfolio_replay_ms": round(statistics.median(replayed), 1),
            "views": float(len(page)),
        },
    )
