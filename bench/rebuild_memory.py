"""rebuild_memory: the peak resident memory of `commitments project --rebuild --once` (the
real CLI, in its own process) over a log of a tenth of the shared log's events and over
the shared log itself. The peak is the child's ru_maxrss, read by a small wrapper process
of which it is the only child. No baseline: the targets are a ceiling and flatness.
"""

from __future__ import annotations

import os
import subprocess
import sys

from bench.common import Result, fresh_database, services_on
from bench.http_throughput import SCRIPT
from bench.sizes import build_log

TARGET_MB = 300.0
TARGET_GROWTH = 1.2

_WRAPPER = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_mb(url: str) -> float:
    """Peak RSS in MB of a rebuild of the read models of the database at `url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMITMENTS_")}
    env["COMMITMENTS_DATABASE_URL"] = url
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, SCRIPT, "project", "--rebuild", "--once"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.split()[-1]) / 1024  # ru_maxrss is in KiB on Linux


def measure(kind: str, url: str, events: int) -> Result:
    """`url`: the shared log of `events` events."""
    with fresh_database(kind) as small_url:
        services = services_on(small_url)
        try:
            build_log(services, events // 10)
        finally:
            services.close()
        small = peak_mb(small_url)
    large = peak_mb(url)
    growth = large / small
    return Result(
        "rebuild_memory",
        kind,
        round(large, 1),
        "MB",
        None,
        None,
        None,
        f"<= {TARGET_MB:.0f} MB, <= {TARGET_GROWTH}x the log of a tenth",
        large <= TARGET_MB and growth <= TARGET_GROWTH,
        {
            "events": float(events),
            "small_events": float(events // 10),
            "small_mb": round(small, 1),
            "growth": round(growth, 3),
        },
    )
