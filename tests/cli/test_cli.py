"""The `commitments` command line.

Most scenarios run in-process: `api.cli.main(argv)` returns the exit status and the test
reads stdout and stderr with capsys (capsysbinary where a command writes bytes). A few
smoke tests at the end run the installed console script as a real subprocess, as a user
would: on an empty database, a user error, and `commitments project` following the log
until SIGTERM.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest

from adapters.history import event_feed
from adapters.read_models import ListFilters, list_commitments
from adapters.reports.data import ReportInputs
from adapters.reports.verification import read_recorded
from adapters.tokens import authenticate
from api.cli import main
from domain.access import Role
from domain.checkpoint import Note, Signer, Verifier, verified_by
from domain.commands import LogProgress
from tests.conftest import open_services
from tests.support import registration, write
from tests.tampering import truncate

SCRIPT = shutil.which("commitments", path=str(Path(sys.executable).parent)) or "commitments"
SETTINGS = (
    "COMMITMENTS_DATABASE_URL",
    "COMMITMENTS_PUBLIC_READ",
    "COMMITMENTS_SCHEDULER",
    "COMMITMENTS_PROJECTOR",
    "COMMITMENTS_SIGNING_KEY_FILE",
    "COMMITMENTS_OPERATOR_KEY",
    "COMMITMENTS_WITNESS_KEYS",
    "COMMITMENTS_LOG_ORIGIN",
    "COMMITMENTS_CHECKPOINT_SECONDS",
    "COMMITMENTS_AUTH_FAILURE_LIMIT",
)
RAIL = "CMAP-PROS-RAIL"
OPERATOR = Signer.generate("tracker.example/operator")


# ---- running the CLI in-process --------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    status: int
    stdout: bytes
    err: str

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.stdout)


class Cli:
    """`main(argv)` on a database URL, with stdout and stderr captured."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capture: Any) -> None:
        self.monkeypatch = monkeypatch
        self.capture = capture
        for name in SETTINGS:
            monkeypatch.delenv(name, raising=False)

    def __call__(self, url: str, *args: str, **env: str) -> Ran:
        self.capture.readouterr()  # start clean
        with self.monkeypatch.context() as patch:
            patch.setenv("COMMITMENTS_DATABASE_URL", url)
            for name, value in env.items():
                patch.setenv(name, value)
            status = main(list(args))
        out, err = self.capture.readouterr()
        return Ran(
            status,
            out if isinstance(out, bytes) else out.encode("utf-8"),
            err.decode("utf-8") if isinstance(err, bytes) else err,
        )

    def ok(self, url: str, *args: str) -> Ran:
        ran = self(url, *args)
        assert ran.status == 0, ran.err
        assert "error" not in ran.err.lower(), ran.err
        return ran


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(monkeypatch, capsys)


@pytest.fixture
def cli_bytes(monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]) -> Cli:
    """For commands that write bytes to stdout (an xlsx report)."""
    return Cli(monkeypatch, capsysbinary)


@pytest.fixture
def keep_sigterm() -> Iterator[None]:
    """`commitments project` installs a SIGTERM handler: give the test process its own back."""
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


def one_line_error(ran: Ran, status: int = 1) -> str:
    assert ran.status == status, (ran.status, ran.out, ran.err)
    assert "Traceback" not in ran.err
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), ran.err
    return lines[0]


def projected_codes(url: str) -> list[str]:
    services = open_services(url)
    try:
        with services.database.reading() as connection:
            page, _ = list_commitments(
                connection, ListFilters(), today=date(2026, 6, 30), limit=500
            )
    finally:
        services.close()
    return [item["code"] for item in page]


# ---- migrate, seed, show, history, tokens ----------------------------------------------------


