"""`commitments verify --offline`: files and public keys in, a JSON summary out, and no
database opened (no services built, the configured database's folder never made)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import api.cli
from adapters import proofs
from domain.checkpoint import Note, Signer
from domain.commands import LogProgress
from tests.cli.test_cli import Cli, Ran, one_line_error
from tests.conftest import open_services
from tests.support import CODE, write


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(monkeypatch, capsys)


@pytest.fixture
def operator(cli: Cli, seeded_url: str, tmp_path: Path) -> dict[str, str]:
    """An operator key made with `keygen`: its public key and the env to sign with it."""
    key = tmp_path / "operator.key"
    public = cli.ok(seeded_url, "keygen", "--name", "t.example/operator", "--out", str(key))
    return {"public": public.out.strip(), "COMMITMENTS_SIGNING_KEY_FILE": str(key)}


@pytest.fixture
def nowhere(tmp_path: Path) -> str:
    """A database URL in a folder that does not exist (SQLite would make the folder)."""
    return f"sqlite:///{tmp_path / 'nowhere' / 'db.sqlite'}"


def signed_checkpoint(cli: Cli, url: str, operator: dict[str, str], out: Path) -> Path:
    env = {"COMMITMENTS_SIGNING_KEY_FILE": operator["COMMITMENTS_SIGNING_KEY_FILE"]}
    ran = cli(url, "checkpoint", **env)
    assert ran.status == 0, ran.err
    out.write_text(ran.out)
    return out


def no_services(*_: Any, **__: Any) -> None:
    raise AssertionError("the offline verifier built the services")


def offline(cli: Cli, url: str, *args: str, **env: str) -> Ran:
    """`commitments verify ARGS`, where building the services would fail the test."""
    with cli.monkeypatch.context() as patch:
        patch.setattr(api.cli, "services_for", no_services)
        return cli(url, "verify", *args, **env)


def test_offline_verify_checks_an_export_and_a_report_without_a_database(
    cli: Cli, seeded_url: str, operator: dict[str, str], tmp_path: Path, nowhere: str
) -> None:
    checkpoint = signed_checkpoint(cli, seeded_url, operator, tmp_path / "cp.txt")
    export = tmp_path / "log.jsonl"
    cli.ok(seeded_url, "export", "--out", str(export))
    report = tmp_path / "r.xlsx"
    assert cli(seeded_url, "report", "--format", "xlsx", "--out", str(report)).status == 0

    ran = offline(
        cli,
        nowhere,
        "--export", str(export),
        "--checkpoint", str(checkpoint),
        "--report", str(report),
        COMMITMENTS_OPERATOR_KEY=operator["public"],
    )  # fmt: skip
    assert ran.status == 0, ran.err
    summary = ran.json()
    assert summary["offline"] is True and summary["verified"] is True
    assert summary["problem"] is None
    size = int(Note.parse(checkpoint.read_text()).body.splitlines()[1])
    assert summary["export"]["events"] == size
    assert summary["checkpoints"][0]["signed_by"] == ["t.example/operator"]
    assert summary["report"]["format"] == "xlsx"
    assert all(check["passed"] for check in summary["checks"])
    assert not (tmp_path / "nowhere").exists()  # the configured database was not touched


def test_offline_verify_names_a_truncated_export_in_one_line(
    cli: Cli, seeded_url: str, operator: dict[str, str], tmp_path: Path, nowhere: str
) -> None:
    export = tmp_path / "old.jsonl"
    cli.ok(seeded_url, "export", "--out", str(export))
    services = open_services(seeded_url)
    try:
        write(services, LogProgress(percent=50, as_of=date(2026, 11, 1), note="n"), ref=CODE)
    finally:
        services.close()
    checkpoint = signed_checkpoint(cli, seeded_url, operator, tmp_path / "cp.txt")
    args = ("--export", str(export), "--checkpoint", str(checkpoint))
    ran = offline(cli, nowhere, *args, "--operator-key", operator["public"])
    line = one_line_error(ran)
    assert line.startswith("error: offline verification failed: the log was truncated:")
    assert "its newest 1 events are missing" in line
    assert ran.json()["verified"] is False  # the summary is printed all the same
    assert not (tmp_path / "nowhere").exists()


def test_offline_verify_requires_witness_cosignatures_from_the_environment(
    cli: Cli, seeded_url: str, operator: dict[str, str], tmp_path: Path, nowhere: str
) -> None:
    checkpoint = signed_checkpoint(cli, seeded_url, operator, tmp_path / "cp.txt")
    witness = Signer.generate("mx.example/witness", "cosignature")
    env = {
        "COMMITMENTS_OPERATOR_KEY": operator["public"],
        "COMMITMENTS_WITNESS_KEYS": witness.verifier().encode(),
    }
    line = one_line_error(offline(cli, nowhere, "--checkpoint", str(checkpoint), **env))
    assert "cosigned by 0 of the 1 witnesses required; no valid cosignature by mx.example" in line
    ran = offline(cli, nowhere, "--checkpoint", str(checkpoint), "--witnesses", "0", **env)
    assert ran.status == 0, ran.err
    note = Note.parse(checkpoint.read_text())
    cosigned = tmp_path / "cosigned.txt"
    cosigned.write_text(note.with_signature(witness.sign(note.body, timestamp=1)).text())
    ran = offline(cli, nowhere, "--checkpoint", str(cosigned), **env)
    assert ran.status == 0, ran.err
    assert ran.json()["checkpoints"][0]["cosigned_by"] == ["mx.example/witness"]


def test_offline_verify_refuses_bad_options_and_files_in_one_line(
    cli: Cli, seeded_url: str, operator: dict[str, str], tmp_path: Path, nowhere: str
) -> None:
    checkpoint = str(signed_checkpoint(cli, seeded_url, operator, tmp_path / "cp.txt"))
    key = operator["public"]
    witness = Signer.generate("w", "cosignature").verifier().encode()
    cases = [
        (("--offline", "--operator-key", key), "--offline needs a --checkpoint"),
        (("--checkpoint", checkpoint), "the operator's public key is needed"),
        (("--checkpoint", checkpoint, "--operator-key", "junk"), "--operator-key: not a public"),
        (("--checkpoint", checkpoint, "--operator-key", witness), "expected ed25519"),
        (
            ("--checkpoint", checkpoint, "--operator-key", key, "--witnesses", "2"),
            "--witnesses: 2 witness cosignatures cannot be required of 0 witness keys",
        ),
        (
            ("--checkpoint", str(tmp_path / "missing.txt"), "--operator-key", key),
            "cannot read",
        ),
        (
            ("--checkpoint", checkpoint, "--operator-key", key, "--export", str(tmp_path)),
            "cannot read",
        ),
        (("--operator-key", key), "--operator-key is for offline verification"),
    ]
    for args, expected in cases:
        line = one_line_error(offline(cli, nowhere, *args))
        assert expected in line, (args, line)
    assert not (tmp_path / "nowhere").exists()


def test_offline_verify_checks_one_event_by_its_inclusion_proof(
    cli: Cli, seeded_url: str, operator: dict[str, str], tmp_path: Path, nowhere: str
) -> None:
    checkpoint = signed_checkpoint(cli, seeded_url, operator, tmp_path / "cp.txt")
    size = int(Note.parse(checkpoint.read_text()).body.splitlines()[1])
    export = tmp_path / "log.jsonl"
    cli.ok(seeded_url, "export", "--out", str(export))
    event = tmp_path / "event.json"
    line = export.read_text().splitlines()[7]
    event.write_text(line + "\n")
    position = json.loads(line)["position"]
    services = open_services(seeded_url)
    try:
        body = proofs.inclusion(services.database, position, size)
    finally:
        services.close()
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(body))
    args = ("--checkpoint", str(checkpoint), "--event", str(event), "--proof", str(proof))
    ran = offline(cli, nowhere, *args, "--operator-key", operator["public"])
    assert ran.status == 0, ran.err
    assert ran.json()["event"]["position"] == position
    record = json.loads(line)
    record["originator_version"] += 1
    event.write_text(json.dumps(record))
    line = one_line_error(offline(cli, nowhere, *args, "--operator-key", operator["public"]))
    assert f"the event at position {position}, as given, is not leaf 6" in line
