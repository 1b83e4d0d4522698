"""Failover between real processes on PostgreSQL: the leader of the projection (two
`commitments project`) or of the report scheduler (two `commitments scheduler`) is
stopped with SIGSTOP, or killed, under write load. The standby takes over within a few
seconds (the lease's length), and the stopped one, continued, steps down without writing:
the read models equal a rebuild, and the log verifies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.bootstrap import Services
from adapters.projection import PROJECTION_NAME
from adapters.scheduler import LEASE_NAME
from adapters.tables import checkpoints, leases
from domain.access import system
from domain.checkpoint import Signer
from domain.commands import LogProgress
from tests.conftest import open_services
from tests.integration.test_projection import dump, solo_rebuild
from tests.processes import SCRIPT
from tests.support import write

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("seeded_url", ["postgresql"], indirect=True),
]

LEASE_SECONDS = 2.0
# A takeover comes a lease after the leader's last renewal, and a standby's look after
# that (a third of a lease more if the leader stopped inside its transaction, which the
# standby then ends): well within this, on a loaded machine.
TAKEOVER_SECONDS = LEASE_SECONDS + 3.0
WRITER = system("load")
CODES = ["CMAP-PROS-RAIL", "CMAP-SEC-CYBER", "CMAP-PROS-PORTS"]


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {timeout} s: {what}")
        time.sleep(0.05)


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.log.read_text()


@dataclass
class Cluster:
    """Two processes of one command on one database, and the test's own services."""

    services: Services
    workers: list[Worker] = field(default_factory=list)

    def lease(self, name: str) -> tuple[int, int] | None:
        """The lease's holder's process id and its epoch."""
        with self.services.database.reading() as connection:
            row = connection.execute(
                select(leases.c.holder, leases.c.epoch).where(leases.c.name == name)
            ).one_or_none()
        return None if row is None else (int(row.holder.split(":")[1]), int(row.epoch))

    def leader(self, name: str) -> tuple[Worker, Worker, int]:
        """The worker holding the lease, the other one, and the lease's epoch."""
        held = self.lease(name)
        assert held is not None
        leader = next(w for w in self.workers if w.pid == held[0])
        return leader, next(w for w in self.workers if w is not leader), held[1]

    def caught_up(self) -> bool:
        projection = self.services.projection
        return projection.position() == projection.head()


def environment(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMITMENTS_")}
    env |= {"COMMITMENTS_DATABASE_URL": url, "COMMITMENTS_LEASE_SECONDS": str(LEASE_SECONDS)}
    return env | extra


@pytest.fixture
def cluster(seeded_url: str) -> Iterator[Cluster]:
    services = open_services(seeded_url)
    built = Cluster(services)
    yield built
    for worker in built.workers:
        worker.process.send_signal(signal.SIGCONT)  # a stopped process cannot end
        worker.process.terminate()
    for worker in built.workers:
        try:
            worker.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(timeout=15)
        print(f"---- {worker.log.name} ----\n{worker.text()}")  # shown when a test failed
    services.close()


def start(cluster: Cluster, command: str, tmp_path: Path, **env: str) -> None:
    url = cluster.services.settings.database_url
    for index in range(2):
        log = tmp_path / f"{command}-{index}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [SCRIPT, command], env=environment(url, **env), stdout=sink, stderr=sink
            )
        cluster.workers.append(Worker(process, log))


class Load:
    """Writes from another process (this test's) until stopped."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.written = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            command = LogProgress(percent=self.written % 100, as_of=date(2026, 10, 1), note="x")
            write(self.services, command, ref=CODES[self.written % 3], principal=WRITER)
            self.written += 1

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)


def fail_over(cluster: Cluster, how: signal.Signals) -> tuple[Worker, Worker, float]:
    """Stop (or kill) the projection's leader under load; the standby takes over."""
    leader, standby, epoch = cluster.leader(PROJECTION_NAME)
    with Load(cluster.services) as load:
        wait_until(lambda: load.written >= 20, what="writes under way")
        leader.process.send_signal(how)
        stopped = time.monotonic()
        wait_until(
            lambda: cluster.lease(PROJECTION_NAME) == (standby.pid, epoch + 1),
            timeout=TAKEOVER_SECONDS,
            what="the standby takes over",
        )
        took_over = time.monotonic() - stopped
        before = cluster.services.projection.position()
        wait_until(lambda: cluster.services.projection.position() > before, what="progress")
    wait_until(cluster.caught_up, timeout=20, what="the new leader catches up")
    print(f"{how.name}: the standby took over in {took_over:.2f} s")
    return leader, standby, took_over


