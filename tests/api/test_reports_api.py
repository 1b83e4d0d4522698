"""Reports and schedules over HTTP."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from adapters.event_store import engine_of, open_tracker
from adapters.seeds import seed
from adapters.settings import Settings
from adapters.tokens import create_token
from api.app import create_app


@pytest.fixture
def clients(database_url: str) -> Iterator[dict[str, TestClient]]:
    tracker = open_tracker(database_url)
    try:
        seed(tracker, demo=True)
        engine = engine_of(tracker)
        tokens = {
            "admin": create_token(engine, name="admin-1", role="admin", party=None),
            "viewer": create_token(engine, name="vera", role="viewer", party=None),
        }
    finally:
        tracker.close()
    settings = Settings(
        database_url=database_url, public_read=False, scheduler=False, projector=True
    )
    with TestClient(create_app(settings)) as client:
        yield {who: _with_token(client, token) for who, token in tokens.items()} | {
            "anonymous": client
        }


def _with_token(client: TestClient, token: str) -> Any:
    class Bound:
        def request(self, method: str, url: str, **kwargs: Any) -> Any:
            headers = {"Authorization": f"Bearer {token}"} | kwargs.pop("headers", {})
            return client.request(method, url, headers=headers, **kwargs)

        def get(self, url: str, **kwargs: Any) -> Any:
            return self.request("GET", url, **kwargs)

        def post(self, url: str, **kwargs: Any) -> Any:
            return self.request("POST", url, **kwargs)

        def delete(self, url: str, **kwargs: Any) -> Any:
            return self.request("DELETE", url, **kwargs)

    return Bound()


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("json", "application/json"),
        ("csv", "text/csv; charset=utf-8"),
        ("md", "text/markdown; charset=utf-8"),
        ("html", "text/html; charset=utf-8"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ],
)
def test_live_report_in_each_format(clients: dict[str, Any], fmt: str, media_type: str) -> None:
    response = clients["viewer"].get("/api/v1/reports/progress", params={"format": fmt})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    assert response.headers["X-Content-SHA256"]
    if fmt == "csv":
        assert len(list(csv.DictReader(io.StringIO(response.text)))) == 22
    if fmt == "xlsx":
        assert load_workbook(io.BytesIO(response.content))["Commitments"].max_row == 23


def test_report_inputs_are_validated(clients: dict[str, Any]) -> None:
    viewer = clients["viewer"]
    assert viewer.get("/api/v1/reports/progress", params={"format": "pdf"}).status_code == 422
    assert viewer.get("/api/v1/reports/progress", params={"at_position": 10**6}).status_code == 422
    assert clients["anonymous"].get("/api/v1/reports/progress").status_code == 401


def test_a_past_position_gives_the_same_bytes_as_then(clients: dict[str, Any]) -> None:
    admin = clients["admin"]
    params = {"format": "html", "as_of": "2026-06-30", "at_position": 100}
    first = admin.get("/api/v1/reports/progress", params=params)
    admin.post(
        "/api/v1/commitments/CMAP-PROS-RAIL/progress",
        json={"percent": 90, "as_of": "2026-06-01", "note": "later news"},
    )
    again = admin.get("/api/v1/reports/progress", params=params)
    assert again.content == first.content
    now = admin.get("/api/v1/reports/progress", params={"format": "html", "as_of": "2026-06-30"})
    assert now.content != first.content


def test_archive_generate_list_and_fetch_byte_for_byte(clients: dict[str, Any]) -> None:
    admin, viewer = clients["admin"], clients["viewer"]
    assert viewer.post("/api/v1/reports", json={"formats": ["json"]}).status_code == 403
    assert admin.post("/api/v1/reports", json={"formats": ["pdf"]}).status_code == 422
    created = admin.post(
        "/api/v1/reports", json={"formats": ["html", "xlsx"], "as_of": "2026-09-30"}
    )
    assert created.status_code == 201, created.text
    report = created.json()
    assert created.headers["Location"] == f"/api/v1/reports/{report['id']}"
    assert report["formats"] == ["html", "xlsx"] and report["as_of"] == "2026-09-30"
    assert report["generated_by"] == "admin-1" and len(report["chain_head"]) == 64
    listed = viewer.get("/api/v1/reports").json()
    assert [r["id"] for r in listed["items"]] == [report["id"]] and listed["next_cursor"] is None
    second = admin.post("/api/v1/reports", json={"formats": ["json"]}).json()
    page = viewer.get("/api/v1/reports", params={"limit": 1}).json()
    assert [r["id"] for r in page["items"]] == [second["id"]]
    older = viewer.get("/api/v1/reports", params={"limit": 1, "cursor": page["next_cursor"]})
    assert [r["id"] for r in older.json()["items"]] == [report["id"]]
    assert older.json()["next_cursor"] is None
    assert viewer.get("/api/v1/reports", params={"cursor": "nope"}).status_code == 422
    assert viewer.get(f"/api/v1/reports/{report['id']}").json() == report
    import hashlib

    for fmt in ("html", "xlsx"):
        artefact = viewer.get(f"/api/v1/reports/{report['id']}", params={"format": fmt})
        assert hashlib.sha256(artefact.content).hexdigest() == report["sha256"][fmt]
        regenerated = viewer.get(
            "/api/v1/reports/progress",
            params={"format": fmt, "as_of": "2026-09-30", "at_position": report["log_position"]},
        )
        assert regenerated.content == artefact.content
    assert (
        viewer.get(f"/api/v1/reports/{report['id']}", params={"format": "csv"}).status_code == 404
    )
    assert viewer.get("/api/v1/reports/nope").status_code == 404


def test_schedules_are_managed_by_admins_and_audited(clients: dict[str, Any]) -> None:
    admin, viewer = clients["admin"], clients["viewer"]
    body = {
        "name": "monthly",
        "cron": "0 6 1 * *",
        "formats": ["html", "xlsx"],
        "timezone": "America/Mexico_City",
    }
    assert viewer.post("/api/v1/schedules", json=body).status_code == 403
    for bad in (
        {"cron": "61 * * * *"},
        {"timezone": "Mars/Olympus"},
        {"formats": ["pdf"]},
        {"name": "Has Spaces"},
    ):
        response = admin.post("/api/v1/schedules", json=body | bad)
        assert response.status_code == 422, response.text
    created = admin.post("/api/v1/schedules", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["changed_by"] == "admin-1"
    position = created.headers["X-Log-Position"]
    assert admin.post("/api/v1/schedules", json=body).status_code == 409  # nothing changes
    listed = viewer.get("/api/v1/schedules", params={"min_position": position}).json()
    assert [(s["name"], s["cron"], s["formats"]) for s in listed] == [
        ("monthly", "0 6 1 * *", ["html", "xlsx"])
    ]
    removed = admin.delete("/api/v1/schedules/monthly")
    assert removed.status_code == 204
    assert admin.delete("/api/v1/schedules/monthly").status_code == 409
    assert admin.delete("/api/v1/schedules/nope").status_code == 404
    after = viewer.get(
        "/api/v1/schedules", params={"min_position": removed.headers["X-Log-Position"]}
    ).json()
    assert after == []
    feed = viewer.get("/api/v1/events", params={"after": int(position) - 1}).json()
    assert [(e["type"], e["actor"]) for e in feed] == [
        ("ReportSchedule.Defined", "admin-1"),
        ("ReportSchedule.Removed", "admin-1"),
    ]
    assert viewer.get("/api/v1/ledger").json()["verified"]
