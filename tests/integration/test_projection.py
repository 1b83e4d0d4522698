"""The read-model projection: exactly once, across crashes, rebuilds and rival workers."""

from __future__ import annotations

import threading
import time
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.event_store import engine_of, open_tracker
from adapters.follower import ProjectionFollower
from adapters.projection import ReadModelProjection
from adapters.seeds import seed
from adapters.tables import (
    READ_MODEL_TABLES,
    commitment_summaries,
    events,
    milestone_rows,
    progress_points,
)
from domain.commitment import Commitment
from domain.tracker import Tracker


def dump(tracker: Tracker) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table, in a stable order."""
    with engine_of(tracker).connect() as connection:
        return {
            table.name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
            for table in READ_MODEL_TABLES
        }


def count(tracker: Tracker, table: Any) -> int:
    with engine_of(tracker).connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def progress_events(tracker: Tracker) -> int:
    topic = f"{Commitment.ProgressLogged.__module__}:{Commitment.ProgressLogged.__qualname__}"
    with engine_of(tracker).connect() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(events).where(events.c.topic == topic)
            ).scalar_one()
        )


def more_writes(tracker: Tracker, n: int, start: int = 0) -> None:
    codes = ["CMAP-PROS-RAIL", "CMAP-SEC-CYBER", "CMAP-PROS-PORTS"]
    for i in range(start, start + n):
        code = codes[i % len(codes)]
        tracker.log_progress(
            code, actor="w", percent=i % 100, as_of=date(2026, 10, 1), note=f"n{i}"
        )
        if i % 5 == 0:
            tracker.add_milestone(code, actor="w", title=f"M{i}", due_date=date(2027, 1, 1))


def test_rebuild_gives_exactly_the_rows_of_the_live_projection(tracker: Tracker) -> None:
    projection = ReadModelProjection(tracker, batch_size=7)
    seed(tracker, demo=True)
    projection.catch_up(max_batches=3)  # part of the log, then more writes, then the rest
    more_writes(tracker, 30)
    projection.catch_up()
    assert projection.lag() == 0
    live = dump(tracker)
    assert len(live["commitment_summaries"]) == 22
    assert len(live["progress_points"]) == progress_events(tracker)

    projection.rebuild()
    assert count(tracker, commitment_summaries) == 0 and projection.position() == 0
    ReadModelProjection(tracker, batch_size=1000).catch_up()
    assert dump(tracker) == live


def test_a_crash_between_batches_loses_and_duplicates_nothing(
    database_url: str, tracker: Tracker
) -> None:
    seed(tracker, demo=True)
    more_writes(tracker, 20)
    crashing = ReadModelProjection(tracker, batch_size=10)
    real_write = crashing._write
    calls = {"n": 0}

    def crash_on_third_batch(connection: Any, rows: Any) -> None:
        calls["n"] += 1
        real_write(connection, rows)  # rows are written, then the process "dies"
        if calls["n"] == 3:
            raise SystemExit("killed mid-transaction")

    crashing._write = crash_on_third_batch  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        crashing.catch_up()
    assert crashing.position() == 20  # two batches committed, the third rolled back

    restarted_tracker = open_tracker(database_url)  # a new process: nothing in memory
    try:
        ReadModelProjection(restarted_tracker, batch_size=10).catch_up()
        after_restart = dump(restarted_tracker)
    finally:
        restarted_tracker.close()
    assert len(after_restart["progress_points"]) == progress_events(tracker)

    fresh = ReadModelProjection(tracker)
    fresh.rebuild()
    fresh.catch_up()
    assert dump(tracker) == after_restart


def test_rival_workers_without_a_lock_still_apply_each_event_once(
    database_url: str, tracker: Tracker, open_trackers: list[Tracker]
) -> None:
    """Compare-and-set of the position: on SQLite nothing else keeps workers apart."""
    seed(tracker, demo=True)
    more_writes(tracker, 40)
    workers = [open_tracker(database_url) for _ in range(3)]
    open_trackers.extend(workers)
    projections = [ReadModelProjection(w, batch_size=5) for w in workers]
    errors: list[BaseException] = []

    def work(p: ReadModelProjection) -> None:
        try:
            p.catch_up()
        except BaseException as error:  # collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=work, args=(p,)) for p in projections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert projections[0].lag() == 0
    together = dump(tracker)
    assert len(together["progress_points"]) == progress_events(tracker)
    solo = ReadModelProjection(tracker)
    solo.rebuild()
    solo.catch_up()
    assert dump(tracker) == together


def wait_until(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.05)


def test_followers_catch_up_then_follow_new_events(tracker: Tracker) -> None:
    seed(tracker)
    follower = ProjectionFollower(ReadModelProjection(tracker), poll_seconds=0.1)
    follower.start()
    try:
        wait_until(lambda: follower.projection.lag() == 0)
        before = count(tracker, milestone_rows)
        tracker.add_milestone("CMAP-PROS-RAIL", actor="x", title="New", due_date=date(2027, 1, 1))
        wait_until(lambda: count(tracker, milestone_rows) == before + 1)
    finally:
        follower.stop()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_on_postgresql_one_active_the_other_takes_over(
    database_url: str, tracker: Tracker, open_trackers: list[Tracker]
) -> None:
    seed(tracker, demo=True)
    more_writes(tracker, 30)
    workers = [open_tracker(database_url) for _ in range(2)]
    open_trackers.extend(workers)
    followers = [
        ProjectionFollower(ReadModelProjection(w, batch_size=10), poll_seconds=0.1) for w in workers
    ]
    for follower in followers:
        follower.start()
    try:
        wait_until(lambda: followers[0].projection.lag() == 0)
        assert sum(f.active.is_set() for f in followers) == 1  # the advisory lock
        first = next(f for f in followers if f.active.is_set())
        second = next(f for f in followers if f is not first)
        first.stop()  # the active worker dies; its session's lock goes with it
        more_writes(tracker, 10, start=100)
        wait_until(lambda: second.active.is_set() and second.projection.lag() == 0)
    finally:
        for follower in followers:
            follower.stop()
    assert count(tracker, progress_points) == progress_events(tracker)
    live = dump(tracker)
    solo = ReadModelProjection(tracker)
    solo.rebuild()
    solo.catch_up()
    assert dump(tracker) == live