def the_read_models_equal_a_rebuild_and_the_log_verifies(cluster: Cluster) -> None:
    for worker in cluster.workers:
        worker.process.terminate()  # (nothing to do for a killed one)
        worker.process.wait(timeout=15)
    services = cluster.services
    live = dump(services)
    assert solo_rebuild(services) == live
    url = services.settings.database_url
    verified = subprocess.run([SCRIPT, "verify"], env=environment(url), capture_output=True)
    assert verified.returncode == 0, verified.stderr


def test_a_stopped_projection_leader_is_replaced_steps_down_and_takes_over_a_killed_one(
    cluster: Cluster, tmp_path: Path
) -> None:
    start(cluster, "project", tmp_path)
    wait_until(lambda: cluster.lease(PROJECTION_NAME) is not None, what="a leader")
    wait_until(cluster.caught_up, what="caught up")
    stopped, leader, took_over = fail_over(cluster, signal.SIGSTOP)
    assert took_over < TAKEOVER_SECONDS
    # Continued: it finds its lease taken over, writes nothing, and stands by.
    epoch = cluster.lease(PROJECTION_NAME)
    stopped.process.send_signal(signal.SIGCONT)
    wait_until(
        lambda: "lost the lease read_models" in stopped.text(), what="the old leader steps down"
    )
    with Load(cluster.services) as load:
        wait_until(lambda: load.written >= 20, what="more writes")
    wait_until(cluster.caught_up, what="the leader projects the new writes")
    assert cluster.lease(PROJECTION_NAME) == epoch  # still the new leader's
    # Now the new leader dies: the one that was stopped, standing by, takes over.
    killed, leader, took_over = fail_over(cluster, signal.SIGKILL)
    assert epoch is not None and killed.pid == epoch[0] and leader is stopped
    assert took_over < TAKEOVER_SECONDS
    the_read_models_equal_a_rebuild_and_the_log_verifies(cluster)


def signed(cluster: Cluster) -> int:
    """The tree size of the last checkpoint signed."""
    with cluster.services.database.reading() as connection:
        return int(connection.execute(select(func.max(checkpoints.c.tree_size))).scalar() or 0)


def test_a_stopped_scheduler_is_replaced_and_the_continued_one_signs_nothing(
    cluster: Cluster, tmp_path: Path
) -> None:
    key = tmp_path / "operator.key"
    key.write_text(Signer.generate("tracker.example/operator").encode() + "\n")
    # Checkpoints every second: the scheduler's job that the standby must take over.
    start(
        cluster,
        "scheduler",
        tmp_path,
        COMMITMENTS_SIGNING_KEY_FILE=str(key),
        COMMITMENTS_CHECKPOINT_SECONDS="1",
    )
    head = cluster.services.projection.head
    wait_until(lambda: signed(cluster) == head(), what="the leader signs the log's head")
    leader, standby, epoch = cluster.leader(LEASE_NAME)
    leader.process.send_signal(signal.SIGSTOP)
    stopped = time.monotonic()
    wait_until(
        lambda: cluster.lease(LEASE_NAME) == (standby.pid, epoch + 1),
        timeout=TAKEOVER_SECONDS,
        what="the standby scheduler takes over",
    )
    print(f"scheduler SIGSTOP: the standby took over in {time.monotonic() - stopped:.2f} s")
    with Load(cluster.services) as load:
        wait_until(lambda: load.written >= 5, what="writes")
    wait_until(lambda: signed(cluster) == head(), what="the new leader signs the new head")
    # Continued, with a signing due (coalesced while it was stopped) over a log that grew:
    # it finds its lease taken over and signs nothing.
    with Load(cluster.services) as load:
        wait_until(lambda: load.written >= 5, what="writes")
    seen = len(leader.text())
    leader.process.send_signal(signal.SIGCONT)
    wait_until(
        lambda: "lost the lease report_scheduler" in leader.text(),
        what="the old scheduler steps down",
    )
    assert "signed" not in leader.text()[seen:]
    assert cluster.lease(LEASE_NAME) == (standby.pid, epoch + 1)
    wait_until(lambda: signed(cluster) == head(), what="the leader signs the last head")
