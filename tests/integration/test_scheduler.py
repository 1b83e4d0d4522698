"""Scheduled reports, on times the tests choose: a missed tick runs once at start-up and
not again after a restart; rival schedulers archive one report per tick; a schedule does
not fire for ticks before it was (re)defined. One slow test runs real processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters.bootstrap import Services
from adapters.reports.data import ReportInputs
from adapters.scheduler import SCHEDULER_ACTOR, ReportScheduler
from adapters.tables import report_archive
from domain import clock
from domain.commands import DefineSchedule, LogProgress, RemoveSchedule
from domain.errors import InvalidValue
from tests.conftest import open_services
from tests.support import CODE, registration, write

SCRIPT = shutil.which("commitments", path=str(Path(sys.executable).parent)) or "commitments"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def define(services: Services, when: str, **fields: Any) -> None:
    """Define (or redefine) a schedule at a chosen time, and project it."""
    values: dict[str, Any] = {"name": "hourly", "cron": "0 * * * *", "formats": ("json",)}
    with clock.frozen_at(utc(when)):
        write(services, DefineSchedule(**(values | fields)))
    services.projection.catch_up()


def archived(services: Services) -> list[tuple[str | None, datetime | None]]:
    with services.database.reading() as connection:
        rows = connection.execute(
            select(report_archive.c.schedule, report_archive.c.scheduled_for).order_by(
                report_archive.c.scheduled_for
            )
        ).all()
    return [(r.schedule, None if r.scheduled_for is None else clock.as_utc(r.scheduled_for))
            for r in rows]  # fmt: skip


def ticks(reports: list[dict[str, Any]]) -> list[str]:
    return [r["scheduled_for"] for r in reports]


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.02)


@pytest.fixture
def app(sqlite_url: str) -> Iterator[Services]:
    built = open_services(sqlite_url)
    with clock.frozen_at(utc("2026-11-01T09:00")):
        write(built, registration())
    yield built
    built.close()


def scheduler_at(services: Services, now: datetime) -> ReportScheduler:
    """A scheduler whose clock stands still at `now`."""
    return ReportScheduler(
        services.database, services.reports, services.projection, now=lambda: now
    )


def started(scheduler: ReportScheduler) -> bool:
    """The scheduler leads and has made its start-up catch-up."""
    return scheduler.active.is_set() and scheduler.caught_up.is_set()


# ---- run_due: what is due at a given time ---------------------------------------------------


def test_run_due_archives_the_latest_tick_once(app: Services) -> None:
    define(app, "2026-11-24T06:30", formats=("json", "csv"), period_days=7)
    scheduler = app.scheduler
    assert scheduler.run_due(utc("2026-11-24T06:59:59")) == []  # no tick since 06:30 yet
    # Three ticks were missed (07:00, 08:00, 09:00): the latest is archived, once.
    [report] = scheduler.run_due(utc("2026-11-24T09:40"))
    assert (report["schedule"], report["scheduled_for"]) == ("hourly", "2026-11-24T09:00:00+00:00")
    assert (report["formats"], report["period_days"], report["as_of"]) == (
        ["json", "csv"],
        7,
        "2026-11-24",
    )
    assert (report["generated_by"], report["log_position"]) == (SCHEDULER_ACTOR, app.reports.head())
    assert scheduler.run_due(utc("2026-11-24T09:40")) == []
    assert scheduler.run_due(utc("2026-11-24T09:59:59")) == []
    # What it archived is the report of those inputs, byte for byte.
    [again] = app.reports.generate(
        ReportInputs(report["log_position"], date(2026, 11, 24), 7), ["csv"]
    )
    assert again.sha256 == report["sha256"]["csv"]

    # A restarted process finds the tick archived.
    restarted = open_services(app.settings.database_url)
    try:
        assert restarted.scheduler.run_due(utc("2026-11-24T09:50")) == []
        assert ticks(restarted.scheduler.run_due(utc("2026-11-24T10:00"))) == [
            "2026-11-24T10:00:00+00:00"
        ]
    finally:
        restarted.close()
    assert [t for _, t in archived(app)] == [utc("2026-11-24T09:00"), utc("2026-11-24T10:00")]


def test_a_schedule_does_not_fire_for_ticks_before_it_was_defined(app: Services) -> None:
    define(app, "2026-11-24T10:30")
    assert app.scheduler.run_due(utc("2026-11-24T10:45")) == []  # 10:00 came before it
    assert ticks(app.scheduler.run_due(utc("2026-11-24T11:00:01"))) == ["2026-11-24T11:00:00+00:00"]
    # Redefined at 11:30 for a quarter past: 11:15 came before the redefinition.
    define(app, "2026-11-24T11:30", cron="15 * * * *")
    assert app.scheduler.run_due(utc("2026-11-24T11:40")) == []
    assert ticks(app.scheduler.run_due(utc("2026-11-24T12:16"))) == ["2026-11-24T12:15:00+00:00"]
    # A removed schedule fires no more.
    with clock.frozen_at(utc("2026-11-24T12:20")):
        write(app, RemoveSchedule(name="hourly"))
    app.projection.catch_up()
    assert app.scheduler.run_due(utc("2026-11-24T14:00")) == []
    assert len(archived(app)) == 2


def test_ticks_are_read_in_the_schedules_timezone(app: Services) -> None:
    # 20:00 in Mexico City is 02:00 UTC the next day: the report is as of the local day.
    define(app, "2026-11-20T00:00", name="evening", cron="0 20 * * *",
           timezone="America/Mexico_City")  # fmt: skip
    define(app, "2026-11-20T00:00", name="monthly", cron="0 6 1 * *",
           timezone="America/Mexico_City", period_days=30)  # fmt: skip
    reports = app.scheduler.run_due(utc("2026-11-25T03:00"))
    assert sorted((r["schedule"], r["scheduled_for"], r["as_of"]) for r in reports) == [
        ("evening", "2026-11-25T02:00:00+00:00", "2026-11-24"),
    ]
    [monthly] = app.scheduler.run_due(utc("2026-12-01T12:00"), only="monthly")
    assert (monthly["scheduled_for"], monthly["as_of"]) == (
        "2026-12-01T12:00:00+00:00",
        "2026-12-01",
    )
    assert app.reports.last_scheduled("evening") == utc("2026-11-25T02:00")


def test_a_schedule_writes_its_reports_in_its_language(app: Services) -> None:
    """A French schedule archives French reports; an English one (the default, and every
    schedule defined before schedules had a language) English ones."""
    define(app, "2026-11-20T00:00", name="hebdo", cron="0 6 * * 1", formats=("md",),
           language="fr")  # fmt: skip
    define(app, "2026-11-20T00:00", name="weekly", cron="0 6 * * 1", formats=("md",))
    reports = {r["schedule"]: r for r in app.scheduler.run_due(utc("2026-11-23T07:00"))}
    assert (reports["hebdo"]["language"], reports["weekly"]["language"]) == ("fr", "en")
    french = app.reports.artefact(reports["hebdo"]["id"], "md").content.decode()
    assert french.startswith("# Plan d'action Canada-Mexique 2025-2028")
    assert app.reports.reproduce(reports["hebdo"]["id"], "md").content.decode() == french
    with app.database.reading() as connection:
        from adapters.scheduler import list_schedules

        languages = {s["name"]: s["language"] for s in list_schedules(connection)}
    assert languages == {"hebdo": "fr", "weekly": "en"}
    with pytest.raises(InvalidValue, match="language must be one of en, fr, es"):
        define(app, "2026-11-24T00:00", name="x", cron="0 6 * * 1", language="de")


def start_a_process(url: str, now: datetime) -> None:
    """Start a process's follower and scheduler (its clock at `now`), and stop them once
    the scheduler has made its start-up catch-up."""
    process = open_services(url)
    scheduler = scheduler_at(process, now)
    process.follower.start()
    scheduler.start()
    try:
        wait_until(lambda: started(scheduler))
    finally:
        scheduler.stop()
        process.close()


def test_a_missed_tick_runs_once_at_start_up_and_not_again_after_a_restart(
    app: Services,
) -> None:
    with clock.frozen_at(utc("2026-11-24T06:30")):
        write(app, DefineSchedule(name="hourly", cron="0 * * * *", formats=("json", "csv")))
    # Not projected yet: the scheduler waits for its process's follower to catch up.
    for _restart in range(2):
        start_a_process(app.settings.database_url, utc("2026-11-24T09:40"))
        assert archived(app) == [("hourly", utc("2026-11-24T09:00"))]


# ---- rival schedulers -----------------------------------------------------------------------


def race(schedulers: list[ReportScheduler], now: datetime) -> list[list[dict[str, Any]]]:
    """Every scheduler calls run_due(now) at the same moment."""
    barrier = threading.Barrier(len(schedulers))

    def run(scheduler: ReportScheduler) -> list[dict[str, Any]]:
        barrier.wait()
        return scheduler.run_due(now)

    with ThreadPoolExecutor(max_workers=len(schedulers)) as pool:
        return list(pool.map(run, schedulers))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_schedulers_archive_one_report_per_tick(
    services: Services, more_services: list[Services]
) -> None:
    write(services, registration())
    define(services, "2026-11-24T09:59:30", name="minutely", cron="* * * * *")
    other = open_services(services.settings.database_url)
    more_services.append(other)
    rivals = [services.scheduler, other.scheduler]
    for minute in range(3):
        results = race(rivals, utc(f"2026-11-24T10:0{minute}:05"))
        assert sorted(len(r) for r in results) == [0, 1]  # one archived it, one found it taken
        write(services, LogProgress(percent=minute, as_of=date(2026, 1, 1), note="n"), ref=CODE)
    assert archived(services) == [("minutely", utc(f"2026-11-24T10:0{m}")) for m in range(3)]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_one_scheduler_is_active_and_another_takes_over(
    services: Services, more_services: list[Services]
) -> None:
    define(services, "2026-11-24T06:30")
    now = utc("2026-11-24T09:40")
    processes = [open_services(services.settings.database_url) for _ in range(2)]
    more_services.extend(processes)
    schedulers = [scheduler_at(p, now) for p in processes]
    for scheduler in schedulers:
        scheduler.start()
    try:
        wait_until(lambda: any(started(s) for s in schedulers))
        first = next(s for s in schedulers if s.active.is_set())
        second = next(s for s in schedulers if s is not first)
        assert not second.active.is_set()  # the lease keeps it waiting
        assert archived(services) == [("hourly", utc("2026-11-24T09:00"))]
        first.stop()  # it releases its lease
        wait_until(lambda: started(second))
        assert archived(services) == [("hourly", utc("2026-11-24T09:00"))]  # not run again
    finally:
        for scheduler in schedulers:
            scheduler.stop()


# ---- real processes over real minutes --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_scheduler_processes_archive_one_report_per_minute(services: Services) -> None:
    write(services, registration())
    write(services, DefineSchedule(name="minutely", cron="* * * * *", formats=("json",)))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("COMMITMENTS_")}
    environment["COMMITMENTS_DATABASE_URL"] = services.settings.database_url
    processes = [
        subprocess.Popen([SCRIPT, "scheduler"], env=environment, stderr=subprocess.DEVNULL)
        for _ in range(2)
    ]
    try:
        wait_until(lambda: len({t for _, t in archived(services)}) >= 2, timeout=200)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    runs = archived(services)
    minutes = [t for _, t in runs if t is not None]
    assert len(minutes) == len(set(minutes)) >= 2, runs  # exactly one report per tick
    assert all(b - a == timedelta(minutes=1) for a, b in pairwise(minutes))
    assert all(t.second == 0 for t in minutes)
