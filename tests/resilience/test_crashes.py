"""SIGKILL (no shutdown code runs) of the server mid-load, of the projection worker mid
catch-up and of the scheduler mid-report; then a restart, and nothing lost or doubled."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from adapters.bootstrap import Services
from adapters.tables import report_archive, report_artefacts
from adapters.unit_of_work import Write
from domain import clock
from domain.commands import DefineSchedule, LogProgress, RateHealth, RegisterCommitment, Together
from domain.vocabulary import Health, Pillar
from tests.processes import wait_for
from tests.resilience.support import (
    LOAD,
    PATIENCE,
    Launcher,
    Writers,
    check_api_reads,
    check_log,
    check_rebuild,
    check_replays,
    check_verify,
    kill_and_restart_mid_load,
    prepare,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("seeded_url", ["sqlite"], indirect=True)
def test_sigkill_of_the_server_mid_load_loses_no_acknowledged_write(
    launcher: Launcher, direct: Services
) -> None:
    """SQLite, where the server is the one process (on PostgreSQL: test_cluster.py)."""
    codes = prepare(direct, 8)
    before = direct.projection.head()
    server = launcher.server()
    writers = Writers(lambda: [server.base], launcher.token, codes).start()
    # The writers' requests fail until the server is back on its port; they retry them.
    restarted, acknowledged_before = kill_and_restart_mid_load(launcher, server, writers)
    writers.stop()
    answers = writers.join()
    # Requests in flight at the kill were sent again with their keys (those written
    # before the kill are answered from the stored answer).
    assert any(a.attempts > 1 for a in answers)
    check_replays(writers, restarted.base, acknowledged_before)

    counts = check_log(direct, before, answers)  # the replays wrote nothing
    assert counts["acknowledged"] >= len(acknowledged_before) + 50
    head = direct.projection.head()
    wait_for(lambda: direct.projection.position() == head, timeout=30, what="projection at head")
    check_api_reads(restarted.base, launcher.token, codes)
    launcher.stop_all()
    check_verify(launcher.url)
    check_rebuild(direct)


def backlog(services: Services, commitments: int = 22, steps: int = 500) -> None:
    """commitments * (steps + 1) events: more than two batches of the projection."""
    script = Together(
        tuple(
            LogProgress(percent=k % 100, as_of=date(2026, 1, 1), note=f"step {k}")
            if k % 2
            else RateHealth(rating=Health.GREEN, rationale="steady", as_of=date(2026, 1, 1))
            for k in range(steps)
        )
    )
    for i in range(commitments):
        code = f"CMAP-BACKLOG-C{i:02d}"
        register = RegisterCommitment(
            code=code, title="Backlog", pillar=Pillar.SECURITY, sectors=("trade",),
            parties=("CA", "MX"), lead_party="joint",
        )  # fmt: skip
        services.unit_of_work.run(Write(LOAD, register))
        services.unit_of_work.run(Write(LOAD, script, ref=code))


@pytest.mark.parametrize("seeded_url", ["postgresql"], indirect=True)
def test_sigkill_of_the_projection_worker_mid_catch_up(
    launcher: Launcher, direct: Services
) -> None:
    start = direct.projection.position()
    backlog(direct)
    head = direct.projection.head()
    assert head - start > 2 * direct.projection.batch_size
    first = launcher.worker("project-first")
    # Killed once it has committed a batch, in the middle of the rest.
    wait_for(
        lambda: direct.projection.position() > start, timeout=PATIENCE, what="a batch projected"
    )
    first.kill()
    killed_at = direct.projection.position()
    assert start < killed_at < head
    second = launcher.worker("project-second")  # restarted: it finishes the catch-up
    wait_for(
        lambda: direct.projection.position() == head, timeout=PATIENCE, what="projection at head"
    )
    assert second.running
    launcher.stop_all()
    check_rebuild(direct)


FORMATS = ("json", "csv")  # two artefacts; the charted formats only add time


def define_due_schedule(services: Services, name: str = "minutely") -> None:
    """A schedule firing every minute, defined two minutes ago: a tick is due at once."""
    with clock.frozen_at(datetime.now(UTC) - timedelta(minutes=2)):
        services.unit_of_work.run(
            Write(LOAD, DefineSchedule(name=name, cron="* * * * *", formats=FORMATS))
        )


def archived(services: Services) -> list[dict[str, Any]]:
    """Every archived report, with each of its artefacts' stored and computed sha256."""
    with services.database.reading() as connection:
        reports = connection.execute(select(report_archive)).mappings().all()
        artefacts = connection.execute(select(report_artefacts)).mappings().all()
    return [
        dict(report)
        | {
            "artefacts": {
                a["format"]: (a["sha256"], hashlib.sha256(bytes(a["content"])).hexdigest())
                for a in artefacts
                if a["report_id"] == report["id"]
            }
        }
        for report in reports
    ]


