"""http_read_throughput: `GET /api/v1/commitments?limit=50` (the list, from the read
models) and `GET /api/v1/commitments/{code}` (one commitment, always current) from 16
wrk connections over loopback to `commitments serve` on the shared log, each against the
no-op FastAPI endpoint (bench/noop_app.py) served the same way, interleaved in one run.
The machinery (servers, wrk) is bench/http_throughput.py's.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench.common import Result, services_on
from bench.http_throughput import (
    SCRIPT,
    WARM_UP_SECONDS,
    Load,
    free_port,
    server,
    wrk,
)
from bench.sizes import BENCH
from domain.access import Role

TARGET_RATIO = 0.5
CODES = 16
READS = ("list", "one")


def _paths(read: str, codes: list[str]) -> list[str]:
    if read == "list":
        return ["/api/v1/commitments?limit=50"]
    return [f"/api/v1/commitments/{code}" for code in codes]


def measure(kind: str, url: str, quick: bool) -> list[Result]:
    """One result per read (list, one), each against the no-op round beside it."""
    # An odd number of rounds: the median of per-round ratios is then one round's, and a
    # round whose no-op run was starved by the machine cannot pull the ratio up.
    rounds, seconds = (3, 2) if quick else (3, 8)
    services = services_on(url)
    try:
        token, _ = services.tokens.issue(BENCH, name="bench-read", role=Role.ADMIN)
        codes = [f"CMAP-BENCH-C{i:05d}" for i in range(CODES)]
    finally:
        services.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMITMENTS_")}
    env |= {
        "COMMITMENTS_DATABASE_URL": url,
        "COMMITMENTS_PROJECTOR": "true",
        "COMMITMENTS_SCHEDULER": "true",
    }
    loads: dict[str, list[Load]] = {"noop": [], "list": [], "one": []}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for _ in range(rounds):
            port = free_port()
            noop = [sys.executable, "-m", "bench.noop_app", str(port)]
            with server(noop, env, port, folder / "noop.log") as base:
                wrk(base, ["/noop"], token, folder, WARM_UP_SECONDS, "GET")
                loads["noop"].append(wrk(base, ["/noop"], token, folder, seconds, "GET"))
            port = free_port()
            serve = [SCRIPT, "serve", "--host", "127.0.0.1", "--port", str(port)]
            with server(serve, env, port, folder / "serve.log") as base:
                for read in READS:
                    paths = _paths(read, codes)
                    wrk(base, paths, token, folder, WARM_UP_SECONDS, "GET")
                    loads[read].append(wrk(base, paths, token, folder, seconds, "GET"))
    results = []
    noop_rate = statistics.median(load.rate for load in loads["noop"])
    for read in READS:
        app = loads[read]
        ratio = statistics.median(a.rate / n.rate for a, n in zip(app, loads["noop"], strict=True))
        results.append(
            Result(
                f"http_read_throughput_{read}",
                kind,
                round(statistics.median(load.rate for load in app), 1),
                "/s",
                "no-op FastAPI endpoint served the same way",
                round(noop_rate, 1),
                round(ratio, 3),
                f">= {TARGET_RATIO}x",
                ratio >= TARGET_RATIO,
                {
                    "p50_ms": round(statistics.median(load.p50_ms for load in app), 1),
                    "p99_ms": round(statistics.median(load.p99_ms for load in app), 1),
                },
            )
        )
    return results
