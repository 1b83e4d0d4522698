"""Real processes on one test database, stopped (and their logs printed) at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.bootstrap import Services
from tests.conftest import open_services
from tests.processes import admin_token
from tests.resilience.support import Launcher


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
