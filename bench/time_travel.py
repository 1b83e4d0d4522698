"""time_travel: a commitment of 10,000 events read as it was, at random versions, as of
random effective dates and as known at random recorded times (Tracker.state), against a
full replay of its events from the store; the read models have caught up, as on a served
database. The value is the median over all three kinds; the ratio is how many times
faster than the baseline.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bench.common import Result, fresh_database, services_on
from bench.load_long_commitment import CODE, EVENTS, build
from domain.commitment import replay

QUERIES = 15  # of each kind; 5 with --quick
TARGET_MS = 2.0


def _ms(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def measure(kind: str, quick: bool = False) -> Result:
    queries = 5 if quick else QUERIES
    pick = random.Random(12)
    with fresh_database(kind) as url:
        writer = services_on(url)
        started = datetime.now(UTC)
        build(writer)
        finished = datetime.now(UTC)
        # As a served database is: the projection (and so the timeline that as_of and
        # known_at read, adapters/timeline.py) has caught up with the log.
        writer.projection.catch_up()
        writer.close()
        services = services_on(url)
        try:
            tracker = services.tracker
            aggregate_id = tracker.get(CODE).id
            today = finished.date()
            span = (finished - started).total_seconds()
            baseline = [
                _ms(lambda: replay(tracker.events.get(aggregate_id)))  # type: ignore[arg-type]
                for _ in range(5)
            ]
            versions, as_ofs, known_ats = [], [], []
            for _ in range(queries):
                version = pick.randint(1, EVENTS)
                versions.append(_ms(lambda v=version: tracker.state(CODE, version=v)))  # type: ignore[misc]
                as_of = today - timedelta(days=pick.randint(0, 30))
                as_ofs.append(_ms(lambda d=as_of: tracker.state(CODE, as_of=d)))  # type: ignore[misc]
                # After the registration (the first of the build's writes).
                known_at = started + timedelta(seconds=pick.uniform(0.2 * span, span))
                known_ats.append(_ms(lambda k=known_at: tracker.state(CODE, known_at=k)))  # type: ignore[misc]
        finally:
            services.close()
    value = statistics.median(versions + as_ofs + known_ats)
    baseline_ms = statistics.median(baseline)
    return Result(
        "time_travel",
        kind,
        round(value, 2),
        "ms",
        "full replay of the commitment's events",
        round(baseline_ms, 2),
        round(baseline_ms / value, 2),
        f"median <= {TARGET_MS} ms",
        value <= TARGET_MS,
        {
            "version_ms": round(statistics.median(versions), 2),
            "as_of_ms": round(statistics.median(as_ofs), 2),
            "known_at_ms": round(statistics.median(known_ats), 2),
        },
    )
