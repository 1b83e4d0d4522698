"""The `commitments` console script, run as a user would: a real subprocess."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from adapters.event_store import engine_of, open_tracker
from adapters.projection import ReadModelProjection
from adapters.seeds import seed
from adapters.tokens import authenticate
from domain.access import Role

SCRIPT = shutil.which("commitments", path=str(Path(sys.executable).parent)) or "commitments"


def run(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("COMMITMENTS_")}
    environment.update(COMMITMENTS_DATABASE_URL=url, **env)
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, env=environment, timeout=120, check=False
    )


def ok(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    result = run(url, *args)
    assert result.returncode == 0, result.stderr
    return result


def one_line_error(result: subprocess.CompletedProcess[str], status: int = 1) -> str:
    assert result.returncode == status, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgresql"], indirect=True)
def test_migrate_seed_show_history_and_token(empty_database_url: str) -> None:
    url = empty_database_url
    assert "commitments migrate" in one_line_error(run(url, "show", "CMAP-PROS-RAIL"))
    ok(url, "migrate")
    first = ok(url, "seed", "--demo")
    assert re.search(r"commitments: [1-9]\d* registered", first.stderr), first.stderr
    history_before = json.loads(ok(url, "history", "CMAP-PROS-RAIL").stdout)
    again = ok(url, "seed", "--demo")
    assert "0 registered" in again.stderr and "0 applied" in again.stderr
    history = json.loads(ok(url, "history", "CMAP-PROS-RAIL").stdout)
    assert history == history_before and len(history) > 5

    state: dict[str, Any] = json.loads(ok(url, "show", "CMAP-PROS-RAIL").stdout)
    assert state["code"] == "CMAP-PROS-RAIL" and state["version"] == len(history)
    v1 = json.loads(ok(url, "show", "CMAP-PROS-RAIL", "--version", "1").stdout)
    assert (v1["version"], v1["status"]) == (1, "not_started")
    early = json.loads(ok(url, "show", state["id"], "--as-of", "2025-10-01").stdout)
    assert early["progress"] is None
    seed_time = history[0]["recorded_at"]
    known = json.loads(ok(url, "show", "CMAP-PROS-RAIL", "--known-at", seed_time).stdout)
    assert known["version"] >= 1 and known["title"] == state["title"]

    token = ok(url, "token", "create", "--name", "ana.mx", "--role", "editor", "--party", "MX")
    assert token.stdout.count("\n") == 1 and token.stdout.startswith("cmt_")
    tracker = open_tracker(url)
    try:
        principal = authenticate(engine_of(tracker), token.stdout.strip())
    finally:
        tracker.close()
    assert principal is not None
    assert (principal.name, principal.role, principal.party) == ("ana.mx", Role.EDITOR, "MX")


def test_bootstrap_prints_an_admin_token_once(database_url: str) -> None:
    first = ok(database_url, "token", "bootstrap")
    assert first.stdout.startswith("cmt_")
    second = ok(database_url, "token", "bootstrap")
    assert second.stdout == "" and "exists already" in second.stderr


@pytest.fixture(scope="module")
def seeded_sqlite_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("cli") / "seeded.sqlite"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    tracker = open_tracker(url)
    try:
        seed(tracker)
    finally:
        tracker.close()
    return url


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["bogus"], 2, "No such command"),
        (["show"], 2, "Missing argument"),
        (["show", "CMAP-PROS-RAIL", "--as-of", "2025-13-01"], 1, "--as-of must be a date"),
        (["show", "CMAP-PROS-RAIL", "--known-at", "yesterday"], 1, "--known-at must be"),
        (["show", "CMAP-NOT-HERE"], 1, "no commitment CMAP-NOT-HERE"),
        (["show", "CMAP-GOV-EVAL", "--version", "999"], 1, "no version 999"),
        (["token", "create", "--name", "x", "--role", "root"], 2, "--role"),
        (["token", "create", "--name", "x", "--role", "editor", "--party", "Mexico"], 1, "alpha-2"),
    ],
)
def test_user_errors_are_one_line_on_stderr(
    seeded_sqlite_url: str, args: list[str], status: int, message: str
) -> None:
    assert message in one_line_error(run(seeded_sqlite_url, *args), status)


def test_configuration_errors_are_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    assert "unsupported database" in one_line_error(run("mysql://localhost/x", "migrate"))
    bad_flag = run(url, "migrate", COMMITMENTS_PUBLIC_READ="maybe")
    assert "COMMITMENTS_PUBLIC_READ" in one_line_error(bad_flag)
    unreachable = run("postgresql+psycopg://nobody@127.0.0.1:1/none", "show", "X")
    assert "database error" in one_line_error(unreachable)


def test_project_once_rebuild_and_follow(database_url: str) -> None:
    ok(database_url, "seed", "--demo")
    once = ok(database_url, "project", "--once")
    assert re.search(r"projection at position (\d+) \(head \1\)", once.stderr), once.stderr
    tracker = open_tracker(database_url)
    try:
        projection = ReadModelProjection(tracker)
        head = projection.head()
        assert projection.position() == head
        rebuilt = ok(database_url, "project", "--rebuild", "--once")
        assert "wiped" in rebuilt.stderr and projection.position() == head
    finally:
        tracker.close()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("COMMITMENTS_")}
    follower = subprocess.Popen(
        [SCRIPT, "project"],
        env=environment | {"COMMITMENTS_DATABASE_URL": database_url},
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2)
    follower.send_signal(signal.SIGTERM)
    _, stderr = follower.communicate(timeout=30)
    assert follower.returncode == 0, stderr
    assert "following the log" in stderr and "stopped at position" in stderr


def test_verify_export_and_import_through_the_cli(database_url: str, tmp_path: Path) -> None:
    ok(database_url, "seed", "--demo")
    verified = json.loads(ok(database_url, "verify").stdout)
    assert verified["verified"] and verified["events"] > 100
    log = tmp_path / "log.jsonl"
    exported = ok(database_url, "export", "--out", str(log))
    assert f"exported {verified['events']} events" in exported.stderr

    target = f"sqlite:///{tmp_path / 'restored.sqlite'}"  # also across database kinds
    ok(target, "migrate")
    imported = ok(target, "import", str(log))
    assert "projections rebuilt" in imported.stderr
    restored = json.loads(ok(target, "verify").stdout)
    assert (restored["head_position"], restored["chain_head"]) == (
        verified["head_position"],
        verified["chain_head"],
    )
    assert "not empty" in one_line_error(run(target, "import", str(log)))
    history = json.loads(ok(target, "history", "CMAP-PROS-RAIL").stdout)
    assert history == json.loads(ok(database_url, "history", "CMAP-PROS-RAIL").stdout)
    assert all(len(h["hash"]) == 64 for h in history)

    damaged = tmp_path / "damaged.jsonl"
    lines = log.read_text().splitlines()
    lines[7] = lines[7].replace('"originator_version":', '"originator_version":7')
    damaged.write_text("\n".join(lines) + "\n")
    empty = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    ok(empty, "migrate")
    assert "line 8" in one_line_error(run(empty, "import", str(damaged)))
    assert "cannot read" in one_line_error(run(empty, "import", str(tmp_path / "missing.jsonl")))


def test_verify_fails_on_a_tampered_log(seeded_sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "tampered.sqlite"
    # The backup API, not a file copy: recent pages may still be in the WAL file.
    source = sqlite3.connect(seeded_sqlite_url.removeprefix("sqlite:///"))
    with source, sqlite3.connect(path) as copy:
        source.backup(copy)
    url = f"sqlite:///{path}"
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE event_chain SET hash = ? WHERE position = 9", ("f" * 64,))
    result = run(url, "verify")
    assert json.loads(result.stdout)["first_bad_position"] == 9
    assert "does not verify at position 9" in one_line_error(result)


def test_report_schedule_and_verify_report(database_url: str, tmp_path: Path) -> None:
    ok(database_url, "seed", "--demo")
    first = tmp_path / "first.xlsx"
    again = tmp_path / "again.xlsx"
    made = ok(
        database_url,
        "report",
        "--format",
        "xlsx",
        "--as-of",
        "2026-06-30",
        "--at-position",
        "120",
        "--out",
        str(first),
    )
    assert "at log position 120" in made.stderr
    ok(
        database_url,
        "schedule",
        "add",
        "--name",
        "weekly",
        "--cron",
        "0 7 * * 1",
        "--format",
        "html",
        "--format",
        "csv",
        "--timezone",
        "America/Toronto",
    )
    ok(
        database_url,
        "report",
        "--format",
        "xlsx",
        "--as-of",
        "2026-06-30",
        "--at-position",
        "120",
        "--out",
        str(again),
    )
    assert first.read_bytes() == again.read_bytes()  # the schedule event came later
    checked = json.loads(ok(database_url, "verify", "--report", str(first)).stdout)
    assert checked["report"] == {
        "file": str(first),
        "log_position": 120,
        "chain_head": checked["report"]["chain_head"],
        "matches_log": True,
    }
    markdown = ok(database_url, "report", "--format", "md").stdout
    assert markdown.startswith("# Canada-Mexico Action Plan")
    schedules = json.loads(ok(database_url, "schedule", "list").stdout)
    assert [(s["name"], s["formats"]) for s in schedules] == [("weekly", ["csv", "html"])]
    ok(database_url, "schedule", "remove", "weekly")
    assert json.loads(ok(database_url, "schedule", "list").stdout) == []
    assert "already removed" in one_line_error(run(database_url, "schedule", "remove", "weekly"))
    assert "no schedule" in one_line_error(run(database_url, "schedule", "remove", "never"))
    assert "5 fields" in one_line_error(
        run(database_url, "schedule", "add", "--name", "x", "--cron", "daily", "--format", "md")
    )
    assert "unknown report format" in one_line_error(run(database_url, "report", "--format", "pdf"))
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({"footer": {"log_position": 10, "chain_head": "0" * 64}}))
    assert "does not match the log" in one_line_error(
        run(database_url, "verify", "--report", str(forged))
    )
