"""Fixtures shared by the integration, API and CLI tests.

Every test gets a database of its own: a copy of a migrated SQLite file, or a new
PostgreSQL database made from a migrated template (dropped afterwards). PostgreSQL
tests run when COMMITMENTS_TEST_POSTGRES_URL is set; with COMMITMENTS_REQUIRE_POSTGRES=1
a missing server fails them instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from adapters.event_store import open_tracker
from adapters.migrate import upgrade
from domain.tracker import Tracker

STORES = ["sqlite", "postgresql"]
# Only ever a local convenience: CI sets COMMITMENTS_REQUIRE_POSTGRES=1, which fails instead.
SKIP_WITHOUT_POSTGRES = "no PostgreSQL: set COMMITMENTS_TEST_POSTGRES_URL to run these"


def _admin_url() -> str | None:
    url = os.environ.get("COMMITMENTS_TEST_POSTGRES_URL")
    if url:
        return url
    if os.environ.get("COMMITMENTS_REQUIRE_POSTGRES") == "1":
        pytest.fail("COMMITMENTS_REQUIRE_POSTGRES=1 but COMMITMENTS_TEST_POSTGRES_URL is not set")
    pytest.skip(SKIP_WITHOUT_POSTGRES)


def _execute_autocommit(admin_url: str, statement: str) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


class PostgresDatabases:
    """Creates and drops throw-away databases on the test server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def url_of(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def create(self, template: str | None = None) -> str:
        name = f"commitments_test_{uuid.uuid4().hex[:12]}"
        clause = f" TEMPLATE {template}" if template else ""
        _execute_autocommit(self.admin_url, f"CREATE DATABASE {name}{clause}")
        self.created.append(name)
        return name

    def drop(self, name: str) -> None:
        _execute_autocommit(self.admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self.drop(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    admin_url = _admin_url()
    assert admin_url is not None
    try:
        _execute_autocommit(admin_url, "SELECT 1")
    except Exception as error:  # any connection failure
        if os.environ.get("COMMITMENTS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {admin_url} is required but unreachable: {error}")
        pytest.skip(f"{SKIP_WITHOUT_POSTGRES} (unreachable: {error})")
    databases = PostgresDatabases(admin_url)
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresDatabases) -> str:
    name = postgres.create()
    upgrade(postgres.url_of(name))
    return name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "commitments.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        postgres: PostgresDatabases = request.getfixturevalue("postgres")
        name = postgres.create(template=request.getfixturevalue("postgres_template"))
        yield postgres.url_of(name)
        postgres.drop(name)


@pytest.fixture
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An unmigrated database of the kind given by indirect parametrisation."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
    else:
        postgres: PostgresDatabases = request.getfixturevalue("postgres")
        name = postgres.create()
        yield postgres.url_of(name)
        postgres.drop(name)


@pytest.fixture
def tracker(database_url: str) -> Iterator[Tracker]:
    app = open_tracker(database_url)
    yield app
    app.close()


@pytest.fixture
def open_trackers(database_url: str) -> Iterator[list[Tracker]]:
    """For tests that need more Trackers (processes) on one database: append to close."""
    opened: list[Tracker] = []
    yield opened
    for app in opened:
        app.close()
