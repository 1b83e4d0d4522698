"""The real CLI (`commitments ...`) in a process of its own, on a given database: its
wall time and its peak resident memory. The peak is the child's ru_maxrss, read by a
small wrapper process of which it is the only child (the benchmark's own memory, a log
held for a baseline, is not counted).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

from bench.http_throughput import SCRIPT

_WRAPPER = """
import resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
seconds = time.perf_counter() - start
print(seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float


def run_cli(url: str, *args: str) -> Run:
    """`commitments *args` with COMMITMENTS_DATABASE_URL=url (and no other setting of
    this environment's); raises with the command's stderr if it fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMITMENTS_")}
    env["COMMITMENTS_DATABASE_URL"] = url
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, SCRIPT, *args],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"commitments {' '.join(args)} failed: {done.stderr[-2000:]}")
    seconds, peak_kib = done.stdout.split()[-2:]
    return Run(float(seconds), int(peak_kib) / 1024)  # ru_maxrss is in KiB on Linux
