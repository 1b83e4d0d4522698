"""The benchmarks' shared log (bench/sizes.py) is written by many threads at once through
the unit of work (so its group commit batches them): it must still be a real log, its
chain and Merkle tree verified, every commitment whole, the read models caught up. The
export_import benchmark's round trip must give back the same log."""

from __future__ import annotations

from adapters.ledger import verify
from bench import export_import
from bench.sizes import EVENTS_EACH, build_log, shape
from tests.conftest import open_services

COMMITMENTS = 3


def test_the_shared_log_is_a_verified_log_of_whole_commitments(sqlite_url: str) -> None:
    services = open_services(sqlite_url)
    try:
        build_log(services, COMMITMENTS * EVENTS_EACH)
        checked = verify(services.database)
        versions = [
            services.tracker.get(f"CMAP-BENCH-C{i:05d}").version for i in range(COMMITMENTS)
        ]
        assert checked.verified, checked.problem
        assert all(version > EVENTS_EACH for version in versions)  # registration and script
        assert checked.events == sum(versions)
        assert services.projection.position() == checked.head_position  # caught up
    finally:
        services.close()
    trip = export_import.round_trip("sqlite", sqlite_url)
    assert trip.events == checked.events  # and the imported log ends where this one does
    assert trip.exported.peak_mb > 0 and trip.imported.peak_mb > 0


def test_a_longer_log_has_the_issues_thousand_commitments_each_longer() -> None:
    assert shape(10_000) == (100, 100)  # make bench-quick
    assert shape(100_000) == (1_000, 100)
    assert shape(1_000_000) == (1_000, 1_000)  # the report's 1M: 1,000 commitments
