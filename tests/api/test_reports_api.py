"""Reports and schedules over HTTP."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from openpyxl import load_workbook

from adapters.reports.data import REPORT_FORMAT_VERSION, ReportInputs
from tests.api.client import BASE, Api, problem, serving

REPORTS = "/api/v1/reports"
SCHEDULES = "/api/v1/schedules"


@pytest.fixture
def followed(seeded_url: str) -> Iterator[Api]:
    """The app with its projection follower running, as a server runs it."""
    with serving(seeded_url, projector=True) as running:
        yield running


@pytest.mark.parametrize(
    ("fmt", "media_type", "disposition"),
    [
        ("json", "application/json", "inline"),
        ("csv", "text/csv; charset=utf-8", "attachment"),
        ("md", "text/markdown; charset=utf-8", "attachment"),
        ("html", "text/html; charset=utf-8", "inline"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "attachment"),
    ],
)
def test_live_report_in_each_format(api: Api, fmt: str, media_type: str, disposition: str) -> None:
    response = api.get(f"{REPORTS}/progress", "viewer", params={"format": fmt})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    digest = hashlib.sha256(response.content).hexdigest()
    assert response.headers["X-Content-SHA256"] == digest
    assert response.headers["ETag"] == f'"{digest}"'
    head = api.head()
    assert response.headers["X-Log-Position"] == str(head)
    assert response.headers["Content-Disposition"].startswith(f'{disposition}; filename="progress-')
    assert response.headers["Content-Disposition"].endswith(f'-at-{head}.{fmt}"')
    if fmt == "json":
        assert len(json.loads(response.content)["commitments"]) == 22
    if fmt == "csv":
        *table, footer = response.text.splitlines()  # the provenance is the last line
        assert len(list(csv.DictReader(table))) == 22 and footer.startswith("# As of ")
    if fmt == "xlsx":
        assert load_workbook(io.BytesIO(response.content))["Commitments"].max_row == 23


def test_report_inputs_are_validated(api: Api) -> None:
    progress = f"{REPORTS}/progress"
    problem(api.get(progress, "viewer", params={"format": "pdf"}), 422)
    assert "at_position" in problem(api.get(progress, "viewer", params={"at_position": 10**6}), 422)
    problem(api.get(progress, "viewer", params={"at_position": -1}), 422)
    problem(api.get(progress, "viewer", params={"period_days": 0}), 422)
    problem(api.get(progress, "viewer", params={"as_of": "30/06/2026"}), 422)
    problem(api.get(progress, None), 401)


def test_a_past_position_gives_the_same_bytes_as_then(api: Api) -> None:
    params = {"format": "md", "as_of": "2026-06-30", "at_position": 100}
    first = api.get(f"{REPORTS}/progress", params=params)
    assert first.status_code == 200 and first.headers["X-Log-Position"] == "100"
    written = api.post(
        f"{BASE}/CMAP-PROS-PORTS/progress",
        json={"percent": 90, "as_of": "2026-06-01", "note": "later news"},
    )
    assert written.status_code == 201
    again = api.get(f"{REPORTS}/progress", params=params)
    assert again.content == first.content
    now = api.get(f"{REPORTS}/progress", params={"format": "md", "as_of": "2026-06-30"})
    assert now.content != first.content


def test_a_repeated_live_report_is_not_built_again_until_the_log_moves(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = api.services.read_reports
    built: list[int] = []
    build = reports.build

    def counted(inputs: ReportInputs, **options: Any) -> dict[str, Any]:
        built.append(inputs.at_position)
        return build(inputs, **options)

    monkeypatch.setattr(reports, "build", counted)
    params = {"format": "html", "as_of": "2026-06-30"}
    first = api.get(f"{REPORTS}/progress", params=params)
    again = api.get(f"{REPORTS}/progress", params=params)
    unchanged = api.get(
        f"{REPORTS}/progress", params=params, headers={"If-None-Match": first.headers["ETag"]}
    )
    assert (first.status_code, again.status_code, unchanged.status_code) == (200, 200, 304)
    assert again.content == first.content and len(built) == 1
    api.get(f"{REPORTS}/progress", params=params | {"format": "md"})
    assert len(built) == 2  # another format is another artefact
    written = api.post(
        f"{BASE}/CMAP-PROS-PORTS/progress",
        json={"percent": 90, "as_of": "2026-06-01", "note": "later news"},
    )
    assert written.status_code == 201
    moved = api.get(f"{REPORTS}/progress", params=params)
    assert moved.status_code == 200 and moved.content != first.content
    assert built[-1] == api.head() and len(built) == 3


def test_archive_generate_list_and_fetch_byte_for_byte(api: Api) -> None:
    problem(api.post(REPORTS, "viewer", json={"formats": ["json"]}), 403)
    problem(api.post(REPORTS, "ca", json={"formats": ["json"]}), 403)
    problem(api.post(REPORTS, json={"formats": ["pdf"]}), 422)
    problem(api.post(REPORTS, json={"formats": []}), 422)
    problem(api.post(REPORTS, json={"formats": ["json"], "at_position": 10**6}), 422)
    problem(api.post(REPORTS, None, json={"formats": ["json"]}), 401)
    created = api.post(REPORTS, json={"formats": ["html", "xlsx"], "as_of": "2026-09-30"})
    assert created.status_code == 201, created.text
    report = created.json()
    assert created.headers["Location"] == f"{REPORTS}/{report['id']}"
    assert report["formats"] == ["html", "xlsx"] and report["as_of"] == "2026-09-30"
    assert report["generated_by"] == api.actor("admin") and report["schedule"] is None
    assert report["log_position"] == api.head() and report["period_days"] == 30
    assert report["chain_head"] == api.json("/api/v1/ledger")["chain_head"]
    assert (report["format_version"], report["language"]) == (REPORT_FORMAT_VERSION, "en")
    # Its recorded inputs reproduce it (a position alone means "as of today").
    reproduced = api.get(
        f"{REPORTS}/progress",
        params={"format": "xlsx", "at_position": report["log_position"], "as_of": "2026-09-30"},
    )
    assert hashlib.sha256(reproduced.content).hexdigest() == report["sha256"]["xlsx"]
    listed = api.json(REPORTS, "viewer")
    assert [r["id"] for r in listed["items"]] == [report["id"]] and listed["next_cursor"] is None
    second = api.post(REPORTS, json={"formats": ["json"]}).json()
    page = api.json(REPORTS, "viewer", params={"limit": 1})
    assert [r["id"] for r in page["items"]] == [second["id"]]
    older = api.json(REPORTS, "viewer", params={"limit": 1, "cursor": page["next_cursor"]})
    assert [r["id"] for r in older["items"]] == [report["id"]]
    assert older["next_cursor"] is None
    problem(api.get(REPORTS, "viewer", params={"cursor": "nope"}), 422)
    assert api.json(f"{REPORTS}/{report['id']}", "viewer") == report

    for fmt in ("html", "xlsx"):
        artefact = api.get(f"{REPORTS}/{report['id']}", "viewer", params={"format": fmt})
        assert hashlib.sha256(artefact.content).hexdigest() == report["sha256"][fmt]
        assert artefact.headers["X-Content-SHA256"] == report["sha256"][fmt]
        regenerated = api.get(
            f"{REPORTS}/progress",
            "viewer",
            params={"format": fmt, "as_of": "2026-09-30", "at_position": report["log_position"]},
        )
        assert regenerated.content == artefact.content
    problem(api.get(f"{REPORTS}/{report['id']}", "viewer", params={"format": "csv"}), 404)
    problem(api.get(f"{REPORTS}/nope", "viewer"), 404)


def test_schedules_are_managed_by_admins_and_audited(followed: Api) -> None:
    api = followed
    body = {
        "name": "monthly",
        "cron": "0 6 1 * *",
        "formats": ["html", "xlsx"],
        "timezone": "America/Mexico_City",
    }
    problem(api.post(SCHEDULES, "viewer", json=body), 403)
    problem(api.post(SCHEDULES, "ca", json=body), 403)
    for bad in (
        {"cron": "61 * * * *"},
        {"cron": "0 6 1 *"},
        {"timezone": "Mars/Olympus"},
        {"formats": ["pdf"]},
        {"name": "Has Spaces"},
        {"period_days": 0},
        {"unexpected": True},
    ):
        problem(api.post(SCHEDULES, json=body | bad), 422)
    created = api.post(SCHEDULES, json=body)
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"{SCHEDULES}/monthly"
    schedule = created.json()
    assert (schedule["changed_by"], schedule["active"], schedule["version"]) == (
        api.actor("admin"),
        True,
        1,
    )
    assert schedule["period_days"] == 30
    position = int(created.headers["X-Log-Position"])
    assert "already" in problem(api.post(SCHEDULES, json=body), 409)  # nothing changes
    # The follower projects the change; min_position waits for it.
    listed = api.json(SCHEDULES, "viewer", params={"min_position": position})
    assert [(s["name"], s["cron"], s["formats"]) for s in listed] == [
        ("monthly", "0 6 1 * *", ["html", "xlsx"])
    ]
    assert listed == [schedule]
    redefined = api.post(SCHEDULES, json=body | {"cron": "0 7 1 * *"})
    assert redefined.status_code == 201 and redefined.json()["version"] == 2
    removed = api.delete(f"{SCHEDULES}/monthly")
    assert removed.status_code == 204 and removed.content == b""
    assert "already removed" in problem(api.delete(f"{SCHEDULES}/monthly"), 409)
    problem(api.delete(f"{SCHEDULES}/nope"), 404)
    problem(api.delete(f"{SCHEDULES}/monthly", "viewer"), 403)
    after = {"min_position": removed.headers["X-Log-Position"]}
    assert api.json(SCHEDULES, "viewer", params=after) == []
    [kept] = api.json(SCHEDULES, "viewer", params=after | {"include_removed": "true"})
    assert (kept["name"], kept["cron"], kept["active"], kept["version"]) == (
        "monthly",
        "0 7 1 * *",
        False,
        3,
    )
    assert api.json(f"{SCHEDULES}/monthly", "viewer") == kept
    problem(api.get(f"{SCHEDULES}/nope", "viewer"), 404)
    feed = api.json("/api/v1/events", "viewer", params={"after": position - 1})
    assert [(e["type"], e["actor"], e["version"]) for e in feed] == [
        ("ReportSchedule.Defined", api.actor("admin"), 1),
        ("ReportSchedule.Redefined", api.actor("admin"), 2),
        ("ReportSchedule.Removed", api.actor("admin"), 3),
    ]
    assert api.json("/api/v1/ledger", "viewer")["verified"]


def test_schedule_writes_take_if_match_and_idempotency_keys(followed: Api) -> None:
    api = followed
    body = {"name": "weekly", "cron": "0 9 * * 1", "formats": ["json"]}
    refused = api.post(SCHEDULES, json=body, headers={"If-Match": '"1"'})
    assert "does not exist yet" in problem(refused, 412)
    created = api.post(SCHEDULES, json=body, headers={"Idempotency-Key": "s-1"})
    assert created.status_code == 201 and created.headers["ETag"] == '"1"'
    again = api.post(SCHEDULES, json=body, headers={"Idempotency-Key": "s-1"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert (again.content, again.headers["Location"]) == (
        created.content,
        created.headers["Location"],
    )
    other = api.post(
        SCHEDULES, json=body | {"cron": "0 8 * * 1"}, headers={"Idempotency-Key": "s-1"}
    )
    problem(other, 422)
    position = created.headers["X-Log-Position"]
    read = api.get(f"{SCHEDULES}/weekly", "viewer", params={"min_position": position})
    assert read.headers["ETag"] == '"1"'
    changed = api.post(SCHEDULES, json=body | {"cron": "0 10 * * 1"}, headers={"If-Match": '"1"'})
    assert changed.status_code == 201 and changed.headers["ETag"] == '"2"'
    stale = api.post(SCHEDULES, json=body | {"cron": "0 11 * * 1"}, headers={"If-Match": '"1"'})
    assert "schedule is at version 2" in problem(stale, 412)
    problem(api.delete(f"{SCHEDULES}/weekly", headers={"If-Match": '"1"'}), 412)
    removed = api.delete(f"{SCHEDULES}/weekly", headers={"Idempotency-Key": "s-2"})
    assert removed.status_code == 204 and removed.headers["ETag"] == '"3"'
    repeated = api.delete(f"{SCHEDULES}/weekly", headers={"Idempotency-Key": "s-2"})
    assert repeated.status_code == 204 and repeated.headers["Idempotent-Replayed"] == "true"
    assert repeated.headers["X-Log-Position"] == removed.headers["X-Log-Position"]
    history = api.json("/api/v1/events", "viewer", params={"after": int(position) - 1})
    assert [e["type"] for e in history] == [
        "ReportSchedule.Defined",
        "ReportSchedule.Redefined",
        "ReportSchedule.Removed",
    ]


def test_a_report_request_with_an_idempotency_key_archives_once(api: Api) -> None:
    body = {"formats": ["json", "csv"], "as_of": "2026-09-30"}
    first = api.post(REPORTS, json=body, headers={"Idempotency-Key": "r-1"})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = api.post(REPORTS, json=body, headers={"Idempotency-Key": "r-1"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    problem(
        api.post(REPORTS, json=body | {"formats": ["json"]}, headers={"Idempotency-Key": "r-1"}),
        422,
    )
    # The key is the token's: a commitment write cannot reuse it either.
    reuse = api.post(
        f"{BASE}/CMAP-PROS-RAIL/health",
        json={"rating": "green", "rationale": "r"},
        headers={"Idempotency-Key": "r-1"},
    )
    problem(reuse, 422)
    problem(api.post(REPORTS, json=body, headers={"Idempotency-Key": "bad key"}), 400)
    assert [r["id"] for r in api.json(REPORTS, "viewer")["items"]] == [first.json()["id"]]


def test_a_report_file_is_checked_by_its_content(api: Api) -> None:
    live = api.get(f"{REPORTS}/progress", "viewer", params={"format": "html"})
    checked = api.post(f"{REPORTS}/verify", "viewer", content=live.content)
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert (body["format"], body["verified"], body["differences"]) == ("html", True, [])
    assert body["recorded"]["log_position"] == api.head()
    edited = live.content.replace(b'<div class="card"><b>', b'<div class="card"><b>9', 1)
    assert edited != live.content
    refused = api.post(f"{REPORTS}/verify", "viewer", content=edited).json()
    assert not refused["verified"] and refused["matches_log"]
    assert refused["differences"] and "section" in refused["differences"][0]
    padded = live.content + b"<!--" + b"x" * (70 * 1024) + b"-->\n"  # over 64 KiB: a file
    assert api.post(f"{REPORTS}/verify", "viewer", content=padded).json()["verified"] is False
    problem(api.post(f"{REPORTS}/verify", "viewer", content=b"not a report"), 422)
    problem(api.post(f"{REPORTS}/verify", None, content=live.content), 401)
