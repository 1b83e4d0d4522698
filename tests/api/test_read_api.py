"""The read endpoints of the foundation: health, one commitment, its history, auth."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from adapters.event_store import engine_of, open_tracker
from adapters.seeds import seed
from adapters.settings import Settings
from adapters.tokens import create_token
from api.app import create_app

CODE = "CMAP-PROS-RAIL"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, public_read=False, scheduler=False, projector=False)


@pytest.fixture
def viewer_token(database_url: str) -> str:
    tracker = open_tracker(database_url)
    try:
        seed(tracker, demo=True)
        return create_token(engine_of(tracker), name="viewer-1", role="viewer", party=None)
    finally:
        tracker.close()


@pytest.fixture
def client(settings: Settings, viewer_token: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {viewer_token}"
        yield test_client


def assert_problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz", headers={"Authorization": ""})
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["log_position"] > 100


def test_a_commitment_by_code_and_by_uuid(client: TestClient) -> None:
    response = client.get(f"/api/v1/commitments/{CODE}")
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == CODE and body["pillar"] == "prosperity"
    assert response.headers["ETag"] == f'"{body["version"]}"'
    assert body["milestones"] and body["indicators"]
    by_id = client.get(f"/api/v1/commitments/{body['id']}")
    assert by_id.json() == body


def test_time_travel_queries(client: TestClient) -> None:
    first = client.get(f"/api/v1/commitments/{CODE}", params={"version": 1}).json()
    assert (first["version"], first["status"], first["progress"]) == (1, "not_started", None)
    early = client.get(f"/api/v1/commitments/{CODE}", params={"as_of": "2025-10-01"}).json()
    assert early["progress"] is None and early["health"] is None
    assert early["status"] == "not_started"
    before_seed = client.get(
        f"/api/v1/commitments/{CODE}", params={"known_at": "2000-01-01T00:00:00Z"}
    )
    assert_problem(before_seed, 404)
    assert_problem(client.get(f"/api/v1/commitments/{CODE}", params={"as_of": "31/12/2025"}), 422)
    both = client.get(f"/api/v1/commitments/{CODE}", params={"version": 2, "as_of": "2026-01-01"})
    assert "either version" in str(assert_problem(both, 422)["detail"])


def test_history_is_every_event_oldest_first(client: TestClient) -> None:
    history = client.get(f"/api/v1/commitments/{CODE}/history").json()
    current = client.get(f"/api/v1/commitments/{CODE}").json()
    assert [h["version"] for h in history] == list(range(1, current["version"] + 1))
    positions = [h["position"] for h in history]
    assert positions == sorted(positions)
    assert history[0]["type"] == "Registered" and history[0]["actor"] == "seed"
    assert history[0]["data"]["code"] == CODE


def test_unknown_commitments_are_404_problems(client: TestClient) -> None:
    body = assert_problem(client.get("/api/v1/commitments/CMAP-NOT-HERE"), 404)
    assert "CMAP-NOT-HERE" in str(body["detail"])
    assert_problem(client.get("/api/v1/commitments/not a code/history"), 404)


def test_reads_need_a_valid_token(client: TestClient) -> None:
    no_token = client.get(f"/api/v1/commitments/{CODE}", headers={"Authorization": ""})
    assert assert_problem(no_token, 401) and no_token.headers["WWW-Authenticate"] == "Bearer"
    wrong = client.get(f"/api/v1/commitments/{CODE}", headers={"Authorization": "Bearer nope"})
    assert "unknown or revoked" in str(assert_problem(wrong, 401)["detail"])


def test_public_read_needs_no_token(settings: Settings, viewer_token: str) -> None:
    with TestClient(create_app(replace(settings, public_read=True))) as anonymous:
        assert anonymous.get(f"/api/v1/commitments/{CODE}").status_code == 200
        bad = anonymous.get(f"/api/v1/commitments/{CODE}", headers={"Authorization": "Bearer x"})
        assert_problem(bad, 401)  # a token that is given must still be valid


def test_openapi_documents_the_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/commitments/{ref}", "/api/v1/commitments/{ref}/history", "/healthz"} <= set(
        paths
    )
    assert "404" in paths["/api/v1/commitments/{ref}"]["get"]["responses"]