def test_migrate_then_seed_twice_changes_nothing_the_second_time(
    cli: Cli, empty_database_url: str
) -> None:
    url = empty_database_url
    assert "commitments migrate" in one_line_error(cli(url, "show", RAIL))
    migrated = cli.ok(url, "migrate")
    assert re.search(r"migrated from empty to \w+", migrated.err), migrated.err
    assert "nothing to do" in cli.ok(url, "migrate").err

    first = cli.ok(url, "seed", "--demo")
    registered = re.search(r"commitments: (\d+) registered, 0 already there", first.err)
    assert registered and int(registered.group(1)) > 0, first.err
    assert re.search(r"sample histories: [1-9]\d* applied", first.err), first.err
    history_before = cli.ok(url, "history", RAIL).json()

    again = cli.ok(url, "seed", "--demo")
    assert f"0 registered, {registered.group(1)} already there" in again.err, again.err
    assert "0 applied" in again.err
    history = cli.ok(url, "history", RAIL).json()
    assert history == history_before and len(history) > 5
    assert [h["position"] for h in history] == sorted(h["position"] for h in history)


def test_show_now_at_a_version_as_of_a_date_and_as_known_at_a_time(
    cli: Cli, seeded_url: str
) -> None:
    history = cli.ok(seeded_url, "history", RAIL).json()
    state = cli.ok(seeded_url, "show", RAIL).json()
    assert state["code"] == RAIL and state["version"] == len(history)

    v1 = cli.ok(seeded_url, "show", RAIL, "--version", "1").json()
    assert (v1["version"], v1["status"], v1["progress"]) == (1, "not_started", None)
    early = cli.ok(seeded_url, "show", state["id"], "--as-of", "2025-10-01").json()
    assert early["code"] == RAIL and early["progress"] is None
    assert state["progress"] is not None

    registered_at = history[0]["recorded_at"]
    known = cli.ok(seeded_url, "show", RAIL, "--known-at", registered_at).json()
    assert known["title"] == state["title"]
    # As recorded then: the events recorded up to that time, not the sample history after.
    recorded_by_then = [h for h in history if h["recorded_at"] <= registered_at]
    assert known["version"] == len(recorded_by_then) < state["version"]


def test_token_create_prints_one_token_that_authenticates(cli: Cli, sqlite_url: str) -> None:
    created = cli.ok(
        sqlite_url, "token", "create", "--name", "ana.mx", "--role", "editor", "--party", "MX"
    )
    assert created.out.count("\n") == 1 and created.out.startswith("cmt_")
    services = open_services(sqlite_url)
    try:
        principal = authenticate(services.database, created.out.strip())
        assert authenticate(services.database, created.out.strip() + "x") is None
    finally:
        services.close()
    assert principal is not None
    assert (principal.name, principal.role, principal.party) == ("ana.mx", Role.EDITOR, "MX")


def test_bootstrap_prints_an_admin_token_once(cli: Cli, sqlite_url: str) -> None:
    first = cli.ok(sqlite_url, "token", "bootstrap")
    assert first.out.startswith("cmt_") and first.out.count("\n") == 1
    second = cli.ok(sqlite_url, "token", "bootstrap")
    assert second.out == "" and "exists already" in second.err
    services = open_services(sqlite_url)
    try:
        principal = authenticate(services.database, first.out.strip())
    finally:
        services.close()
    assert principal is not None
    assert (principal.name, principal.role, principal.party) == ("admin", Role.ADMIN, None)


def test_tokens_are_listed_without_secrets_and_revoked_by_name(cli: Cli, sqlite_url: str) -> None:
    secret = cli.ok(
        sqlite_url, "token", "create", "--name", "Ana.MX", "--role", "editor", "--party", "MX"
    ).out.strip()
    viewer = cli.ok(sqlite_url, "token", "create", "--name", "vera", "--role", "viewer")
    assert "no expiry" in viewer.err and "vera#" in viewer.err
    listed = cli.ok(sqlite_url, "token", "list")
    assert secret not in listed.out and "hash" not in listed.out
    tokens = listed.json()
    assert [(t["name"], t["role"], t["party"], t["status"]) for t in tokens] == [
        ("Ana.MX", "editor", "MX", "active"),
        ("vera", "viewer", None, "active"),
    ]
    assert tokens[0]["actor"] == f"Ana.MX#{tokens[0]['id'][:8]}"
    revoked = cli.ok(sqlite_url, "token", "revoke", "ana.mx", "--reason", "left")
    assert "revoked" in revoked.err
    assert [t["status"] for t in cli.ok(sqlite_url, "token", "list").json()] == [
        "revoked",
        "active",
    ]
    again = cli(sqlite_url, "token", "revoke", tokens[0]["id"])
    assert "revoked already" in one_line_error(again)
    services = open_services(sqlite_url)
    try:
        assert authenticate(services.database, secret) is None
        feed = event_feed(services.database, services.tracker, after=0, limit=100)
        history = [(e["type"], e["actor"]) for e in feed]
    finally:
        services.close()
    assert history == [
        ("ApiToken.Issued", "cli"),
        ("ApiToken.Issued", "cli"),
        ("ApiToken.Revoked", "cli"),
    ]


