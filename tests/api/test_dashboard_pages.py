"""Dashboard pages over HTTP (the browser tests look at them; these check the edges)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from adapters.event_store import engine_of, open_tracker
from adapters.projection import ReadModelProjection
from adapters.reports.data import ReportInputs, build_report, log_head
from adapters.reports.render import render
from adapters.seeds import seed
from adapters.settings import Settings
from adapters.tokens import create_token
from api.app import create_app

HOSTILE = '<script>alert(1)</script>=HYPERLINK("http://x.invalid","click")'


@pytest.fixture(params=[True, False], ids=["public", "private"])
def client(request: pytest.FixtureRequest, database_url: str) -> Iterator[TestClient]:
    tracker = open_tracker(database_url)
    try:
        seed(tracker)
        tracker.register(
            actor="t",
            code="CMAP-GOV-XSS",
            title=HOSTILE,
            pillar="governance",
            sectors=["governance"],
            parties=["CA", "MX"],
            lead_party="joint",
        )
        token = create_token(engine_of(tracker), name="viewer", role="viewer", party=None)
    finally:
        tracker.close()
    settings = Settings(
        database_url=database_url, public_read=request.param, scheduler=False, projector=False
    )
    with TestClient(create_app(settings)) as test_client:
        if not request.param:
            signed = test_client.post("/login", data={"token": token}, follow_redirects=False)
            assert signed.status_code == 303 and "httponly" in signed.headers["set-cookie"].lower()
        yield test_client


def test_user_text_is_escaped_everywhere(client: TestClient) -> None:
    for path in ("/", "/c/CMAP-GOV-XSS"):
        page = client.get(path)
        assert page.status_code == 200, page.text
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    missing = client.get("/c/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    assert missing.status_code == 404 and "<img" not in missing.text


def test_reports_from_the_dashboard_are_inert_in_spreadsheets(client: TestClient) -> None:
    rows = list(csv.DictReader(io.StringIO(client.get("/report.csv").text)))
    hostile = next(r for r in rows if r["code"] == "CMAP-GOV-XSS")
    assert hostile["title"] == HOSTILE  # kept verbatim: CSV is data, not HTML
    book = load_workbook(io.BytesIO(client.get("/report.xlsx").content))
    cells = [c for row in book["Commitments"].iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)  # no formula anywhere
    html = client.get("/report.html")
    assert html.status_code == 200 and "&lt;script&gt;" in html.text
    assert client.get("/report.pdf").status_code == 404


def test_a_formula_title_is_kept_as_text(database_url: str) -> None:
    tracker = open_tracker(database_url)
    try:
        tracker.register(
            actor="t",
            code="CMAP-GOV-FORM",
            title='=HYPERLINK("http://x.invalid")',
            pillar="governance",
            sectors=["governance"],
            parties=["CA", "MX"],
            lead_party="joint",
        )
        report = build_report(tracker, ReportInputs(log_head(tracker), date(2026, 6, 30)))
    finally:
        tracker.close()
    [row] = list(csv.DictReader(io.StringIO(render(report, "csv").decode())))
    assert row["title"] == '\'=HYPERLINK("http://x.invalid")'
    sheet = load_workbook(io.BytesIO(render(report, "xlsx")))["Commitments"]
    assert sheet["B2"].data_type == "s" and str(sheet["B2"].value).startswith("'=")


def test_a_schedule_id_is_no_commitment(database_url: str) -> None:
    tracker = open_tracker(database_url)
    try:
        schedule, _ = tracker.define_schedule(
            actor="t", name="weekly", cron="0 7 * * 1", formats=["json"]
        )
        token = create_token(engine_of(tracker), name="a", role="admin", party=None)
        ReadModelProjection(tracker).catch_up()  # schedules are read from the projection
    finally:
        tracker.close()
    settings = Settings(
        database_url=database_url, public_read=True, scheduler=False, projector=False
    )
    with TestClient(create_app(settings)) as client:
        auth = {"Authorization": f"Bearer {token}"}
        ref = str(schedule.id)
        for method, path, body in (
            ("GET", f"/api/v1/commitments/{ref}", None),
            ("GET", f"/api/v1/commitments/{ref}?version=1", None),
            ("GET", f"/api/v1/commitments/{ref}?as_of=2026-01-01", None),
            ("GET", f"/api/v1/commitments/{ref}/history", None),
            ("POST", f"/api/v1/commitments/{ref}/health", {"rating": "red", "rationale": "r"}),
        ):
            response = client.request(method, path, json=body, headers=auth)
            assert response.status_code == 404, (path, response.text)
        assert client.get(f"/c/{ref}").status_code == 404
        assert client.get("/api/v1/schedules/weekly").json()["cron"] == "0 7 * * 1"
        assert client.get("/api/v1/schedules/nope").status_code == 404


def test_report_dates_out_of_range_are_422(database_url: str) -> None:
    settings = Settings(
        database_url=database_url, public_read=True, scheduler=False, projector=False
    )
    with TestClient(create_app(settings)) as client:
        for as_of in ("9999-12-31", "0001-01-01"):
            response = client.get("/api/v1/reports/progress", params={"as_of": as_of})
            assert response.status_code == 422, response.text
        ok = client.get("/api/v1/reports/progress")
        assert ok.status_code == 200 and ok.headers["X-Log-Position"] == "0"
