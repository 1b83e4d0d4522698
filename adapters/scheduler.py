"""Running report schedules with APScheduler.

One scheduler is active across processes on PostgreSQL (an advisory lock, as for the
projection follower); on any database the archive's unique (schedule, tick) keeps each
tick to one report. The scheduler re-reads the schedules every few seconds, so changes
made by the API or the CLI of any process take effect. A tick missed while no scheduler
ran is run once when one starts (the latest missed tick only).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Connection, func, select

from adapters.event_store import engine_of
from adapters.projection import advisory_lock_key, projection_position
from adapters.reports.archive import archive
from adapters.reports.data import ReportInputs, log_head
from adapters.tables import report_archive, report_schedules
from domain.errors import InvalidValue
from domain.schedule import check_timezone
from domain.tracker import Tracker

log = logging.getLogger(__name__)

SYNC_SECONDS = 5.0
LOCK_NAME = "report_scheduler"
SCHEDULER_ACTOR = "scheduler"
# How far back a missed tick is looked for at start-up.
_LOOKBACK = (timedelta(minutes=1), timedelta(hours=1), timedelta(days=1), timedelta(days=32),
             timedelta(days=367))  # fmt: skip


def list_schedules(
    connection: Connection, *, include_removed: bool = False
) -> list[dict[str, Any]]:
    """The schedules as projected, by name."""
    query = select(report_schedules).order_by(report_schedules.c.name)
    if not include_removed:
        query = query.where(report_schedules.c.active.is_(True))
    return [
        {
            "name": r["name"],
            "cron": r["cron"],
            "formats": r["formats"].split(","),
            "timezone": r["timezone"],
            "period_days": r["period_days"],
            "active": r["active"],
            "changed_by": r["defined_by"],
            "changed_at": _aware(r["defined_at"]).isoformat(),
            "version": r["version"],
        }
        for r in connection.execute(query).mappings()
    ]


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekdays(field: str) -> str:
    """Standard cron numbers weekdays 0-7 from Sunday; APScheduler from Monday. Numbers are
    turned into names (ranges expanded, since Sunday ends APScheduler's week)."""
    names = []
    for part in field.split(","):
        spec, _, step = part.partition("/")
        first, dash, last = spec.partition("-")
        if not (first.isdigit() and (not dash or last.isdigit())):
            names.append(part)  # '*', names, or something APScheduler will judge
            continue
        low, high = int(first), int(last) if dash else int(first)
        if high > 7 or low > high:
            names.append(part)
            continue
        numbers = range(low, high + 1, int(step) if step.isdigit() and step != "0" else 1)
        names.extend(_WEEKDAYS[n] for n in numbers)
    return ",".join(dict.fromkeys(names))


def cron_trigger(cron: str, timezone: str) -> CronTrigger:
    """A standard 5-field crontab expression (minute hour day month weekday) as a trigger."""
    check_timezone(timezone)
    fields = cron.split()
    if len(fields) != 5:
        raise InvalidValue(f"cron {cron!r} must have 5 fields: minute hour day month weekday")
    minute, hour, day, month, weekday = fields
    try:
        trigger = CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_weekdays(weekday),
            timezone=ZoneInfo(timezone),
        )
    except (ValueError, KeyError) as error:
        raise InvalidValue(f"cron {cron!r} is not valid: {error}") from None
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        raise InvalidValue(f"cron {cron!r} never fires")
    return trigger


