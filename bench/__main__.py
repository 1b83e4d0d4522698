"""Run every benchmark: `python -m bench` (make bench), `--quick` for small logs (make
bench-quick). Prints a table and writes bench/results.json; ratios compare with
baselines measured in the same run, on the same machine and database.

Sizes: bench/sizes.py (COMMITMENTS_BENCH_EVENTS sets the shared log of `make bench`).
"""

from __future__ import annotations

import sys

from bench import (
    command_throughput,
    export_import,
    http_read_throughput,
    http_throughput,
    projection_rebuild,
    rebuild_memory,
    report_dashboard,
    time_travel,
    verify_chain,
)
from bench.common import (
    Result,
    databases,
    fresh_database,
    print_table,
    services_on,
    step,
    write_results,
)
from bench.sizes import build_log, log_events


def on_shared_log(kind: str, quick: bool) -> list[Result]:
    """The benchmarks that read one log of log_events(quick) events (and those that
    compare it with a log of a tenth: memory flat in the log's length)."""
    events = log_events(quick)
    results: list[Result] = []
    with fresh_database(kind) as url, fresh_database(kind) as small_url:
        for size, at in ((events // 10, small_url), (events, url)):
            services = services_on(at)
            try:
                with step(kind, f"log of {size:,} events built"):
                    build_log(services, size)
            finally:
                services.close()
        services = services_on(url)
        try:
            with step(kind, "verify"):
                results.append(verify_chain.measure(kind, services))
            with step(kind, "projection_rebuild"):
                results.append(projection_rebuild.measure(kind, services))
            with step(kind, "report"):
                results.append(report_dashboard.report(kind, services, events))
        finally:
            services.close()
        with step(kind, "dashboard"):
            results.append(report_dashboard.dashboard(kind, url, quick))
        with step(kind, "http_read_throughput"):
            results.extend(http_read_throughput.measure(kind, url, quick))
        with step(kind, "rebuild_memory"):
            results.append(rebuild_memory.measure(kind, url, events, small_url, events // 10))
        with step(kind, "export_import"):
            results.append(export_import.measure(kind, url, small_url))
    return results


def main(quick: bool) -> None:
    results: list[Result] = []
    for kind in databases():
        with step(kind, "command_throughput"):
            results.append(command_throughput.measure(kind))
        with step(kind, "http_write_throughput"):
            results.append(http_throughput.measure(kind, quick))
        results.extend(on_shared_log(kind, quick))
        with step(kind, "time_travel"):
            results.append(time_travel.measure(kind, quick))
    print_table(results)
    write_results(results)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
