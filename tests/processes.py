"""Real `commitments` processes for the end-to-end and resilience tests.

`serve`, `project` (the projection worker) and `scheduler` run as child processes on a
test's database, each logging to a file of its own (a file, not a pipe: a full pipe
would block the process). `wait_for` polls a condition until a deadline: the one way
these tests wait for another process.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from domain.access import Role, system
from tests.conftest import open_services

SCRIPT = shutil.which("commitments", path=str(Path(sys.executable).parent)) or "commitments"
START_SECONDS = 120  # generous: a loaded 2-core machine may take long to import
STOP_SECONDS = 15

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.05
) -> T:
    """The first truthy value of `condition()`, polled until `timeout` seconds have
    passed; fails the test naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def admin_token(url: str) -> str:
    """An admin token on the database at `url`, made in-process."""
    services = open_services(url)
    try:
        secret, _ = services.tokens.issue(system("e2e"), name="e2e-admin", role=Role.ADMIN)
        return secret
    finally:
        services.close()


def environment(database_url: str, **settings: str) -> dict[str, str]:
    """The process environment: no COMMITMENTS_* of the caller's, the database URL and
    `settings` (e.g. scheduler="false" for COMMITMENTS_SCHEDULER=false)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMITMENTS_")}
    env["COMMITMENTS_DATABASE_URL"] = database_url
    env |= {f"COMMITMENTS_{name.upper()}": value for name, value in settings.items()}
    return env


@dataclass
class Process:
    """A running `commitments` command and the file it logs to."""

    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine or an OOM killer stops it."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=STOP_SECONDS)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after STOP_SECONDS; the exit status of the first."""
        if not self.running:
            return self.popen.returncode
        self.popen.terminate()
        try:
            return self.popen.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.log.stem} did not stop on SIGTERM within {STOP_SECONDS} s")


def spawn(arguments: list[str], env: dict[str, str], log: Path) -> Process:
    with log.open("wb") as sink:
        popen = subprocess.Popen(
            [SCRIPT, *arguments], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    return Process(popen, log)


@dataclass
class Server:
    base: str
    token: str
    database_url: str
    log: Path
    process: Process = field(repr=False)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _healthy(process: Process, base: str) -> bool:
    """True once /healthz answers 200; False if the port was taken under us."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if not process.running:
            if "address already in use" in process.output().lower():
                return False
            pytest.fail(f"server exited with {process.popen.returncode}:\n{process.output()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"server did not answer /healthz within {START_SECONDS} s:\n{process.output()}")


def start_server(
    database_url: str, token: str, folder: Path, name: str = "serve", port: int | None = None,
    **settings: str,
) -> Server:  # fmt: skip
    """`commitments serve` on a free port (or `port`: a restart where clients expect
    it), answering /healthz; `settings` as for `environment`."""
    env = environment(database_url, **settings)
    for _ in range(3):
        chosen = port or free_port()
        process = spawn(
            ["serve", "--host", "127.0.0.1", "--port", str(chosen)],
            env,
            _log_file(folder, name),
        )
        base = f"http://127.0.0.1:{chosen}"
        try:
            started = _healthy(process, base)
        except BaseException:
            process.kill()
            raise
        if started:
            return Server(base, token, database_url, process.log, process)
        if port is not None:
            break
    pytest.fail(f"no port could be bound for {name} (last: {process.output()})")


def start_worker(database_url: str, folder: Path, name: str = "project") -> Process:
    """`commitments project`: the projection worker, following the log until stopped."""
    return spawn(["project"], environment(database_url), _log_file(folder, name))


def start_scheduler(database_url: str, folder: Path, name: str = "scheduler") -> Process:
    """`commitments scheduler`: the report scheduler (and its projection follower)."""
    return spawn(["scheduler"], environment(database_url), _log_file(folder, name))


def _log_file(folder: Path, name: str) -> Path:
    """A new file per process started, so a restart does not overwrite what went before."""
    for n in range(1000):
        path = folder / f"{name}-{n}.log"
        if not path.exists():
            path.touch()
            return path
    raise AssertionError(f"too many {name} logs in {folder}")
