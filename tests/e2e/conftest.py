"""A real `commitments serve` process on a free port, for end-to-end and browser tests.

The server starts on a copy of the seeded database (`seeded_url`: SQLite unless a test
parametrizes it indirectly with "postgresql"), with an admin token made in-process.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from domain.access import Role, system
from tests.conftest import open_services

SCRIPT = shutil.which("commitments", path=str(Path(sys.executable).parent)) or "commitments"
START_SECONDS = 60  # generous: a loaded 2-core machine may take long to import


@dataclass(frozen=True)
class Server:
    base: str
    token: str
    database_url: str
    log: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _admin_token(url: str) -> str:
    services = open_services(url)
    try:
        secret, _ = services.tokens.issue(system("e2e"), name="e2e-admin", role=Role.ADMIN)
        return secret
    finally:
        services.close()


def _wait_until_healthy(process: subprocess.Popen[bytes], base: str, log: Path) -> bool:
    """True once /healthz answers 200; False if the port was taken under us."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log.read_text()
            if "address already in use" in text.lower():
                return False
            pytest.fail(f"server exited with {process.returncode}:\n{text}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"server did not answer /healthz within {START_SECONDS} s:\n{log.read_text()}")


@pytest.fixture
def server(seeded_url: str, tmp_path: Path) -> Iterator[Server]:
    with serve(seeded_url, tmp_path) as started:
        yield started


@contextmanager
def serve(url: str, tmp_path: Path, **settings: str) -> Iterator[Server]:
    """`commitments serve` on `url`, with COMMITMENTS_<NAME> settings given as name=value."""
    token = _admin_token(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMITMENTS_")}
    env["COMMITMENTS_DATABASE_URL"] = url
    env |= {f"COMMITMENTS_{name.upper()}": value for name, value in settings.items()}
    for attempt in range(3):
        port = free_port()
        log = tmp_path / f"serve-{attempt}.log"
        with log.open("wb") as sink:  # a file, not a pipe: a full pipe blocks the server
            process = subprocess.Popen(
                [SCRIPT, "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            started = _wait_until_healthy(process, base, log)
        except BaseException:
            process.kill()
            process.wait(timeout=15)
            raise
        if started:
            break
    else:
        pytest.fail("no free port could be bound in 3 attempts")
    try:
        yield Server(base, token, url, log)
    finally:
        process.terminate()
        print(f"---- {log.name} ----\n{log.read_text()}")  # shown when the test failed
        try:
            status = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
            pytest.fail(f"server did not stop on SIGTERM within 15 s:\n{log.read_text()}")
    # A clean shutdown: the lifespan closed the services. Uvicorn exits by re-raising the
    # SIGTERM it handled, so the status is -SIGTERM (0 on older versions).
    assert status in (0, -signal.SIGTERM), log.read_text()
    assert "Application shutdown complete." in log.read_text()
