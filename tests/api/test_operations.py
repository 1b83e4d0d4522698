"""What an operator watches: X-Request-ID on every response, JSON log lines carrying it,
and `/metrics` in Prometheus's text format (api/observability.py, api/logs.py,
adapters/metrics.py)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.logs import configure_logging
from domain.checkpoint import Signer
from tests.api.client import BASE, Api, problem, serving
from tests.conftest import settings

GENERATED = re.compile(r"[0-9a-f]{32}")
PROGRESS = {"percent": 35, "as_of": "2026-06-30", "note": "operations test"}


def samples(api: Api) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The app's metrics, as {(sample name, labels): value}."""
    response = api.client.get("/metrics")  # no token: /metrics needs none
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


# ---- X-Request-ID ---------------------------------------------------------------------------


def test_every_response_carries_a_request_id_generated_or_the_clients(api: Api) -> None:
    first = api.get(f"{BASE}/CMAP-PROS-RAIL")
    second = api.get(f"{BASE}/CMAP-PROS-RAIL")
    assert first.status_code == 200
    assert GENERATED.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]

    mine = {"X-Request-ID": "lb-7f3a:trace=42"}
    assert api.get(f"{BASE}/CMAP-PROS-RAIL", headers=mine).headers["x-request-id"] == (
        "lb-7f3a:trace=42"
    )
    # Errors carry it too: the app's problems, the body limit's 413, an unknown path.
    errors = [
        (api.get(f"{BASE}/CMAP-NO-SUCH", headers=mine), 404),
        (api.get(f"{BASE}/CMAP-PROS-RAIL", who=None, headers=mine), 401),
        (api.post(f"{BASE}/CMAP-PROS-RAIL/progress", json={"percent": 300}, headers=mine), 422),
        (api.post(BASE, content=b"x" * (65 * 1024), headers=mine), 413),
        (api.get("/no/such/page", headers=mine), 404),
    ]
    for response, status in errors:
        problem(response, status)
        assert response.headers["x-request-id"] == "lb-7f3a:trace=42", response.url


@pytest.mark.parametrize("offered", ["x" * 129, "has space", "tab\there", "caf\u00e9", ""])
def test_an_unacceptable_request_id_is_replaced(api: Api, offered: str) -> None:
    response = api.client.get("/healthz", headers={b"X-Request-ID": offered.encode("utf-8")})
    assert response.status_code == 200
    assert GENERATED.fullmatch(response.headers["x-request-id"])


