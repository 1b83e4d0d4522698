"""Scheduled reports: a missed tick runs once at start-up; two schedulers archive one
report per tick (real processes, a one-minute cron, PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.event_store import engine_of
from adapters.projection import ReadModelProjection
from adapters.scheduler import ReportScheduler, cron_trigger, latest_tick
from adapters.seeds import seed
from adapters.tables import report_archive
from domain import clock
from domain.errors import InvalidValue
from domain.tracker import Tracker

SCRIPT = shutil.which("commitments", path=str(Path(sys.executable).parent)) or "commitments"


def archived(tracker: Tracker) -> list[tuple[str | None, datetime | None]]:
    with engine_of(tracker).connect() as connection:
        rows = connection.execute(
            select(report_archive.c.schedule, report_archive.c.scheduled_for).order_by(
                report_archive.c.scheduled_for
            )
        ).all()
    return [(r.schedule, r.scheduled_for) for r in rows]


def test_cron_expressions_are_checked() -> None:
    for bad in ("61 * * * *", "* * *", "every day"):
        with pytest.raises(InvalidValue):
            cron_trigger(bad, "UTC")
    sunday = cron_trigger("0 8 * * 0", "UTC")  # standard cron: 0 (and 7) is Sunday
    assert sunday.get_next_fire_time(None, datetime(2026, 11, 24, tzinfo=UTC)).weekday() == 6
    weekdays = cron_trigger("0 8 * * 1-5", "UTC")
    fires = [datetime(2026, 11, 23, 9, tzinfo=UTC)]  # a Monday
    for _ in range(7):
        fires.append(weekdays.get_next_fire_time(fires[-1], fires[-1] + timedelta(seconds=1)))
    assert [f.weekday() for f in fires[1:]] == [1, 2, 3, 4, 0, 1, 2]
    for bad in ("0 8 31 2 *", "0 8 * * 8"):
        with pytest.raises(InvalidValue):
            cron_trigger(bad, "UTC")
    with pytest.raises(InvalidValue, match="timezone"):
        cron_trigger("0 8 * * *", "Mars/Olympus")
    trigger = cron_trigger("0 6 1 * *", "America/Mexico_City")
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    tick = latest_tick(trigger, now)
    assert tick is not None and tick.astimezone(UTC) == datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_a_missed_tick_runs_once_at_start_up(tracker: Tracker) -> None:
    seed(tracker)
    with clock.frozen_at(datetime.now(UTC) - timedelta(hours=3)):
        tracker.define_schedule(actor="t", name="hourly", cron="0 * * * *", formats=["json", "csv"])
    ReadModelProjection(tracker).catch_up()
    expected = latest_tick(cron_trigger("0 * * * *", "UTC"), datetime.now(UTC))
    for _ in range(2):  # a restart must not run it again
        scheduler = ReportScheduler(tracker, sync_seconds=0.2)
        scheduler.start()
        deadline = time.monotonic() + 20
        while not archived(tracker) and time.monotonic() < deadline:
            time.sleep(0.1)
        scheduler.stop()
    [(name, tick)] = archived(tracker)
    assert name == "hourly" and tick is not None and expected is not None
    assert (tick if tick.tzinfo else tick.replace(tzinfo=UTC)) == expected


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_scheduler_processes_archive_one_report_per_tick(
    database_url: str, tracker: Tracker
) -> None:
    seed(tracker)
    tracker.define_schedule(actor="t", name="minutely", cron="* * * * *", formats=["json"])
    environment = {k: v for k, v in os.environ.items() if not k.startswith("COMMITMENTS_")}
    environment["COMMITMENTS_DATABASE_URL"] = database_url
    processes = [
        subprocess.Popen([SCRIPT, "scheduler"], env=environment, stderr=subprocess.DEVNULL)
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline:
            if len({t for _, t in archived(tracker)}) >= 3:
                break
            time.sleep(1)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    runs = archived(tracker)
    ticks = [t for _, t in runs if t is not None]
    assert len(set(ticks)) >= 3, runs  # it fires every minute ...
    assert len(ticks) == len(set(ticks))  # ... with exactly one report per tick
    minutes = sorted(t if t.tzinfo else t.replace(tzinfo=UTC) for t in ticks)
    assert all(b - a == timedelta(minutes=1) for a, b in pairwise(minutes))
