"""http_write_throughput: 16 clients posting progress over loopback to `commitments serve`
(projector and scheduler running, as `make run` serves), against a no-op FastAPI endpoint
served the same way, interleaved in one run. The load comes from wrk (C, keep-alive
connections), so the client costs little of the machine and the same for both.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from adapters.unit_of_work import Write
from bench.common import Result, fresh_database, services_on
from domain.access import Role, system
from domain.commands import RegisterCommitment
from domain.vocabulary import Pillar

CLIENTS = 16
SECONDS = 8
# A new server's first requests build caches (routes, compiled statements, aggregates).
WARM_UP_SECONDS = 2
ROUNDS = 3
COMMITMENTS = 16
TARGET_RATIO = 0.5
TARGET_P99_MS = 100.0
SCRIPT = shutil.which("commitments", path=str(Path(sys.executable).parent)) or "commitments"

_LUA = """
local paths = {%(paths)s}
local n = 0
local body = %(body)s
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %(token)s"}
request = function()
  n = n + 1
  return wrk.format("%(method)s", paths[(n %% #paths) + 1], headers, body)
end
"""


@dataclass(frozen=True)
class Load:
    rate: float
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(args: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    with log.open("w") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start within 60 s")
                time.sleep(0.1)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)


def wrk(
    base: str,
    paths: list[str],
    token: str,
    folder: Path,
    seconds: int = SECONDS,
    method: str = "POST",
) -> Load:
    """wrk's rate and latencies for CLIENTS connections requesting `paths` in turn (POST:
    a progress report each; GET: no body)."""
    if method == "POST":
        body = json.dumps({"percent": 50, "as_of": str(datetime.now(UTC).date()), "note": "bench"})
        lua_body = f"'{body}'"
    else:
        lua_body = "nil"
    script = folder / "requests.lua"
    paths_lua = ", ".join(f'"{p}"' for p in paths)
    script.write_text(
        _LUA % {"paths": paths_lua, "body": lua_body, "token": token, "method": method}
    )
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(2, CLIENTS)}",
            f"-c{CLIENTS}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"requests failed:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return Load(rate, _latency(out, "50%"), _latency(out, "99%"))


def _latency(out: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _prepare(url: str) -> str:
    """Commitments to write to, and an admin token."""
    services = services_on(url)
    try:
        for i in range(COMMITMENTS):
            command = RegisterCommitment(
                code=f"CMAP-BENCH-H{i:02d}",
                title="Bench",
                pillar=Pillar.PROSPERITY,
                sectors=("trade",),
                parties=("CA", "MX"),
                lead_party="joint",
            )
            services.unit_of_work.run(Write(system("bench"), command))
        services.projection.catch_up()
        secret, _ = services.tokens.issue(system("bench"), name="bench", role=Role.ADMIN)
        return secret
    finally:
        services.close()


def measure(kind: str, quick: bool = False) -> Result:
    """`quick` (make bench-quick): three shorter rounds (odd: the median ratio is one
    round's, not the mean of two)."""
    rounds, seconds = (3, 3) if quick else (ROUNDS, SECONDS)
    paths = [f"/api/v1/commitments/CMAP-BENCH-H{i:02d}/progress" for i in range(COMMITMENTS)]
    with fresh_database(kind) as url, tempfile.TemporaryDirectory() as folder:
        token = _prepare(url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMMITMENTS_")}
        env |= {
            "COMMITMENTS_DATABASE_URL": url,
            "COMMITMENTS_PROJECTOR": "true",
            "COMMITMENTS_SCHEDULER": "true",
        }
        app_loads, noop_loads = [], []
        for _ in range(rounds):
            port = free_port()
            noop = [sys.executable, "-m", "bench.noop_app", str(port)]
            with server(noop, env, port, Path(folder) / "noop.log") as base:
                wrk(base, ["/noop"], token, Path(folder), WARM_UP_SECONDS)
                noop_loads.append(wrk(base, ["/noop"], token, Path(folder), seconds))
            port = free_port()
            serve = [SCRIPT, "serve", "--host", "127.0.0.1", "--port", str(port)]
            with server(serve, env, port, Path(folder) / "serve.log") as base:
                wrk(base, paths, token, Path(folder), WARM_UP_SECONDS)
                app_loads.append(wrk(base, paths, token, Path(folder), seconds))
    app = statistics.median(load.rate for load in app_loads)
    noop_rate = statistics.median(load.rate for load in noop_loads)
    p50 = statistics.median(load.p50_ms for load in app_loads)
    p99 = statistics.median(load.p99_ms for load in app_loads)
    # Each round beside the baseline round next to it in time (the machine varies).
    ratio = statistics.median(a.rate / n.rate for a, n in zip(app_loads, noop_loads, strict=True))
    return Result(
        "http_write_throughput",
        kind,
        round(app, 1),
        "/s",
        "no-op FastAPI endpoint served the same way",
        round(noop_rate, 1),
        round(ratio, 3),
        f">= {TARGET_RATIO}x, p99 <= {TARGET_P99_MS:.0f} ms",
        ratio >= TARGET_RATIO and p99 <= TARGET_P99_MS,
        {"p50_ms": round(p50, 1), "p99_ms": round(p99, 1)},
    )


if __name__ == "__main__":
    from bench.common import databases, print_table

    print_table([measure(kind) for kind in databases()])
