"""The garbage collector's settings for a process that serves or runs a command.

Profiled three times (bench/README.md): under load, a full collection over the
libraries' objects paused every request in flight (it doubled the 99th percentile of
write latency); with CPython's defaults a full collection ran on about every other
portfolio view, traversing every object of the process (~280,000: modules,
matplotlib, SQLAlchemy, the read models kept in memory), 90 to 180 ms each; and
rescanning the same objects cost a report's build a fifth of its time. So: what is
alive once the process has started lives as long as the process and is frozen out of
the collector's walks (`gc.freeze`), and the youngest generation is collected after
YOUNG allocations rather than 700, so short-lived objects rarely push older ones towards
a full collection. Objects are still freed by reference counting as before; only cycles
wait a little longer.
"""

from __future__ import annotations

import gc

YOUNG, MIDDLE, OLD = 50_000, 50, 100
_tuned = False


def settle() -> None:
    """Collect the start-up's garbage, freeze what is alive now, raise the thresholds.
    Again after more start-up (serve, once its app is made): freezing adds to the frozen."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)


def tune() -> None:
    """`settle`, the first time only: for an app's start-up (the tests start many apps in
    one process; freezing each one's objects would keep them for good)."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    settle()
