"""projection_rebuild: a rebuild of every read model (adapters/rebuild.Rebuilder: replay
into shadow tables, then switch) over the shared log, against two baselines in the same
run: decoding the same events from the log (read in batches, mapped to domain events,
nothing folded or written), and the projection applied one event per transaction (a
sample of the log, as a per-event tracking recorder would).
"""

from __future__ import annotations

import statistics
import time

from adapters.bootstrap import Services
from adapters.projection import ReadModelProjection, log_head, next_events
from adapters.rebuild import Rebuilder
from bench.common import Result

ROUNDS = 2
BATCH = 1_000
PER_EVENT_SAMPLE = 1_000
TARGET_DECODE_RATIO = 0.7
TARGET_RATE = {"sqlite": 30_000.0, "postgresql": 0.0}  # the issue sets a rate on SQLite only
TARGET_PER_EVENT_RATIO = 10.0


def _decode(services: Services) -> float:
    mapper = services.tracker.mapper
    decoded = 0
    start = time.perf_counter()
    with services.database.reading() as connection:
        head = log_head(connection)
        after = 0
        while after < head:
            batch = next_events(connection, after, BATCH)
            if not batch:
                break
            for notification in batch:
                mapper.to_domain_event(notification)
            decoded += len(batch)
            after = batch[-1].id
    return decoded / (time.perf_counter() - start)


def _rebuild(services: Services) -> float:
    head = services.projection.head()
    start = time.perf_counter()
    Rebuilder(services.database, services.tracker).run()
    return head / (time.perf_counter() - start)


def _per_event(services: Services) -> float:
    """The first PER_EVENT_SAMPLE events into the live tables, one transaction each (they
    are emptied first, and caught up again in batches afterwards)."""
    services.projection.reset()
    naive = ReadModelProjection(
        services.database, services.tracker, name="bench_per_event", batch_size=1
    )
    start = time.perf_counter()
    applied = naive.catch_up(max_batches=PER_EVENT_SAMPLE)
    rate = applied / (time.perf_counter() - start)
    services.projection.reset()
    services.projection.catch_up()
    return rate


def measure(kind: str, services: Services) -> Result:
    rebuild_rates, decode_rates = [], []
    for _ in range(ROUNDS):
        decode_rates.append(_decode(services))
        rebuild_rates.append(_rebuild(services))
    per_event = _per_event(services)
    rate = statistics.median(rebuild_rates)
    ratio = statistics.median(r / d for r, d in zip(rebuild_rates, decode_rates, strict=True))
    per_event_ratio = rate / per_event
    target_rate = TARGET_RATE[kind]
    rate_target = f", >= {target_rate:,.0f}/s" if target_rate else ""
    return Result(
        "projection_rebuild",
        kind,
        round(rate, 1),
        "/s",
        "decoding the same events from the log",
        round(statistics.median(decode_rates), 1),
        round(ratio, 3),
        f">= {TARGET_DECODE_RATIO}x{rate_target}, >= {TARGET_PER_EVENT_RATIO:.0f}x per-event",
        ratio >= TARGET_DECODE_RATIO
        and rate >= target_rate
        and per_event_ratio >= TARGET_PER_EVENT_RATIO,
        {
            "events": float(services.projection.head()),
            "per_event_rate": round(per_event, 1),
            "per_event_ratio": round(per_event_ratio, 2),
        },
    )
