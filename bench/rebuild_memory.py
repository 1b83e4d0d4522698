"""rebuild_memory: the peak resident memory of `commitments project --rebuild --once` (the
real CLI, in its own process: bench/child.py) over a log of a tenth of the shared log's
events and over the shared log itself. No baseline: the targets are a ceiling and
flatness.
"""

from __future__ import annotations

from bench.child import run_cli
from bench.common import Result

TARGET_MB = 300.0
TARGET_GROWTH = 1.2


def peak_mb(url: str) -> float:
    """Peak RSS in MB of a rebuild of the read models of the database at `url`."""
    return run_cli(url, "project", "--rebuild", "--once").peak_mb


def measure(kind: str, url: str, events: int, small_url: str, small_events: int) -> Result:
    """`url`: the shared log of `events` events; `small_url`: the log of a tenth."""
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
            "small_events": float(small_events),
            "small_mb": round(small, 1),
            "growth": round(growth, 3),
        },
    )
