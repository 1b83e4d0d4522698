"""Run every benchmark: `python -m bench` (make bench), `--quick` for small logs (make
bench-quick). Prints a table and writes bench/results.json; ratios compare with
baselines measured in the same run, on the same machine and database.

Sizes: bench/sizes.py (COMMITMENTS_BENCH_EVENTS sets the shared log of `make bench`).
"""

from __future__ import annotations

import sys

from bench import (
    command_throughput,
    http_read_throughput,
    http_throughput,
    projection_rebuild,
    rebuild_memory,
    report_dashboard,
    time_travel,
    verify_chain,
)
from bench.common import Result, databases, fresh_database, print_table, services_on, write_results
from bench.sizes import build_log, log_events


def on_shared_log(kind: str, quick: bool) -> list[Result]:
    """The benchmarks that read one log of log_events(quick) events."""
    events = log_events(quick)
    with fresh_database(kind) as url:
        services = services_on(url)
        try:
            build_log(services, events)
            results = [
                verify_chain.measure(kind, services),
                projection_rebuild.measure(kind, services),
                report_dashboard.report(kind, services, events),
            ]
        finally:
            services.close()
        results.append(report_dashboard.dashboard(kind, url, quick))
        results.extend(http_read_throughput.measure(kind, url, quick))
        results.append(rebuild_memory.measure(kind, url, events))
    return results


def main(quick: bool) -> None:
    results: list[Result] = []
    for kind in databases():
        results.append(command_throughput.measure(kind))
        results.append(http_throughput.measure(kind, quick))
        results.extend(on_shared_log(kind, quick))
        results.append(time_travel.measure(kind, quick))
    print_table(results)
    write_results(results)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