def test_a_token_can_expire(cli: Cli, sqlite_url: str) -> None:
    made = cli.ok(
        sqlite_url, "token", "create", "--name", "temp", "--role", "viewer", "--expires", "30d"
    )
    secret = made.out.strip()
    [token] = cli.ok(sqlite_url, "token", "list").json()
    expires = datetime.fromisoformat(token["expires_at"])
    assert timedelta(days=29, hours=23) < expires - datetime.now(UTC) <= timedelta(days=30)
    dated = cli.ok(
        sqlite_url,
        "token",
        "create",
        "--name",
        "dated",
        "--role",
        "viewer",
        "--expires",
        "2100-01-01",
    )
    assert "until 2100-01-01T00:00:00+00:00" in dated.err
    services = open_services(sqlite_url)
    try:
        assert authenticate(services.database, secret, expires - timedelta(seconds=1)) is not None
        assert authenticate(services.database, secret, expires) is None
    finally:
        services.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "taken", "--role", "viewer"], "'taken' is taken: token taken#"),
        (["--name", "TAKEN", "--role", "admin"], "'TAKEN' is taken"),
        (["--name", "seed", "--role", "admin"], "reserved"),
        (["--name", "sample-data", "--role", "viewer"], "reserved"),
        (["--name", "schedule:weekly", "--role", "viewer"], "letters, digits"),
        (["--name", "ed", "--role", "editor"], "editor token needs a party"),
        (["--name", "ed", "--role", "viewer", "--expires", "soon"], "--expires must be"),
        (["--name", "ed", "--role", "viewer", "--expires", "2020-01-01"], "not in the future"),
    ],
)
def test_refused_tokens_are_one_line_and_leave_nothing(
    cli: Cli, sqlite_url: str, args: list[str], message: str
) -> None:
    cli.ok(sqlite_url, "token", "create", "--name", "taken", "--role", "viewer")
    ran = cli(sqlite_url, "token", "create", *args)
    assert message in one_line_error(ran) and ran.out == ""
    assert [t["name"] for t in cli.ok(sqlite_url, "token", "list").json()] == ["taken"]


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["bogus"], 2, "No such command"),
        (["show"], 2, "Missing argument"),
        (["show", RAIL, "--version", "0"], 2, "--version"),
        (["show", RAIL, "--as-of", "2025-13-01"], 1, "--as-of must be a date"),
        (["show", RAIL, "--known-at", "yesterday"], 1, "--known-at must be"),
        (["show", "CMAP-NOT-HERE"], 1, "no commitment CMAP-NOT-HERE"),
        (["show", "CMAP-GOV-EVAL", "--version", "999"], 1, "no version 999"),
        (["history", "CMAP-NOT-HERE"], 1, "no commitment CMAP-NOT-HERE"),
        (["token", "create", "--name", "x", "--role", "root"], 2, "--role"),
        (["token", "create", "--name", "x", "--role", "editor", "--party", "Mexico"], 1, "alpha-2"),
        (["report", "--format", "pdf"], 1, "unknown report format"),
        (["report", "--as-of", "someday"], 1, "--as-of must be a date"),
        (["report", "--at-position", "999999"], 1, "at_position must be from 0 to"),
        (["verify", "--report", "/nonexistent/report.md"], 1, "cannot read"),
        (["export", "--out", "/nonexistent/dir/log.jsonl"], 1, "/nonexistent/dir/log.jsonl"),
    ],
)
def test_user_errors_are_one_line_on_stderr(
    cli: Cli, seeded_url: str, args: list[str], status: int, message: str
) -> None:
    ran = cli(seeded_url, *args)
    assert message in one_line_error(ran, status)
    assert ran.out == ""