def latest_tick(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The last time at or before `now` that the trigger fired (or would have)."""
    for window in _LOOKBACK:
        tick = trigger.get_next_fire_time(None, now - window)
        if tick is None or tick > now:
            continue
        while True:
            following = trigger.get_next_fire_time(tick, tick + timedelta(seconds=1))
            if following is None or following > now:
                return tick  # type: ignore[no-any-return]
            tick = following
    return None


class ReportScheduler:
    """Keeps APScheduler jobs in step with the report_schedules read model."""

    def __init__(self, tracker: Tracker, *, sync_seconds: float = SYNC_SECONDS) -> None:
        self.tracker = tracker
        self.engine = engine_of(tracker)
        self.sync_seconds = sync_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._jobs: dict[str, tuple[str, str, str, int]] = {}
        self.active = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="report-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._exclusive() as mine:
                    if mine:
                        self.active.set()
                        self._serve()
            except Exception:
                log.exception("report scheduler failed; retrying")
                self._stop.wait(5)
            finally:
                self.active.clear()

    def _await_projection(self, timeout: float = 30.0) -> None:
        """Schedules are read from the projection: let it catch up with the log first, so
        a schedule added while no scheduler ran is seen by the start-up catch-up."""
        wanted = log_head(self.tracker)
        deadline = time.monotonic() + timeout
        while projection_position(self.engine) < wanted and time.monotonic() < deadline:
            if self._stop.wait(0.2):
                return

    def _serve(self) -> None:
        self._await_projection()
        scheduler = BackgroundScheduler(timezone=UTC)
        scheduler.start()
        self._jobs = {}
        try:
            self._sync(scheduler, catch_up=True)
            while not self._stop.wait(self.sync_seconds):
                self._sync(scheduler, catch_up=False)
        finally:
            scheduler.shutdown(wait=True)

    def _exclusive(self) -> Any:
        engine = self.engine
        if engine.dialect.name != "postgresql":
            return _Held(True)
        return _AdvisoryLock(engine, advisory_lock_key(LOCK_NAME), self._stop)

    def _sync(self, scheduler: BackgroundScheduler, *, catch_up: bool) -> None:
        with self.engine.connect() as connection:
            rows = (
                connection.execute(
                    select(report_schedules).where(report_schedules.c.active.is_(True))
                )
                .mappings()
                .all()
            )
        wanted = {
            r["name"]: (r["cron"], r["formats"], r["timezone"], r["period_days"]) for r in rows
        }
        defined_at = {r["name"]: _aware(r["defined_at"]) for r in rows}
        for name in set(self._jobs) - set(wanted):
            scheduler.remove_job(name)
            del self._jobs[name]
        for name, spec in wanted.items():
            if self._jobs.get(name) == spec:
                continue
            cron, formats, timezone, period = spec
            try:
                trigger = cron_trigger(cron, timezone)
            except InvalidValue as error:
                log.error("schedule %s skipped: %s", name, error)
                continue
            scheduler.add_job(
                self.run_tick,
                trigger,
                args=[name, cron, formats.split(","), timezone, period],
                id=name,
                replace_existing=True,
                coalesce=True,
                misfire_grace_time=60,
                max_instances=1,
            )
            self._jobs[name] = spec
            if catch_up:
                self._catch_up(
                    name, trigger, formats.split(","), timezone, period, defined_at[name]
                )

    def _catch_up(
        self,
        name: str,
        trigger: CronTrigger,
        formats: list[str],
        timezone: str,
        period: int,
        defined_at: datetime,
    ) -> None:
        tick = latest_tick(trigger, datetime.now(UTC))
        if tick is None or tick < defined_at:
            return  # nothing was due since the schedule was (re)defined
        with self.engine.connect() as connection:
            done = connection.execute(
                select(func.max(report_archive.c.scheduled_for)).where(
                    report_archive.c.schedule == name
                )
            ).scalar_one_or_none()
        if done is not None and _aware(done) >= tick:
            return
        log.info("schedule %s missed its tick at %s: running it now", name, tick)
        self._archive(name, tick, formats, timezone, period)

    def run_tick(
        self, name: str, cron: str, formats: list[str], timezone: str, period: int
    ) -> None:
        """APScheduler's job: archive the report of the tick that is due now."""
        tick = latest_tick(cron_trigger(cron, timezone), datetime.now(UTC))
        if tick is not None:
            self._archive(name, tick, formats, timezone, period)

    def _archive(
        self, name: str, tick: datetime, formats: list[str], timezone: str, period: int
    ) -> None:
        inputs = ReportInputs(
            at_position=log_head(self.tracker),
            as_of=tick.astimezone(ZoneInfo(timezone)).date(),
            period_days=period,
        )
        stored = archive(
            self.tracker,
            inputs,
            formats,
            generated_by=SCHEDULER_ACTOR,
            schedule=name,
            scheduled_for=tick.astimezone(UTC),
        )
        if stored is not None:
            log.info("schedule %s: archived report %s for %s", name, stored["id"], tick)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _Held:
    def __init__(self, value: bool) -> None:
        self.value = value

    def __enter__(self) -> bool:
        return self.value

    def __exit__(self, *_: object) -> None:
        return None


class _AdvisoryLock:
    """Holds pg_advisory_lock on its own connection while the block runs."""

    def __init__(self, engine: Any, key: int, stop: threading.Event) -> None:
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self.key = key
        self.stop = stop
        self.connection: psycopg.Connection[Any] | None = None

    def __enter__(self) -> bool:
        self.connection = psycopg.connect(self.conninfo, autocommit=True)
        row = self.connection.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        if row and row[0]:
            return True
        self.stop.wait(1.0)
        return False

    def __exit__(self, *_: object) -> None:
        if self.connection is not None:
            self.connection.close()  # ends the session, and with it the lock
