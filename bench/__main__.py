"""Run every benchmark: `python -m bench` (make bench), `--quick` for small logs (make
bench-quick). Prints a table and writes bench/results.json; ratios compare with
baselines measured in the same run, on the same machine and database. `--only
report,dashboard` runs only the benchmarks named (results.json is then left alone).

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


def on_shared_log(kind: str, quick: bool, only: set[str] | None = None) -> list[Result]:
    """The benchmarks that read one log of log_events(quick) events (and those that
    compare it with a log of a tenth: memory flat in the log's length)."""
    events = log_events(quick)

    def wanted(name: str) -> bool:
        return only is None or name in only

    results: list[Result] = []
    with fresh_database(kind) as url, fresh_database(kind) as small_url:
        small = wanted("rebuild_memory") or wanted("export_import")
        for size, at in ((events // 10, small_url), (events, url)):
            if at is small_url and not small:
                continue
            services = services_on(at)
            try:
                with step(kind, f"log of {size:,} events built"):
                    build_log(services, size)
            finally:
                services.close()
        services = services_on(url)
        try:
            if wanted("verify"):
                with step(kind, "verify"):
                    results.append(verify_chain.measure(kind, services))
            if wanted("projection_rebuild"):
                with step(kind, "projection_rebuild"):
                    results.append(projection_rebuild.measure(kind, services))
            if wanted("report"):
                with step(kind, "report"):
                    results.append(report_dashboard.report(kind, services, events))
        finally:
            services.close()
        if wanted("dashboard"):
            with step(kind, "dashboard"):
                results.append(report_dashboard.dashboard(kind, url, quick))
        if wanted("http_read_throughput"):
            with step(kind, "http_read_throughput"):
                results.extend(http_read_throughput.measure(kind, url, quick))
        if wanted("rebuild_memory"):
            with step(kind, "rebuild_memory"):
                results.append(rebuild_memory.measure(kind, url, events, small_url, events // 10))
        if wanted("export_import"):
            with step(kind, "export_import"):
                results.append(export_import.measure(kind, url, small_url))
    return results


SHARED = {
    "verify",
    "projection_rebuild",
    "report",
    "dashboard",
    "http_read_throughput",
    "rebuild_memory",
    "export_import",
}


def main(quick: bool, only: set[str] | None = None) -> None:
    results: list[Result] = []
    for kind in databases():
        if only is None or "command_throughput" in only:
            with step(kind, "command_throughput"):
                results.append(command_throughput.measure(kind))
        if only is None or "http_write_throughput" in only:
            with step(kind, "http_write_throughput"):
                results.append(http_throughput.measure(kind, quick))
        if only is None or only & SHARED:
            results.extend(on_shared_log(kind, quick, only))
        if only is None or "time_travel" in only:
            with step(kind, "time_travel"):
                results.append(time_travel.measure(kind, quick))
    print_table(results)
    if only is None:
        write_results(results)


def _only(arguments: list[str]) -> set[str] | None:
    for index, argument in enumerate(arguments):
        if argument == "--only" and index + 1 < len(arguments):
            return set(arguments[index + 1].split(","))
    return None


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:], only=_only(sys.argv[1:]))
