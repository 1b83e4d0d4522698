"""Readers on a real PostgreSQL streaming standby (COMMITMENTS_READ_DATABASE_URL).

The standby is a second cluster of this machine's PostgreSQL, made by `.ci/standby` with
`pg_basebackup -R` from the primary the other tests use; COMMITMENTS_TEST_STANDBY_URL
names it (`.ci/run` sets it). Writes go to the test's database on the primary; the app
reads lists, reports and feeds from the same database on the standby. To make the standby
lag on purpose, a test pauses its replay (pg_wal_replay_pause): no test waits on a clock.

Without the variable these tests skip, except under COMMITMENTS_REQUIRE_POSTGRES=1: then
they make the standby with `.ci/standby`, and fail if it cannot be made.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from adapters.database import Database, ReadOnly
from api import projection_reads
from api.cli import main
from tests.api.client import BASE, Api, problem, serving
from tests.api.test_write_api import NEW
from tests.conftest import PostgresDatabases
from tests.processes import wait_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("seeded_url", ["postgresql"], indirect=True),
]

STANDBY_VARIABLE = "COMMITMENTS_TEST_STANDBY_URL"
SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "standby"
# Replay of a few kilobytes of WAL takes milliseconds; this bounds a standby that is stuck.
REPLAY_SECONDS = 60
# Tests that pause the standby's replay hold this exclusively, the others shared: the
# standby is one for every test process on this machine.
REPLAY_LOCK = Path("/tmp/commitments-test-standby.lock")


@pytest.fixture(scope="session")
def standby_admin_url(postgres: PostgresDatabases) -> str:
    url = os.environ.get(STANDBY_VARIABLE)
    if not url:
        if os.environ.get("COMMITMENTS_REQUIRE_POSTGRES") != "1":
            pytest.skip(f"no standby: set {STANDBY_VARIABLE} (.ci/standby makes one)")
        ran = subprocess.run([str(SCRIPT)], capture_output=True, text=True, check=False)
        if ran.returncode != 0:
            pytest.fail(f"{STANDBY_VARIABLE} is not set and .ci/standby failed: {ran.stderr}")
        port = int(ran.stdout.strip())
        url = make_url(postgres.admin_url).set(port=port).render_as_string(hide_password=False)
    try:
        in_recovery = _scalar(url, "SELECT pg_is_in_recovery()")
    except DBAPIError as error:
        pytest.fail(f"the standby at {url} ({STANDBY_VARIABLE}) is unreachable: {error}")
    assert in_recovery, f"{url} is not a standby (pg_is_in_recovery() is false)"
    return url


def _engine(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT")


def _scalar(url: str, sql: str, **params: Any) -> Any:
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


class Standby:
    """The test database's copy on the standby, and its replay."""

    def __init__(self, primary_url: str, admin_url: str) -> None:
        self.primary_url = primary_url
        self.admin_url = admin_url
        database = make_url(primary_url).database
        self.url = make_url(admin_url).set(database=database).render_as_string(False)

    def caught_up(self) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        lsn = _scalar(self.primary_url, "SELECT pg_current_wal_lsn()::text")
        wait_for(
            lambda: _scalar(
                self.admin_url, "SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)", lsn=lsn
            ),
            timeout=REPLAY_SECONDS,
            what=f"the standby replays the primary's WAL to {lsn}",
        )

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Replay paused (WAL still arrives, and is replayed once resumed)."""
        _scalar(self.admin_url, "SELECT pg_wal_replay_pause()")
        try:
            wait_for(
                lambda: (
                    _scalar(self.admin_url, "SELECT pg_get_wal_replay_pause_state()") == "paused"
                ),
                timeout=REPLAY_SECONDS,
                what="the standby pauses its replay",
            )
            yield
        finally:
            _scalar(self.admin_url, "SELECT pg_wal_replay_resume()")


@contextmanager
def _replay_lock(exclusive: bool) -> Iterator[None]:
    with REPLAY_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield  # released when the file closes


def _standby(seeded_url: str, admin_url: str, *, exclusive: bool) -> Iterator[Standby]:
    with _replay_lock(exclusive):
        standby = Standby(seeded_url, admin_url)
        standby.caught_up()  # the test's database is there
        yield standby


@pytest.fixture
def standby(seeded_url: str, standby_admin_url: str) -> Iterator[Standby]:
    yield from _standby(seeded_url, standby_admin_url, exclusive=False)


@pytest.fixture
def pausable(seeded_url: str, standby_admin_url: str) -> Iterator[Standby]:
    """The standby, for a test that pauses its replay (no other test reads it meanwhile)."""
    yield from _standby(seeded_url, standby_admin_url, exclusive=True)


@contextmanager
def _reading_standby(standby: Standby, **overrides: Any) -> Iterator[Api]:
    # Public reads: the dashboard's pages need no sign-in.
    with serving(
        standby.primary_url, read_database_url=standby.url, public_read=True, **overrides
    ) as running:
        running.token("admin")
        assert running.services.replica is not None
        yield running


def _codes(api: Api, **params: Any) -> list[str]:
    response = api.get(BASE, params={"limit": 500} | params)
    assert response.status_code == 200, response.text
    return [item["code"] for item in response.json()["items"]]


def _report_codes(api: Api, **params: Any) -> list[str]:
    response = api.get("/api/v1/reports/progress", params=params)
    assert response.status_code == 200, response.text
    return [row["code"] for row in response.json()["commitments"]]


def test_reads_on_the_standby_see_the_writes_they_ask_for(standby: Standby) -> None:
    with _reading_standby(standby) as api:
        written = api.post(BASE, json=NEW)
        assert written.status_code == 201, written.text
        position = int(written.headers["X-Log-Position"])
        api.project()  # on the primary; the standby replays it
        listed = api.get(BASE, params={"min_position": position, "q": "PROS-HYDRO"})
        assert listed.status_code == 200, listed.text
        assert [i["code"] for i in listed.json()["items"]] == ["CMAP-PROS-HYDRO"]
        assert int(listed.headers["X-Log-Position"]) >= position
        assert "CMAP-PROS-HYDRO" in _report_codes(api, min_position=position)
        assert "CMAP-PROS-HYDRO" in _report_codes(api, at_position=position)
        read = api.get("/api/v1/events", params={"after": position - 1, "min_position": position})
        assert read.status_code == 200 and int(read.headers["X-Log-Position"]) >= position
        feed = read.json()
        assert [e["position"] for e in feed][:1] == [position]
        assert "CMAP-PROS-HYDRO" in api.get("/feeds/changes.atom").text
        assert "CMAP-PROS-HYDRO" in api.get("/").text
        ready = api.json("/readyz", who=None)
        assert ready["replica"] == {"position": ready["projection"]["position"], "lag": 0}


def test_a_lagging_standby_answers_503_with_retry_after(
    pausable: Standby, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(projection_reads, "MIN_POSITION_WAIT_SECONDS", 0.0)
    # With the follower running: it tells waiting readers the primary's position, which
    # must not count for readers of the standby.
    with _reading_standby(pausable, projector=True) as api, pausable.paused():
        # Writes go to the primary: a standby that replays nothing does not hold them up.
        written = api.post(BASE, json=NEW)
        assert written.status_code == 201, written.text
        position = int(written.headers["X-Log-Position"])
        wait_for(
            lambda: api.json("/readyz", who=None)["projection"]["lag"] == 0,
            timeout=REPLAY_SECONDS,
            what="the follower projects the write on the primary",
        )
        # The single commitment reads the primary: always current.
        assert api.commitment("CMAP-PROS-HYDRO")["code"] == "CMAP-PROS-HYDRO"
        behind = api.get(BASE, params={"min_position": position})
        detail = problem(behind, 503)
        assert "the read replica's projection is at position" in detail
        assert f"not yet {position}" in detail
        assert behind.headers["Retry-After"] == "1"
        # Without min_position, the standby answers with what it has: not the new one, in
        # the list, the report, the feeds or the dashboard.
        assert "CMAP-PROS-HYDRO" not in _codes(api)
        report = api.get("/api/v1/reports/progress")
        assert int(report.headers["X-Log-Position"]) < position
        assert "CMAP-PROS-HYDRO" not in [row["code"] for row in report.json()["commitments"]]
        assert api.json("/api/v1/events", params={"after": position - 1}) == []
        events = api.get("/api/v1/events", params={"after": position - 1, "min_position": position})
        assert f"not yet {position}" in problem(events, 503)
        assert "CMAP-PROS-HYDRO" not in api.get("/feeds/changes.atom").text
        assert "CMAP-PROS-HYDRO" not in api.get("/").text
        report = api.get("/api/v1/reports/progress", params={"at_position": position})
        assert "not yet" in problem(report, 503)
        assert report.headers["Retry-After"] == "1"
        # Beyond the primary's head too: that can never be reached (422, as without it).
        problem(api.get(BASE, params={"min_position": position + 1}), 422)
        ready = api.json("/readyz", who=None)
        assert ready["replica"]["lag"] >= 1
        assert ready["projection"]["lag"] == 0
        metrics = api.get("/metrics", who=None).text
        assert "commitments_replica_up 1.0" in metrics
        assert "commitments_projection_lag_events 0.0" in metrics
        assert "commitments_replica_lag_events 0.0" not in metrics
        assert "commitments_replica_lag_events " in metrics
    pausable.caught_up()
    with _reading_standby(pausable) as api:
        assert "CMAP-PROS-HYDRO" in _codes(api, min_position=position)


def test_nothing_writes_through_the_read_engine(standby: Standby) -> None:
    with _reading_standby(standby) as api:
        replica = api.services.replica
        assert replica is not None
        assert replica.reports.database is replica.database
        with pytest.raises(ReadOnly), replica.database.writing():
            pass
    # Read-only sessions on the server: even a read URL naming the primary cannot write.
    on_primary = Database(standby.primary_url, read_only=True)
    try:
        with (
            pytest.raises(DBAPIError, match="read-only transaction"),
            on_primary.reading() as connection,
        ):
            connection.execute(text("DELETE FROM projection_positions"))
    finally:
        on_primary.close()


def test_a_bad_read_database_is_one_line_at_start_up(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COMMITMENTS_DATABASE_URL", seeded_url)
    monkeypatch.setenv("COMMITMENTS_READ_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["serve", "--port", "1"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: COMMITMENTS_READ_DATABASE_URL: cannot read ")
    assert "127.0.0.1:1/none" in line


def test_a_read_database_that_is_not_a_copy_of_the_primary_is_refused(
    standby: Standby,
    postgres_template: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Another migrated database on the same standby (found from outside: `serve` took
    it, and listed commitments the primary does not have) is one line at start-up."""
    other = make_url(standby.admin_url).set(database=postgres_template)
    monkeypatch.setenv("COMMITMENTS_DATABASE_URL", standby.primary_url)
    monkeypatch.setenv("COMMITMENTS_READ_DATABASE_URL", other.render_as_string(False))
    assert main(["serve", "--port", "1"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: COMMITMENTS_READ_DATABASE_URL: ")
    assert "is not a replica of COMMITMENTS_DATABASE_URL" in line
    assert f"database '{postgres_template}'" in line
