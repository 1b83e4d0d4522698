"""Running report schedules: APScheduler fires the cron triggers, `run_due` archives.

`run_due(now)` archives, for each active schedule, the latest tick at or before `now`
unless it is archived already; the archive's unique (schedule, tick) keeps every tick to
one report however many schedulers race for it. It is what an APScheduler job calls when
a trigger fires, and what runs once at start-up, so a tick missed while no scheduler ran
is caught up (the latest one). Tests call it with the times they choose.

One scheduler is active across processes: the one holding the scheduler's lease
(adapters/leases.py), renewed from its main loop while the jobs run in APScheduler's
threads; the others stand by and take over once it has expired (the leader died, hung,
or was stopped). The report and checkpoint rows an active scheduler writes check the
lease in their transaction, so one that wakes after losing it writes nothing and steps
down. Schedules are re-read every few seconds, so a change made through the API or the
CLI of any process takes effect.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Connection, select

from adapters.checkpoints import CheckpointRefused, Checkpoints
from adapters.database import Database
from adapters.leases import Lease, LeaseLost, failure
from adapters.projection import ReadModelProjection
from adapters.reports.archive import ReportArchive
from adapters.reports.data import ReportInputs
from adapters.tables import report_schedules
from domain import clock
from domain.cron import cron_trigger, latest_tick
from domain.errors import InvalidValue
from domain.views import ScheduleResource

log = logging.getLogger(__name__)

SYNC_SECONDS = 5.0
LEASE_NAME = "report_scheduler"
CHECKPOINT_JOB = "checkpoint:sign"  # not a schedule name (those are slugs)
CATCH_UP_JOB = "catch-up"
SCHEDULER_ACTOR = "scheduler"


def list_schedules(
    connection: Connection, *, include_removed: bool = False
) -> list[ScheduleResource]:
    """The schedules as projected, by name."""
    query = select(report_schedules.c.document).order_by(report_schedules.c.name)
    if not include_removed:
        query = query.where(report_schedules.c.active.is_(True))
    # Documents projected before schedules had a language are English ones.
    return [
        {"language": "en"} | json.loads(document)
        for document in connection.execute(query).scalars()
    ]


class ReportScheduler:
    """Keeps APScheduler jobs in step with the report_schedules read model."""

    def __init__(
        self,
        database: Database,
        archive: ReportArchive,
        projection: ReadModelProjection,
        *,
        sync_seconds: float = SYNC_SECONDS,
        now: Callable[[], datetime] = clock.now,
        checkpoints: Checkpoints | None = None,
        checkpoint_seconds: float = 0,
        lease: Lease | None = None,
    ) -> None:
        self.database = database
        self.lease = lease or Lease(database, LEASE_NAME)
        self.checkpoints = checkpoints
        self.checkpoint_seconds = checkpoint_seconds
        self.archive = archive
        self.projection = projection
        self.sync_seconds = sync_seconds
        self.now = now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._jobs: dict[str, tuple[str, str]] = {}
        self.active = threading.Event()  # set while this scheduler holds the lease
        # Set once the active scheduler's start-up catch-up has run (tests wait for it).
        self.caught_up = threading.Event()
        self._lost = threading.Event()  # a job found the lease taken over

    # ---- what is due -------------------------------------------------------------------

    def run_due(
        self, now: datetime, *, only: str | None = None, fence: Lease | None = None
    ) -> list[dict[str, Any]]:
        """Archive the latest tick at or before `now` of each active schedule (or of
        `only`) that is not archived yet; returns what this call archived. `fence`: the
        lease the caller leads by (LeaseLost, and nothing archived, once it is lost)."""
        with self.database.reading() as connection:
            schedules = list_schedules(connection)
        archived = []
        for schedule in schedules:
            if only is not None and schedule["name"] != only:
                continue
            stored = self._run_latest(schedule, now, fence)
            if stored is not None:
                archived.append(stored)
        return archived

    def _run_latest(
        self, schedule: ScheduleResource, now: datetime, fence: Lease | None
    ) -> dict[str, Any] | None:
        name = schedule["name"]
        try:
            trigger = cron_trigger(schedule["cron"], schedule["timezone"], now=now)
        except InvalidValue as error:
            log.error("schedule %s skipped: %s", name, error)
            return None
        tick = latest_tick(trigger, now)
        if tick is None or tick < datetime.fromisoformat(schedule["changed_at"]):
            return None  # nothing was due since the schedule was (re)defined
        done = self.archive.last_scheduled(name)
        if done is not None and done >= tick:
            return None
        inputs = ReportInputs(
            at_position=self.archive.head(),
            as_of=tick.astimezone(ZoneInfo(schedule["timezone"])).date(),
            period_days=schedule["period_days"],
            language=schedule["language"],
        )
        stored = self.archive.archive(
            inputs,
            schedule["formats"],
            generated_by=SCHEDULER_ACTOR,
            schedule=name,
            scheduled_for=tick.astimezone(UTC),
            fence=fence,
        )
        if stored is not None:
            log.info("schedule %s: archived report %s for %s", name, stored["id"], tick)
        return stored

    # ---- running -----------------------------------------------------------------------

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
                if not self.lease.acquire():
                    self._stop.wait(self.lease.look_every)  # another process schedules
                    continue
                try:
                    self.active.set()
                    self._serve()
                finally:
                    self.active.clear()
                    self.lease.release()  # (nothing to do if it was lost)
            except Exception as error:
                if self.lease.replaced:
                    log.warning("report scheduler: %s; standing by", failure(error))
                else:
                    log.exception("report scheduler failed; retrying")
                self._stop.wait(5)

    def _serve(self) -> None:
        """Lead until stopped or the lease is lost. Reports (which may take minutes) and
        checkpoints are made in APScheduler's threads; this loop renews the lease."""
        lease = self.lease
        self._lost.clear()
        if not self._await_projection():
            return
        scheduler = BackgroundScheduler(timezone=UTC)
        scheduler.start()
        self._jobs = {}
        try:
            self._schedule_checkpoints(scheduler, lease)
            scheduler.add_job(  # a tick missed while no scheduler ran
                self._fenced,
                args=[lambda: self.run_due(self.now(), fence=lease), self.caught_up.set],
                id=CATCH_UP_JOB,
            )
            self._sync(scheduler, lease)
            next_sync = time.monotonic() + self.sync_seconds
            while True:
                wait = min(lease.due_in(), next_sync - time.monotonic())
                if self._stop.wait(max(0.01, wait)):
                    return
                if self._lost.is_set() or not lease.renew_if_due():
                    return
                if time.monotonic() >= next_sync:
                    self._sync(scheduler, lease)
                    next_sync = time.monotonic() + self.sync_seconds
        finally:
            scheduler.shutdown(wait=True)

    def _fenced(self, job: Callable[[], object], then: Callable[[], None] | None = None) -> None:
        """Run a job of the active scheduler; a lost lease ends its term."""
        try:
            job()
        except LeaseLost:
            self._lost.set()
            return
        if then is not None:
            then()

    def _schedule_checkpoints(self, scheduler: BackgroundScheduler, lease: Lease) -> None:
        """Sign the log's tree head every `checkpoint_seconds` (when it grew)."""
        if self.checkpoints is None or self.checkpoints.signer is None:
            return
        if self.checkpoint_seconds <= 0:
            return
        scheduler.add_job(
            self._fenced,
            IntervalTrigger(seconds=self.checkpoint_seconds, timezone=UTC),
            args=[lambda: self.sign_checkpoint(fence=lease)],
            id=CHECKPOINT_JOB,
            coalesce=True,
            max_instances=1,
            next_run_time=self.now(),
        )

    def sign_checkpoint(self, *, fence: Lease | None = None) -> None:
        assert self.checkpoints is not None
        try:
            signed = self.checkpoints.sign(fence=fence)
        except LeaseLost:
            raise
        except CheckpointRefused as error:
            log.error("checkpoint not signed: %s", error)
            self.checkpoints.failed_in_background()
        except Exception:
            log.exception("checkpoint signing failed")
            self.checkpoints.failed_in_background()
        else:
            log.info("checkpoint of tree size %s signed", signed.size)

    def _await_projection(self, timeout: float = 30.0) -> bool:
        """Schedules are read from the projection: let it catch up with the log first, so
        a schedule added while no scheduler ran is seen by the start-up catch-up. False
        when stopped, or the lease was lost meanwhile."""
        wanted = self.projection.head()
        deadline = time.monotonic() + timeout
        while self.projection.position() < wanted and time.monotonic() < deadline:
            if self._stop.wait(0.2) or not self.lease.renew_if_due():
                return False
        return True

    def _sync(self, scheduler: BackgroundScheduler, lease: Lease) -> None:
        with self.database.reading() as connection:
            wanted = {s["name"]: (s["cron"], s["timezone"]) for s in list_schedules(connection)}
        for name in set(self._jobs) - set(wanted):
            scheduler.remove_job(name)
            del self._jobs[name]
        for name, (cron, timezone) in wanted.items():
            if self._jobs.get(name) == (cron, timezone):
                continue
            try:
                trigger = cron_trigger(cron, timezone, now=self.now())
            except InvalidValue as error:
                log.error("schedule %s skipped: %s", name, error)
                continue
            scheduler.add_job(
                self._fenced,
                trigger,
                args=[lambda name=name: self.run_due(self.now(), only=name, fence=lease)],
                id=name,
                replace_existing=True,
                coalesce=True,
                misfire_grace_time=60,
                max_instances=1,
            )
            self._jobs[name] = (cron, timezone)
