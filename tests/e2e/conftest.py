"""A real `commitments serve` process on a free port, for end-to-end and browser tests.

The server starts on a copy of the seeded database (`seeded_url`: SQLite unless a test
parametrizes it indirectly with "postgresql"), with an admin token made in-process.
Starting and stopping processes: tests/processes.py.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.processes import Server, admin_token, start_server


@pytest.fixture
def server(seeded_url: str, tmp_path: Path) -> Iterator[Server]:
    started = start_server(seeded_url, admin_token(seeded_url), tmp_path)
    try:
        yield started
    finally:
        print(f"---- {started.log.name} ----\n{started.process.output()}")  # shown on failure
        status = started.process.stop()
    # A clean shutdown: the lifespan closed the services. Uvicorn exits by re-raising the
    # SIGTERM it handled, so the status is -SIGTERM (0 on older versions).
    assert status in (0, -signal.SIGTERM), started.process.output()
    assert "Application shutdown complete." in started.process.output()


@contextmanager
def serve(url: str, folder: Path, **settings: str) -> Iterator[Server]:
    """`commitments serve` on `url` for the block, with COMMITMENTS_<NAME> settings given
    as name=value (e.g. auth_failure_limit="off")."""
    started = start_server(url, admin_token(url), folder, "serve", None, **settings)
    try:
        yield started
    finally:
        started.process.stop()
