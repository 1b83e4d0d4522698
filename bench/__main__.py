"""Run every benchmark: `python -m bench` (make bench), `--quick` for the everyday subset
(make bench-quick). Prints a table and writes bench/results.json; ratios compare with
baselines measured in the same run, on the same machine and database."""

from __future__ import annotations

import sys

from bench import command_throughput, http_throughput, load_long_commitment, log_scale
from bench.common import Result, databases, print_table, write_results


def main(quick: bool) -> None:
    results: list[Result] = []
    for kind in databases():
        results.append(command_throughput.measure(kind))
        results.append(http_throughput.measure(kind))
    print_table(results)
    write_results(results)
    if not quick:
        load_long_commitment.main()
        log_scale.main()


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
