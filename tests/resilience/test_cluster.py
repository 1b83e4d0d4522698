"""Two servers, two projection workers and two schedulers on one PostgreSQL database,
under write load, one server SIGKILLed and restarted: nothing lost or doubled, one
archived report per due tick."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from adapters.bootstrap import Services
from tests.processes import wait_for
from tests.resilience.support import (
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
from tests.resilience.test_crashes import archived, assert_complete, define_due_schedule

pytestmark = pytest.mark.slow

SCHEDULES = ("minutely-a", "minutely-b")


def minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


@pytest.mark.parametrize("seeded_url", ["postgresql"], indirect=True)
def test_two_of_each_process_on_one_database_under_write_load(
    launcher: Launcher, direct: Services
) -> None:
    codes = prepare(direct, 8)
    for name in SCHEDULES:
        define_due_schedule(direct, name)
    before = direct.projection.head()
    started = datetime.now(UTC)
    for n in "ab":
        launcher.worker(f"project-{n}")
        launcher.scheduler(f"scheduler-{n}")
    # The servers leave projecting to the workers (and scheduling to the schedulers).
    with ThreadPoolExecutor(2) as pool:
        servers = list(pool.map(lambda n: launcher.server(f"serve-{n}", projector="false"), "ab"))
    bases = [server.base for server in servers]
    writers = Writers(lambda: bases, launcher.token, codes).start()
    # Server a killed: the writers go on through server b, and a again once restarted.
    restarted, acknowledged_before = kill_and_restart_mid_load(
        launcher, servers[0], writers, projector="false"
    )
    writers.stop()
    answers = writers.join()
    assert any(a.attempts > 1 for a in answers)
    check_replays(writers, restarted.base, acknowledged_before)
    # The tick due when the schedulers started, archived once for each schedule.
    wait_for(
        lambda: {r["schedule"] for r in archived(direct)} == set(SCHEDULES),
        timeout=PATIENCE,
        what="each schedule's due tick archived",
    )
    head = direct.projection.head()
    wait_for(
        lambda: direct.projection.position() == head, timeout=PATIENCE, what="projection at head"
    )
    check_api_reads(bases[1], launcher.token, codes)
    launcher.stop_all()
    stopped = datetime.now(UTC)

    check_log(direct, before, answers)
    check_verify(launcher.url)
    check_rebuild(direct)

    reports = archived(direct)
    assert_complete(reports)
    runs = [(r["schedule"], r["scheduled_for"]) for r in reports]
    assert len(runs) == len(set(runs)), runs  # never two reports of one tick
    for name in SCHEDULES:
        ticks = sorted(tick for schedule, tick in runs if schedule == name)
        # From the tick due at start-up, every minute while the schedulers ran (the
        # last one may have come as they stopped), nothing before nor after.
        assert minute(started) <= ticks[0] <= stopped
        expected = [ticks[0] + timedelta(minutes=n) for n in range(len(ticks))]
        assert ticks == expected
        assert ticks[-1] >= minute(stopped) - timedelta(minutes=1)