def assert_complete(reports: list[dict[str, Any]]) -> None:
    for report in reports:
        assert report["formats"].split(",") == list(FORMATS)
        assert set(report["artefacts"]) == set(FORMATS), report["id"]
        assert all(stored == computed for stored, computed in report["artefacts"].values())


def blocked_insert(services: Services, table: str) -> int | None:
    """The server process of a connection waiting for a lock to insert into `table`.
    (A new transaction each time: one sees pg_stat_activity as it was at its start.)"""
    with services.database.engine.connect() as connection:
        pid = connection.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE :insert"
            ),
            {"insert": f"INSERT INTO {table} %"},
        ).scalar()
    return None if pid is None else int(pid)


def holds_rows_of(services: Services, pid: int, table: str) -> bool:
    """Whether that server process's transaction has written to `table`."""
    with services.database.engine.connect() as connection:
        found = connection.execute(
            text(
                "SELECT 1 FROM pg_locks JOIN pg_class ON pg_locks.relation = pg_class.oid "
                "WHERE pg_locks.pid = :pid AND pg_class.relname = :table "
                "AND pg_locks.mode = 'RowExclusiveLock' AND pg_locks.granted"
            ),
            {"pid": pid, "table": table},
        ).first()
    return found is not None


def backend_alive(services: Services, pid: int) -> bool:
    with services.database.engine.connect() as connection:
        found = connection.execute(
            text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        ).first()
    return found is not None


@pytest.mark.parametrize("seeded_url", ["postgresql"], indirect=True)
def test_sigkill_of_the_scheduler_mid_report_leaves_no_half_written_report(
    launcher: Launcher, direct: Services
) -> None:
    define_due_schedule(direct)
    # The test holds report_artefacts locked: the scheduler's transaction stores the
    # report's row, then waits to store its artefacts. It is killed there.
    with direct.database.engine.connect() as holder:
        holder.execute(text("LOCK TABLE report_artefacts IN EXCLUSIVE MODE"))
        scheduler = launcher.scheduler("scheduler-first")
        waiting = wait_for(
            lambda: blocked_insert(direct, "report_artefacts"),
            timeout=PATIENCE,
            what="the scheduler waiting to store a report's artefacts",
        )
        # Half a report: its transaction has inserted the report's row already.
        assert holds_rows_of(direct, waiting, "report_archive")
        scheduler.kill()
        holder.rollback()
    # Its backend ends the transaction when it reads its dead client's socket.
    wait_for(
        lambda: not backend_alive(direct, waiting),
        timeout=30,
        what="the killed scheduler's backend gone",
    )
    assert archived(direct) == []  # not half a report, nor a whole one

    launcher.scheduler("scheduler-second")
    reports = wait_for(
        lambda: archived(direct), timeout=PATIENCE, what="the tick archived on restart"
    )
    launcher.stop_all()
    reports = archived(direct)
    assert_complete(reports)
    ticks = [r["scheduled_for"] for r in reports]
    assert len(ticks) == len(set(ticks))  # one report per tick
    check_verify(launcher.url)