# ---- JSON logs ------------------------------------------------------------------------------


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Logging configured as `commitments serve` does, into a buffer; restored after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging(stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_access_and_module_logs_are_json_lines_with_the_request_id(
    seeded_url: str, log_lines: io.StringIO
) -> None:
    app = create_app(settings(seeded_url))

    def boom() -> None:
        # Runs in the thread pool, as the sync endpoints do: the request id follows it there.
        logging.getLogger("tests.boom").warning("about to fail")
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    with TestClient(app) as client:
        ok = client.get("/healthz", headers={"X-Request-ID": "req-ok"})
        failed = client.get("/boom", headers={"X-Request-ID": "req-boom"})
    assert ok.status_code == 200
    # A bug is a problem document with the request id, never a traceback to the client.
    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/problem+json"
    assert failed.headers["x-request-id"] == "req-boom"
    assert "a bug" not in failed.text

    lines = parsed(log_lines)
    access = [line for line in lines if line["logger"] == "api.access"]
    [healthz] = [line for line in access if line["request_id"] == "req-ok"]
    assert healthz["event"] == "request" and healthz["level"] == "info"
    assert (healthz["method"], healthz["path"], healthz["status"]) == ("GET", "/healthz", 200)
    assert isinstance(healthz["duration_ms"], float) and healthz["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", healthz["timestamp"])
    [warning] = [line for line in lines if line["logger"] == "tests.boom"]
    assert warning["request_id"] == "req-boom" and warning["level"] == "warning"
    [error] = [line for line in lines if line["event"] == "unexpected error"]
    assert error["request_id"] == "req-boom" and "RuntimeError: a bug" in error["exception"]
    [boom_access] = [line for line in access if line["request_id"] == "req-boom"]
    assert boom_access["status"] == 500


# ---- /metrics -------------------------------------------------------------------------------


def test_metrics_count_requests_by_route_template_writes_and_projection_lag(api: Api) -> None:
    before = samples(api)
    api.get(f"{BASE}/CMAP-PROS-RAIL")
    api.get(f"{BASE}/CMAP-PROS-RAIL", who="viewer")
    api.get(f"{BASE}/CMAP-NO-SUCH")
    api.get("/no/such/page")
    api.get(f"{BASE}/CMAP-PROS-RAIL", who=None, headers={"Authorization": "Bearer cmt_wrong"})
    written = api.post(f"{BASE}/CMAP-PROS-RAIL/progress", json=PROGRESS)
    assert written.status_code == 201, written.text
    after = samples(api)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "commitments_http_request_duration_seconds_count"
    one = "/api/v1/commitments/{ref}"
    assert delta(requests, method="GET", route=one, status="200") == 2
    assert delta(requests, method="GET", route=one, status="404") == 1
    assert delta(requests, method="GET", route=one, status="401") == 1
    assert delta(requests, method="GET", route="unmatched", status="404") == 1
    assert delta(requests, method="POST", route=f"{one}/progress", status="201") == 1
    # Routes are templates: no label ever holds a commitment's code or a raw path.
    assert not [key for key in after if any("CMAP" in v for _, v in key[1])]
    assert delta("commitments_auth_failures_total") == 1
    # A progress report on an in_progress commitment is one event.
    assert delta("commitments_events_written_total") == 1

    head = api.head()
    assert value(after, "commitments_log_head_position") == head
    position = value(after, "commitments_projection_position")
    assert value(after, "commitments_projection_lag_events") == head - position > 0
    api.project()  # (no follower runs in these tests)
    caught_up = samples(api)
    assert value(caught_up, "commitments_projection_position") == head
    assert value(caught_up, "commitments_projection_lag_events") == 0
    assert value(caught_up, "commitments_projection_follower_active") == 0
    assert value(caught_up, "commitments_database_up") == 1


def test_metrics_count_report_runs_and_checkpoints(seeded_url: str, tmp_path: Path) -> None:
    key = tmp_path / "operator.key"
    key.write_text(Signer.generate("tracker.example/operator").encode() + "\n")
    with serving(seeded_url, signing_key_file=str(key)) as api:
        archived = api.post("/api/v1/reports", json={"formats": ["json", "csv"]})
        assert archived.status_code == 201, archived.text
        found = samples(api)
        runs = "commitments_report_runs_total"
        assert value(found, runs, trigger="request", outcome="archived") == 1
        assert value(found, runs, trigger="request", outcome="failed") == 0
        durations = "commitments_report_duration_seconds_count"
        assert value(found, durations, trigger="request") == 1
        # Archiving signed a checkpoint covering the report.
        assert value(found, "commitments_checkpoints_signed_total") == 1
        api.services.scheduler.sign_checkpoint()  # nothing new to sign: no new checkpoint
        assert value(samples(api), "commitments_checkpoints_signed_total") == 1


def test_background_checkpoint_failures_are_counted(api: Api) -> None:
    # No signing key here: the scheduler's signing fails (and logs it).
    api.services.scheduler.sign_checkpoint()
    assert value(samples(api), "commitments_checkpoint_failures_total") == 1


def test_several_apps_in_one_process_keep_their_own_metrics(seeded_url: str) -> None:
    with serving(seeded_url) as first, serving(seeded_url) as second:
        for _ in range(3):
            first.client.get("/healthz")
        second.client.get("/healthz")
        healthz = {"method": "GET", "route": "/healthz", "status": "200"}
        count = "commitments_http_request_duration_seconds_count"
        assert value(samples(first), count, **healthz) == 3
        assert value(samples(second), count, **healthz) == 1


def test_metrics_are_documented_as_prometheus_text(api: Api) -> None:
    operation = api.openapi()["paths"]["/metrics"]["get"]
    assert "text/plain" in operation["responses"]["200"]["content"]
    assert "security" not in operation
