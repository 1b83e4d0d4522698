"""Prometheus metrics of one process (served at `/metrics`, api/routers/metrics.py).

Each `Metrics` has its own registry rather than prometheus-client's global one, so a
process (a test run) may build many apps without registering a metric twice. Counters
and histograms are updated where things happen (the unit of work, the report archive,
checkpoint signing, authentication, the HTTP middleware); the log head and the
projection's position and lag are read from the database when scraped, so they are
right even when another process does the projecting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from adapters.database import Database
from adapters.leases import lease_states
from adapters.projection import log_head, projection_position

log = logging.getLogger(__name__)

# No `*_created` sample beside each counter and histogram: a start time per series that
# doubles the exposition and that Prometheus's own text format does not use.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Report generation takes from a fraction of a second to minutes on a large log.
REPORT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


@dataclass(frozen=True)
class Watched:
    """What the scrape-time collector reads: the database, and this process's workers
    (`active()`: holds the projection's or the scheduler's lease here)."""

    database: Database
    follower_active: Callable[[], bool]
    scheduler_active: Callable[[], bool]
    replica: Database | None = None  # COMMITMENTS_READ_DATABASE_URL's, if any


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Histogram(
            "commitments_http_request_duration_seconds",
            "HTTP requests by method, route template and status, and how long they took",
            ["method", "route", "status"],
            registry=r,
        )
        self.events_written = Counter(
            "commitments_events_written", "Events committed to the log by this process", registry=r
        )
        self.report_runs = Counter(
            "commitments_report_runs",
            "Report archiving runs: trigger schedule|request; outcome archived|duplicate|failed",
            ["trigger", "outcome"],
            registry=r,
        )
        self.report_duration = Histogram(
            "commitments_report_duration_seconds",
            "Time to generate and archive a report",
            ["trigger"],
            buckets=REPORT_BUCKETS,
            registry=r,
        )
        self.checkpoints_signed = Counter(
            "commitments_checkpoints_signed", "Checkpoints signed by this process", registry=r
        )
        self.checkpoint_failures = Counter(
            "commitments_checkpoint_failures",
            "Background checkpoint signings that failed or were refused (the log is damaged)",
            registry=r,
        )
        self.auth_failures = Counter(
            "commitments_auth_failures",
            "Requests with a missing-from-store, revoked or expired token",
            registry=r,
        )
        self.auth_throttled = Counter(
            "commitments_auth_throttled",
            "Requests refused (429) because their address failed to authenticate too often",
            registry=r,
        )
        self._watched: Watched | None = None
        r.register(_ScrapeTime(self))

    def watch(self, watched: Watched | None) -> None:
        """Read the log and projection of these services at scrape time (None: stop)."""
        self._watched = watched

    def written(self, events: int) -> None:
        self.events_written.inc(events)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _ScrapeTime(Collector):
    """Gauges read when scraped: the log head, the projection's position and lag, the
    leases' epochs."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterator[Metric]:
        return iter(())  # names vary with what is watched; nothing to check at register

    def collect(self) -> Iterator[Metric]:
        watched = self.metrics._watched
        if watched is None:
            return
        try:
            with watched.database.reading() as connection:
                head = log_head(connection)
                position = projection_position(connection)
                leases = lease_states(connection)
        except SQLAlchemyError as error:
            log.warning("metrics: the database could not be read: %s", error)
            yield _gauge("commitments_database_up", "1 when the database answered the scrape", 0)
            return
        yield _gauge("commitments_database_up", "1 when the database answered the scrape", 1)
        yield _gauge("commitments_log_head_position", "Position of the last event in the log", head)
        yield _gauge(
            "commitments_projection_position", "Last log position the read models hold", position
        )
        yield _gauge(
            "commitments_projection_lag_events",
            "Events in the log not yet in the read models",
            max(0, head - position),
        )
        yield _gauge(
            "commitments_projection_follower_active",
            "1 when this process's projection follower holds the projection's lease",
            int(watched.follower_active()),
        )
        yield _gauge(
            "commitments_scheduler_active",
            "1 when this process's report scheduler holds the scheduler's lease",
            int(watched.scheduler_active()),
        )
        epochs = GaugeMetricFamily(
            "commitments_lease_epoch",
            "Epoch of each lease: it grows by one each time a process takes the lease",
            labels=["lease"],
        )
        for name, (_, epoch) in sorted(leases.items()):
            epochs.add_metric([name], epoch)
        yield epochs
        if watched.replica is not None:
            yield from _replica_gauges(watched.replica, head)


def _replica_gauges(replica: Database, head: int) -> Iterator[Metric]:
    """What readers of the replica see: its projection's position and lag behind the log."""
    up = "1 when the read replica answered the scrape"
    try:
        with replica.one_query() as connection:
            position = projection_position(connection)
    except SQLAlchemyError as error:
        log.warning("metrics: the read replica could not be read: %s", error)
        yield _gauge("commitments_replica_up", up, 0)
        return
    yield _gauge("commitments_replica_up", up, 1)
    yield _gauge(
        "commitments_replica_projection_position",
        "Last log position the read replica's read models hold",
        position,
    )
    yield _gauge(
        "commitments_replica_lag_events",
        "Events in the log not yet in the read replica's read models",
        max(0, head - position),
    )


def _gauge(name: str, documentation: str, value: Any) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
