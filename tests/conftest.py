"""Fixtures shared by every layer of tests.

Every test gets a database of its own, copied from a template made once per session: a
migrated SQLite file, or a PostgreSQL database made with CREATE DATABASE ... TEMPLATE
(dropped afterwards). `seeded_*` templates also hold the seeds (with the sample history)
and their read models, so a test that needs the Action Plan does not seed it again.
PostgreSQL tests run when COMMITMENTS_TEST_POSTGRES_URL is set; with
COMMITMENTS_REQUIRE_POSTGRES=1 a missing server fails them instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from adapters.bootstrap import Services, bootstrap
from adapters.migrate import upgrade
from adapters.seeds import seed
from adapters.settings import Settings
from domain.tracker import Tracker

STORES = ["sqlite", "postgresql"]
# Only ever a local convenience: CI sets COMMITMENTS_REQUIRE_POSTGRES=1, which fails instead.
SKIP_WITHOUT_POSTGRES = "no PostgreSQL: set COMMITMENTS_TEST_POSTGRES_URL to run these"


def settings(url: str, **overrides: Any) -> Settings:
    """Settings for a test process: no follower or scheduler threads unless asked for."""
    values: dict[str, Any] = {
        "public_read": False,
        "scheduler": False,
        "projector": False,
        "webhooks": False,
    }
    values |= overrides
    return Settings(database_url=url, **values)


def open_services(url: str, **overrides: Any) -> Services:
    return bootstrap(settings(url, **overrides))


def memory_tracker() -> Tracker:
    """The Tracker on the library's plain-old-Python-objects persistence (no database)."""
    return Tracker(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


# ---- PostgreSQL ---------------------------------------------------------------------------


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


def _seeded(url: str) -> None:
    services = open_services(url)
    try:
        seed(services.unit_of_work, services.tracker, demo=True)
        services.projection.catch_up()
    finally:
        services.close()


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresDatabases) -> str:
    name = postgres.create()
    upgrade(postgres.url_of(name))
    return name


@pytest.fixture(scope="session")
def postgres_seeded_template(postgres: PostgresDatabases, postgres_template: str) -> str:
    name = postgres.create(template=postgres_template)
    _seeded(postgres.url_of(name))
    return name


# ---- SQLite -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def sqlite_seeded_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seeded") / "seeded.sqlite"
    shutil.copyfile(sqlite_template, path)
    _seeded(f"sqlite:///{path}")
    return path


def _copy_sqlite(template: Path, tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


# ---- databases for one test ------------------------------------------------------------------


def _database(request: pytest.FixtureRequest, tmp_path: Path, *, seeded: bool) -> Iterator[str]:
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        seeded_or_not = "sqlite_seeded_template" if seeded else "sqlite_template"
        template = request.getfixturevalue(seeded_or_not)
        # A file of its own per fixture: a test may use two of them.
        name = f"{request.fixturename}.sqlite"
        yield _copy_sqlite(template, tmp_path, name)
        return
    postgres: PostgresDatabases = request.getfixturevalue("postgres")
    name = postgres.create(
        template=request.getfixturevalue(
            "postgres_seeded_template" if seeded else "postgres_template"
        )
    )
    yield postgres.url_of(name)
    postgres.drop(name)


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind (parametrize indirectly for one kind)."""
    yield from _database(request, tmp_path, seeded=False)


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty SQLite database."""
    yield from _database(request, tmp_path, seeded=False)


@pytest.fixture
def seeded_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database holding the seeds, the sample history and their read models: SQLite
    unless parametrized indirectly with "postgresql"."""
    yield from _database(request, tmp_path, seeded=True)


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
def services(database_url: str) -> Iterator[Services]:
    """The services of one process on `database_url` (no background threads)."""
    built = open_services(database_url)
    yield built
    built.close()


@pytest.fixture
def more_services(database_url: str) -> Iterator[list[Services]]:
    """For tests that need more processes' services on one database: append to close."""
    opened: list[Services] = []
    yield opened
    for built in opened:
        built.close()
