"""A log that shrinks is an alarm.

The event log only grows. Its high-water mark (table log_high_water) is the highest
position ever written, raised in each write's transaction; the recorder hands out
positions after it (adapters/event_store.py), so deleted positions are never reused. A
log whose head is below the mark, a write that found it so (recorded in the mark's row),
or a projection ahead of the head means events were removed: `/readyz` is not ready,
the projection worker stops advancing, and `verify` fails, each saying why.

The alarm stands until the operator restores the log (export and import into a fresh
database, README "Operations").
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, func, select

from adapters.tables import events, log_high_water, projection_positions


def shrinkage(connection: Connection) -> str | None:
    """Why the log cannot be trusted to have only grown, or None."""
    head = int(connection.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one())
    mark = connection.execute(
        select(log_high_water.c.position, log_high_water.c.shrunk_from, log_high_water.c.shrunk_to)
    ).first()
    if mark is not None and mark.shrunk_from is not None:
        return (
            f"the log shrank: a write found its head at {mark.shrunk_to} after position "
            f"{mark.shrunk_from} had been written (events deleted); positions after "
            f"{mark.shrunk_from} are new"
        )
    if mark is not None and head < mark.position:
        return (
            f"the log shrank: its head is at {head}, but position {mark.position} was "
            "written (events deleted)"
        )
    ahead = connection.execute(
        select(projection_positions.c.name, projection_positions.c.position).where(
            projection_positions.c.position > bindparam("head", head)
        )
    ).first()
    if ahead is not None:
        return (
            f"the projection {ahead.name} is at position {ahead.position}, ahead of the "
            f"log's head {head} (events deleted)"
        )
    return None
