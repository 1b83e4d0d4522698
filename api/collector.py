"""The garbage collector's settings for a serving process.

Profiled (bench `dashboard`, 100,000 events): with CPython's defaults a full collection
ran on about every other portfolio view, traversing every object of the process
(modules, matplotlib, SQLAlchemy, the read models kept in memory: ~280,000), 90 to 180 ms
each, more than the page itself. So once, when the first app starts: what exists then
lives as long as the process and is frozen out of the collector's walks (`gc.freeze`),
and the youngest generation is collected after YOUNG allocations rather than 700, so a
request's short-lived objects rarely push older ones towards a full collection. Objects
are still freed by reference counting as before; only cycles wait a little longer.
"""

from __future__ import annotations

import gc

YOUNG = 10_000
_tuned = False


def tune() -> None:
    """Freeze the process's objects and raise the young threshold, the first time only
    (the tests start many apps in one process; later ones change nothing)."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.collect()  # the start-up's garbage, not frozen with the rest
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)
