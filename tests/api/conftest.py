"""The HTTP layer's fixture: the app (no follower, no scheduler threads) on the test's own
copy of the seeded database (`seeded_url`: the Action Plan, the sample history and their
read models).

FastAPI builds the state of every route on an app's first request, which costs more than
most of these tests. So each worker makes its app once, with `create_app(settings(url))`
for a path that is a symbolic link, and before each test points the link at that test's
`seeded_url` file; the app's lifespan then builds the services on it, and closes them
after the test. (SQLite names a database's -wal and -shm files after the link's target,
so nothing of one test's database is shared with another's.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from api.app import create_app
from tests.api.client import Api
from tests.conftest import settings


class _Served:
    """This worker's app, on a path that each test links to its own database."""

    def __init__(self, folder: Path) -> None:
        self.link = folder / "commitments.sqlite"
        self.app: FastAPI = create_app(settings(f"sqlite:///{self.link}"))

    def point_at(self, url: str) -> None:
        target = make_url(url).database
        assert target is not None and Path(target).is_file()
        staged = self.link.with_name("staged-link")
        staged.unlink(missing_ok=True)
        staged.symlink_to(target)
        os.replace(staged, self.link)


@pytest.fixture(scope="session")
def _served(tmp_path_factory: pytest.TempPathFactory) -> _Served:
    return _Served(tmp_path_factory.mktemp("served"))


@pytest.fixture
def api(_served: _Served, seeded_url: str) -> Iterator[Api]:
    """The app on this test's database (SQLite), holding the seeds and sample history."""
    _served.point_at(seeded_url)
    with TestClient(_served.app) as client:
        yield Api(_served.app, client, seeded_url)