def test_configuration_errors_are_one_line(cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    assert "unsupported database" in one_line_error(cli("mysql://localhost/x", "migrate"))
    assert "not a database URL" in one_line_error(cli("::not a url::", "migrate"))
    bad_flag = cli(url, "migrate", COMMITMENTS_PUBLIC_READ="maybe")
    assert "COMMITMENTS_PUBLIC_READ" in one_line_error(bad_flag)
    unreachable = cli("postgresql+psycopg://nobody@127.0.0.1:1/none", "show", "X")
    assert "database error" in one_line_error(unreachable)
    assert not (tmp_path / "x.sqlite").exists()  # refused before anything was made


def test_serve_on_a_taken_address_is_one_line(cli: Cli, seeded_url: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        ran = cli(seeded_url, "serve", "--port", port)
    assert f"cannot listen on 127.0.0.1:{port}" in one_line_error(ran)


# ---- verify, export, import ------------------------------------------------------------------


def test_verify_reports_the_chain(cli: Cli, seeded_url: str) -> None:
    verified = cli.ok(seeded_url, "verify").json()
    assert verified["verified"] is True and verified["events"] > 100
    assert verified["head_position"] == verified["events"]
    assert re.fullmatch(r"[0-9a-f]{64}", verified["chain_head"])
    assert (verified["first_bad_position"], verified["problem"]) == (None, None)


def test_verify_fails_on_a_tampered_log(cli: Cli, seeded_url: str) -> None:
    with sqlite3.connect(seeded_url.removeprefix("sqlite:///")) as connection:
        connection.execute("UPDATE event_chain SET hash = ? WHERE position = 9", ("f" * 64,))
    connection.close()
    ran = cli(seeded_url, "verify")
    summary = ran.json()
    assert (summary["verified"], summary["first_bad_position"]) == (False, 9)
    assert "does not verify at position 9" in one_line_error(ran)


@pytest.mark.parametrize("seeded_url", ["postgresql"], indirect=True)
def test_export_and_import_across_database_kinds(cli: Cli, seeded_url: str, tmp_path: Path) -> None:
    """PostgreSQL to SQLite: positions, hashes, histories, archived reports and the signed
    checkpoints with their cosignatures survive the trip."""
    key = tmp_path / "operator.key"
    key.write_text(OPERATOR.encode())
    witness = Signer.generate("mx/witness", "cosignature")
    signing = {"signing_key_file": str(key), "witness_keys": (witness.verifier().encode(),)}
    services = open_services(seeded_url, **signing)
    try:
        inputs = ReportInputs(services.reports.head(), date(2026, 9, 30), 30)
        archived = services.reports.archive(inputs, ["md", "json"], generated_by="t")
        signed = services.checkpoints.latest()  # signed with the archiving
        body = signed.note.body
        services.checkpoints.cosign(
            signed.note.with_signature(witness.sign(body, timestamp=1_800_000_000)).text()
        )
        cosigned = services.checkpoints.latest().note.text()
    finally:
        services.close()
    verified = cli.ok(seeded_url, "verify").json()
    log = tmp_path / "log.jsonl"
    exported = cli.ok(seeded_url, "export", "--out", str(log))
    assert (
        f"exported {verified['events']} events up to position {verified['head_position']}, "
        f"chain head {verified['chain_head']}"
    ) in exported.err

    target = f"sqlite:///{tmp_path / 'restored.sqlite'}"
    cli.ok(target, "migrate")
    imported = cli.ok(target, "import", str(log))
    assert f"imported {verified['events']} events" in imported.err
    assert "projections rebuilt" in imported.err
    restored = cli.ok(target, "verify").json()
    assert restored == verified
    history = cli.ok(target, "history", RAIL).json()
    assert history == cli.ok(seeded_url, "history", RAIL).json()
    assert all(len(h["hash"]) == 64 for h in history)
    assert projected_codes(target) == projected_codes(seeded_url)  # read models rebuilt

    assert "not empty" in one_line_error(cli(target, "import", str(log)))
    assert "1 archived reports and 1 signed checkpoints" in imported.err
    # The archived report came along: it is served, reproduced and verified there, under
    # the checkpoint and cosignature signed before the export.
    restored_services = open_services(target, **signing)
    try:
        [listed] = restored_services.reports.list()[0]
        assert listed == archived
        assert restored_services.checkpoints.latest().note.text() == cosigned
        for fmt in archived["formats"]:
            content = restored_services.reports.reproduce(archived["id"], fmt).content
            checked = restored_services.reports.check(content)
            assert checked["verified"], checked
            assert checked["checkpoint"]["cosigned_by"] == ["mx/witness"]
    finally:
        restored_services.close()

    empty = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    cli.ok(empty, "migrate")
    damaged = tmp_path / "damaged.jsonl"
    lines = log.read_text().splitlines()
    lines[7] = lines[7].replace('"originator_version":', '"originator_version":7', 1)
    damaged.write_text("\n".join(lines) + "\n")
    assert "line 8" in one_line_error(cli(empty, "import", str(damaged)))
    assert "cannot read" in one_line_error(cli(empty, "import", str(tmp_path / "missing.jsonl")))
    assert cli.ok(empty, "verify").json()["events"] == 0  # nothing half-imported


# ---- reports and schedules -------------------------------------------------------------------


def test_report_reproduce_and_verify_by_content(
    cli_bytes: Cli, seeded_url: str, tmp_path: Path
) -> None:
    services = open_services(seeded_url)
    try:
        inputs = services.reports.inputs(
            at_position=120, as_of=date(2026, 6, 30), period_days=14, today=date(2026, 7, 1)
        )
        archived = services.reports.archive(inputs, ["xlsx", "md"], generated_by="test")
        assert archived is not None
        xlsx = services.reports.artefact(archived["id"], "xlsx")
        chain_head = services.reports.chain_head_at(120)
    finally:
        services.close()

    # An archived report, by its id: its own inputs, its archived bytes.
    made = cli_bytes.ok(seeded_url, "report", "--format", "xlsx", "--reproduce", archived["id"])
    assert made.stdout == xlsx.content
    assert (
        f"xlsx archived report {archived['id']} as of 2026-06-30 at log position 120, "
        f"sha256 {xlsx.sha256}"
    ) in made.err
    assert "give no others" in one_line_error(
        cli_bytes(seeded_url, "report", "--reproduce", archived["id"], "--at-position", "1")
    )
    assert "not archived as csv" in one_line_error(
        cli_bytes(seeded_url, "report", "--format", "csv", "--reproduce", archived["id"])
    )

    # Writes after the position change nothing in the report.
    cli_bytes.ok(
        seeded_url, "schedule", "add", "--name", "weekly", "--cron", "0 7 * * 1", "--format", "md"
    )
    first = tmp_path / "first.xlsx"
    cli_bytes.ok(
        seeded_url,
        "report",
        "--format",
        "xlsx",
        "--as-of",
        "2026-06-30",
        "--period-days",
        "14",
        "--at-position",
        "120",
        "--out",
        str(first),
    )
    assert first.read_bytes() == xlsx.content

    checked = cli_bytes.ok(seeded_url, "verify", "--report", str(first)).json()["report"]
    assert checked["file"] == str(first) and checked["format"] == "xlsx"
    assert (checked["verified"], checked["matches_content"], checked["matches_log"]) == (
        True,
        True,
        True,
    )
    assert checked["recorded"]["chain_head"] == chain_head
    assert checked["archived_as"] == [archived["id"]]
    assert read_recorded(first.read_bytes()).chain_head == chain_head

    latest = cli_bytes.ok(seeded_url, "report", "--format", "md")
    assert latest.out.startswith("# Canada-Mexico Action Plan")
    today = datetime.now(UTC).date()
    head = cli_bytes.ok(seeded_url, "verify").json()["head_position"]
    assert f"md report as of {today} at log position {head}," in latest.err

    edited = tmp_path / "edited.md"
    edited.write_bytes(latest.stdout.replace(b"; weighted progress ", b"; weighted progress 9", 1))
    refused = cli_bytes(seeded_url, "verify", "--report", str(edited))
    assert "does not verify" in one_line_error(refused)
    assert "section 'Headline'" in one_line_error(refused)
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({"footer": {"log_position": 10, "chain_head": "0" * 64}}))
    assert "not a progress report" in one_line_error(
        cli_bytes(seeded_url, "verify", "--report", str(forged))
    )


def test_schedule_add_list_and_remove(cli: Cli, sqlite_url: str) -> None:
    added = cli.ok(
        sqlite_url,
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
        "--actor",
        "ops",
    )
    assert re.search(
        r"schedule weekly: 0 7 \* \* 1 \(America/Toronto\), .*log position 1$", added.err.strip()
    ), added.err
    [listed] = cli.ok(sqlite_url, "schedule", "list").json()
    assert {k: listed[k] for k in ("name", "cron", "formats", "timezone", "period_days")} == {
        "name": "weekly",
        "cron": "0 7 * * 1",
        "formats": ["csv", "html"],
        "timezone": "America/Toronto",
        "period_days": 30,
    }
    assert (listed["active"], listed["changed_by"]) == (True, "cli:ops")
    for actor in ("", "bad name!", "a:b"):
        refused = cli(sqlite_url, "schedule", "remove", "weekly", "--actor", actor)
        assert "--actor" in one_line_error(refused)

    removed = cli.ok(sqlite_url, "schedule", "remove", "weekly")
    assert "schedule weekly removed; log position 2" in removed.err
    assert cli.ok(sqlite_url, "schedule", "list").json() == []
    assert "already removed" in one_line_error(cli(sqlite_url, "schedule", "remove", "weekly"))
    assert "no schedule" in one_line_error(cli(sqlite_url, "schedule", "remove", "never"))

    def add(*args: str) -> Ran:
        return cli(sqlite_url, "schedule", "add", "--name", "x", *args)

    assert "5 fields" in one_line_error(add("--cron", "daily", "--format", "md"))
    assert "Mars/Olympus" in one_line_error(
        add("--cron", "0 6 * * *", "--format", "md", "--timezone", "Mars/Olympus")
    )
    assert "unknown report format" in one_line_error(add("--cron", "0 6 * * *", "--format", "pdf"))
    assert "--format" in one_line_error(add("--cron", "0 6 * * *"), 2)
    assert cli.ok(sqlite_url, "verify").json()["events"] == 2  # the refused ones wrote nothing


# ---- the projection worker -------------------------------------------------------------------


@pytest.mark.usefixtures("keep_sigterm")
def test_project_once_catches_up_and_rebuild_replays(cli: Cli, seeded_url: str) -> None:
    services = open_services(seeded_url)
    try:
        written = write(services, registration("CMAP-GOV-CLI"))
        assert services.projection.position() < written.position
    finally:
        services.close()
    assert "CMAP-GOV-CLI" not in projected_codes(seeded_url)

    once = cli.ok(seeded_url, "project", "--once")
    assert re.search(
        rf"projection at position {written.position} \(head {written.position}\)", once.err
    ), once.err
    codes = projected_codes(seeded_url)
    assert "CMAP-GOV-CLI" in codes

    rebuilt = cli.ok(seeded_url, "project", "--rebuild", "--once")
    assert "readers keep the old ones until then" in rebuilt.err
    assert f"read models rebuilt up to {written.position}" in rebuilt.err
    assert f"projection at position {written.position} (head {written.position})" in rebuilt.err
    assert projected_codes(seeded_url) == codes


def test_project_once_on_a_shrunk_log_says_so_instead_of_waiting(cli: Cli, seeded_url: str) -> None:
    services = open_services(seeded_url)
    try:
        written = write(services, registration("CMAP-GOV-CUT"))
        truncate(services, written.position - 1)  # the newest event deleted
        write(services, registration("CMAP-GOV-NEW"))  # the write that finds the log shorter
    finally:
        services.close()
    ran = cli(seeded_url, "project", "--once")  # its JSON log lines come first
    assert ran.status == 1 and "Traceback" not in ran.err, ran.err
    last = ran.err.strip().splitlines()[-1]
    assert last.startswith("error: the projection cannot catch up: the log shrank"), ran.err


# ---- the installed console script, as a real process -----------------------------------------


def environment(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMITMENTS_")}
    return env | {"COMMITMENTS_DATABASE_URL": url}


def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args],
        capture_output=True,
        text=True,
        env=environment(url),
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgresql"], indirect=True)
def test_console_script_migrates_seeds_and_shows(empty_database_url: str) -> None:
    for step in (["migrate"], ["seed"]):
        done = run(empty_database_url, *step)
        assert done.returncode == 0, done.stderr
    shown = run(empty_database_url, "show", RAIL)
    assert shown.returncode == 0, shown.stderr
    state = json.loads(shown.stdout)
    # Registered, then its title translated into French and Spanish.
    assert (state["code"], state["version"], state["status"]) == (RAIL, 3, "not_started")
    assert state["translations"]["es"]["title"].startswith("Infraestructura")


def test_console_script_user_error_is_one_line_with_its_status(seeded_url: str) -> None:
    result = run(seeded_url, "show", "CMAP-NOT-HERE")
    assert (result.returncode, result.stdout) == (1, "")
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "no commitment CMAP-NOT-HERE" in line, result.stderr


class StderrLines:
    """Reads a process's stderr in a thread, so the test can wait for a line with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=max(remaining, 0))
            except queue.Empty:
                pytest.fail(f"no line matching {pattern!r} within {timeout} s: {self.seen}")
            if line is None:
                pytest.fail(f"stderr closed before a line matching {pattern!r}: {self.seen}")
            self.seen.append(line)
            if match := re.search(pattern, line):
                return match

    def rest(self, timeout: float) -> str:
        """Everything the process wrote, once it closed stderr (it has exited)."""
        self._thread.join(timeout)
        while not self._lines.empty():
            line = self._lines.get_nowait()
            if line is not None:
                self.seen.append(line)
        return "".join(self.seen)


def eventually(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.05)


@pytest.mark.parametrize("seeded_url", ["sqlite", "postgresql"], indirect=True)
def test_project_follows_the_log_until_sigterm(seeded_url: str) -> None:
    """SQLite: the worker polls. PostgreSQL: it holds the lease and LISTENs."""
    services = open_services(seeded_url)
    worker = subprocess.Popen(
        [SCRIPT, "project"], env=environment(seeded_url), stderr=subprocess.PIPE, text=True
    )
    try:
        assert worker.stderr is not None
        stderr = StderrLines(worker.stderr)
        ready = stderr.wait_for(r"following the log from position (\d+); Ctrl-C stops", 60)
        assert int(ready.group(1)) == services.projection.position() == services.projection.head()

        written = write(
            services,
            LogProgress(percent=55, as_of=date(2026, 9, 30), note="followed"),
            ref=RAIL,
        )
        eventually(
            lambda: services.projection.position() >= written.position,
            30,
            f"the worker projecting position {written.position}",
        )
        [rail] = [c for c in _summaries(services) if c["code"] == RAIL]
        assert rail["progress"] == 55

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, stderr.rest(5)
        output = stderr.rest(5)
        assert f"stopped at position {written.position}" in output, output
        assert "Traceback" not in output
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
        services.close()


def _summaries(services: Any) -> list[Any]:
    with services.database.reading() as connection:
        page, _ = list_commitments(connection, ListFilters(), today=date(2026, 9, 30), limit=500)
    return list(page)


def test_keygen_checkpoint_and_the_report_check_against_it(
    cli: Cli, seeded_url: str, tmp_path: Path
) -> None:
    key = tmp_path / "operator.key"
    made = cli.ok(seeded_url, "keygen", "--name", "tracker.example/operator", "--out", str(key))
    public = made.out.strip()
    assert Verifier.parse(public).kind == "ed25519"
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.read_text().startswith("PRIVATE+KEY+tracker.example/operator+")
    again = cli(seeded_url, "keygen", "--name", "other", "--out", str(key))
    assert again.status == 1 and "never overwritten" in again.err
    witness_key = cli.ok(
        seeded_url, "keygen", "--name", "mx/witness", "--witness", "--out", str(tmp_path / "w")
    )
    assert Verifier.parse(witness_key.out.strip()).kind == "cosignature"

    unsigned = cli(seeded_url, "checkpoint")
    assert unsigned.status == 1 and "COMMITMENTS_SIGNING_KEY_FILE" in unsigned.err
    env = {"COMMITMENTS_SIGNING_KEY_FILE": str(key), "COMMITMENTS_LOG_ORIGIN": "t.example/log"}
    signed = cli(seeded_url, "checkpoint", **env)
    assert signed.status == 0, signed.err
    note = Note.parse(signed.out)
    assert note.body.startswith("t.example/log\n")
    assert verified_by(note, [Verifier.parse(public)]) == ["tracker.example/operator"]
    assert cli(seeded_url, "checkpoint", "--public-key", **env).out.strip() == public

    report = tmp_path / "r.md"
    assert cli(seeded_url, "report", "--format", "md", "--out", str(report), **env).status == 0
    checked = cli(seeded_url, "verify", "--report", str(report), **env)
    assert checked.status == 0, checked.err
    assert checked.json()["report"]["checkpoint"]["signed_by"] == ["tracker.example/operator"]
    wrong = cli(seeded_url, "checkpoint", COMMITMENTS_OPERATOR_KEY=witness_key.out.strip())
    assert wrong.status == 1 and "COMMITMENTS_OPERATOR_KEY" in wrong.err


def test_witness_needs_the_operator_key_and_names_an_unreachable_server(
    cli: Cli, seeded_url: str, tmp_path: Path
) -> None:
    key = tmp_path / "w.key"
    cli.ok(seeded_url, "keygen", "--name", "mx/witness", "--witness", "--out", str(key))
    state = str(tmp_path / "state.json")
    args = ("witness", "--url", "http://127.0.0.1:9", "--key", str(key), "--state", state)
    missing = cli(seeded_url, *args)
    assert missing.status == 1 and "--operator-key" in missing.err
    operator = Signer.generate("op").verifier().encode()
    unreachable = cli(seeded_url, *args, "--operator-key", operator)
    assert unreachable.status == 1 and "cannot reach http://127.0.0.1:9" in unreachable.err
    assert not Path(state).exists()
    for url in ("notaurl", "ftp://x", "http://[::1"):
        bad = cli(seeded_url, "witness", "--url", url, *args[3:], "--operator-key", operator)
        assert bad.status == 1 and "--url must be an http(s) URL" in one_line_error(bad)
    witness_public = Signer.parse(key.read_text().strip()).verifier().encode()
    confused = cli(seeded_url, *args, "--operator-key", witness_public)
    assert "is a witness's cosignature key" in one_line_error(confused)


# ---- where the database is -------------------------------------------------------------------


def test_a_command_from_the_wrong_folder_makes_no_database_and_names_the_one_it_tried(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (["show", RAIL], ["history", RAIL], ["verify"], ["seed"], ["serve"]):
        with monkeypatch.context() as patch:
            for name in SETTINGS:
                patch.delenv(name, raising=False)
            status = main(args)  # the default URL, relative to the working folder
        err = cli.capture.readouterr().err
        assert status == 1, (args, err)
        assert err == (
            "error: no database at sqlite:///./var/commitments.sqlite "
            f"({tmp_path.resolve() / 'var' / 'commitments.sqlite'}): run `commitments migrate` "
            "first, or set COMMITMENTS_DATABASE_URL\n"
        )
    assert not (tmp_path / "var").exists()
    # A folder that exists gets no empty file either.
    (tmp_path / "var").mkdir()
    assert "no database at" in one_line_error(cli("sqlite:///var/other.sqlite", "show", RAIL))
    assert list((tmp_path / "var").iterdir()) == []
    # `migrate` is the command that makes it, folder and all.
    made = cli.ok("sqlite:///./data/new.sqlite", "migrate")
    assert "migrated from empty" in made.err and (tmp_path / "data" / "new.sqlite").is_file()
    assert cli.ok("sqlite:///./data/new.sqlite", "schedule", "list").status == 0


def test_a_database_error_names_the_database_with_its_password_hidden(cli: Cli) -> None:
    unreachable = cli("postgresql+psycopg://nobody:s3cret@127.0.0.1:1/none", "show", "X")
    line = one_line_error(unreachable)
    assert "postgresql+psycopg://nobody:***@127.0.0.1:1/none" in line
    assert "s3cret" not in unreachable.err
    # libpq also takes the password as a query parameter.
    in_query = cli("postgresql+psycopg://nobody@127.0.0.1:1/none?password=s3cret", "show", "X")
    assert "password=***" in one_line_error(in_query)
    assert "s3cret" not in in_query.err


def test_a_database_not_migrated_is_named(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    line = one_line_error(cli(f"sqlite:///{empty}", "show", "X"))
    assert f"the schema of the database sqlite:///{empty} ({empty}) is empty" in line
