"""`commitments export --format datapackage|cloudevents`: open data that validates."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import frictionless
import pytest

from tests.cli.test_cli import Cli, cli, one_line_error
from tests.conftest import open_services

__all__ = ["cli"]  # the fixture, from the CLI tests

TABLES = {"commitments", "milestones", "indicators", "measurements", "progress_updates", "events"}


def rows(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_data_package_validates_and_holds_the_log(
    cli: Cli, seeded_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "open-data"
    ran = cli.ok(seeded_url, "export", "--format", "datapackage", "--out", str(folder))
    assert "datapackage.json" in ran.err

    descriptor = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    assert {r["name"] for r in descriptor["resources"]} == TABLES
    report = frictionless.validate(str(folder / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10]

    services = open_services(seeded_url)
    try:
        history = services.tracker.get("CMAP-PROS-RAIL")
        summaries = services.projection.head()
    finally:
        services.close()
    commitments = rows(folder, "commitments")
    assert len(commitments) == 22
    rail = next(c for c in commitments if c["code"] == "CMAP-PROS-RAIL")
    assert rail["id"] == str(history.id)
    assert rail["version"] == str(history.version)
    assert rail["overdue"] in ("true", "false")
    events = rows(folder, "events")
    positions = [int(e["position"]) for e in events]
    assert positions == sorted(positions) and positions[-1] <= summaries
    assert descriptor["log_position"] == summaries
    # Each commitment's events are all there, and its last version is its version.
    rail_events = [e for e in events if e["commitment_code"] == "CMAP-PROS-RAIL"]
    assert [int(e["version"]) for e in rail_events] == list(range(1, history.version + 1))
    progress = rows(folder, "progress_updates")
    assert len(progress) == sum(1 for e in events if e["type"] == "ProgressLogged") > 0
    assert json.loads(events[0]["data"])["code"] == events[0]["commitment_code"]
    # Schemas: types and keys an analyst relies on.
    schemas = {r["name"]: r["schema"] for r in descriptor["resources"]}
    assert schemas["commitments"]["primaryKey"] == ["code"]
    assert schemas["milestones"]["foreignKeys"][0]["reference"] == {
        "resource": "commitments",
        "fields": ["code"],
    }
    types = {f["name"]: f["type"] for f in schemas["commitments"]["fields"]}
    assert types["target_date"] == "date" and types["progress"] == "integer"
    assert types["overdue"] == "boolean" and types["registered_at"] == "datetime"


def test_a_broken_package_is_caught_by_the_validation(
    cli: Cli, seeded_url: str, tmp_path: Path
) -> None:
    """The validation in the test above would notice a dangling key or a bad value."""
    folder = tmp_path / "open-data"
    cli.ok(seeded_url, "export", "--format", "datapackage", "--out", str(folder))
    lines = (folder / "milestones.csv").read_text(encoding="utf-8").splitlines()
    lines.append("CMAP-NO-SUCH,m9,Orphan,2026-01-01,2026-01-01,0,planned,")
    (folder / "milestones.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = frictionless.validate(str(folder / "datapackage.json"))
    assert not report.valid
    assert "foreign-key" in {error.type for task in report.tasks for error in task.errors}


def test_cloudevents_are_json_lines_of_the_log(cli: Cli, seeded_url: str, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    cli.ok(seeded_url, "export", "--format", "cloudevents", "--out", str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert events
    for event in events:
        assert event["specversion"] == "1.0"
        assert {"id", "source", "type", "time", "subject", "datacontenttype", "data"} <= set(event)
        assert event["type"] == "commitments." + event["data"]["type"]
        assert event["subject"] == event["data"]["code"]
        assert event["datacontenttype"] == "application/json"
        assert event["id"] == str(event["data"]["position"])
    assert len({e["id"] for e in events}) == len(events)
    assert len({e["source"] for e in events}) == 1
    assert events[0]["source"].startswith("tag:")
    assert [int(e["id"]) for e in events] == sorted(int(e["id"]) for e in events)
    assert events[0]["type"] == "commitments.Registered"


def test_cloudevents_go_to_stdout_without_out(cli: Cli, seeded_url: str) -> None:
    ran = cli.ok(seeded_url, "export", "--format", "cloudevents")
    lines = ran.out.splitlines()
    assert lines and all(json.loads(line)["specversion"] == "1.0" for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "xml", "--out", "x"), "--format must be one of"),
        (("--format", "datapackage"), "needs --out"),
        (("--out",), "requires an argument"),
    ],
)
def test_export_mistakes_are_one_line(
    cli: Cli, seeded_url: str, args: tuple[str, ...], message: str
) -> None:
    assert message in one_line_error(
        cli(seeded_url, "export", *args), status=2 if args == ("--out",) else 1
    )


def test_the_default_export_is_unchanged(cli: Cli, seeded_url: str, tmp_path: Path) -> None:
    out = tmp_path / "log.jsonl"
    cli.ok(seeded_url, "export", "--out", str(out))
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert "cloudevents" not in json.dumps(first)
    assert "specversion" not in first
