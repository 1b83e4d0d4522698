"""Real processes on one test database, stopped (and their logs printed) at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from adapters.bootstrap import Services
from tests.conftest import open_services
from tests.processes import (
    Process,
    Server,
    admin_token,
    start_scheduler,
    start_server,
    start_worker,
)


@dataclass
class Launcher:
    """Starts `commitments` processes on `url`; all of them are stopped at teardown."""

    url: str
    token: str
    folder: Path
    started: list[Process] = field(default_factory=list)

    def server(self, name: str = "serve", port: int | None = None, **settings: str) -> Server:
        # The scheduler runs as processes of its own here, where a test wants one.
        started = start_server(
            self.url, self.token, self.folder, name, port, **({"scheduler": "false"} | settings)
        )
        self.started.append(started.process)
        return started

    def worker(self, name: str = "project") -> Process:
        self.started.append(start_worker(self.url, self.folder, name))
        return self.started[-1]

    def scheduler(self, name: str = "scheduler") -> Process:
        self.started.append(start_scheduler(self.url, self.folder, name))
        return self.started[-1]

    def stop_all(self) -> None:
        for process in self.started:
            if process.running:
                process.popen.terminate()
        for process in self.started:
            process.stop()


@pytest.fixture
def launcher(seeded_url: str, tmp_path: Path) -> Iterator[Launcher]:
    launched = Launcher(seeded_url, admin_token(seeded_url), tmp_path)
    try:
        yield launched
    finally:
        launched.stop_all()
        for process in launched.started:  # shown when the test failed
            print(f"---- {process.log.name} ----\n{process.output()[-4000:]}")


@pytest.fixture
def direct(seeded_url: str) -> Iterator[Services]:
    """This test process's own services on the database: to prepare and to check."""
    services = open_services(seeded_url)
    yield services
    services.close()
