"""The read endpoints: health, one commitment (now and as it was), its history, auth."""

from __future__ import annotations

import pytest

from tests.api.client import BASE, Api, problem, serving

CODE = "CMAP-PROS-RAIL"


def test_health_and_readiness(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")  # no token needed
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["log_position"] > 100
    assert body["projection"] == {
        "position": body["log_position"],
        "lag": 0,
        "follower": "off",
        "last_error": None,
        "rebuild": None,
    }


def test_a_commitment_by_code_and_by_uuid(api: Api) -> None:
    response = api.get(f"{BASE}/{CODE}", "viewer")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == CODE and body["pillar"] == "prosperity"
    assert response.headers["ETag"] == f'"{body["version"]}"'
    assert body["milestones"] and body["indicators"] and body["evidence"] and body["source"]
    by_id = api.get(f"{BASE}/{body['id']}", "viewer")
    assert by_id.json() == body and by_id.headers["ETag"] == response.headers["ETag"]


def test_time_travel_queries(api: Api) -> None:
    url = f"{BASE}/{CODE}"
    first = api.json(url, "viewer", params={"version": 1})
    assert (first["version"], first["status"], first["progress"]) == (1, "not_started", None)
    assert first["milestones"] == [] and first["target_date"] is None
    early = api.json(url, "viewer", params={"as_of": "2025-10-01"})
    assert early["progress"] is None and early["health"] is None
    assert early["status"] == "not_started"
    # Facts about the plan hold whatever the date: the milestones added later are there.
    assert len(early["milestones"]) == len(api.commitment(CODE)["milestones"])
    before_seed = api.get(url, "viewer", params={"known_at": "2000-01-01T00:00:00Z"})
    assert "not yet registered" in problem(before_seed, 404)
    problem(api.get(url, "viewer", params={"as_of": "31/12/2025"}), 422)
    both = api.get(url, "viewer", params={"version": 2, "as_of": "2026-01-01"})
    assert "either version" in problem(both, 422)
    assert "no version 999" in problem(api.get(url, "viewer", params={"version": 999}), 404)
    problem(api.get(url, "viewer", params={"version": 0}), 422)
    current = api.get(url, "viewer").headers["ETag"]
    for params in ({"version": 1}, {"as_of": "2025-10-01"}):
        # A past view's ETag validates reads only (a hash of it), never a version.
        tag = api.get(url, "viewer", params=params).headers["ETag"]
        assert tag != current and not tag.strip('"').isdigit()


def test_history_is_every_event_oldest_first(api: Api) -> None:
    history = api.json(f"{BASE}/{CODE}/history", "viewer")
    current = api.commitment(CODE)
    assert [h["version"] for h in history] == list(range(1, current["version"] + 1))
    positions = [h["position"] for h in history]
    assert positions == sorted(positions)
    assert history[0]["type"] == "Registered" and history[0]["actor"] == "seed"
    assert history[0]["data"]["code"] == CODE
    # The seeds register it and translate its title (fr, es); the rest is sample data.
    assert [(h["type"], h["actor"]) for h in history[1:3]] == [("TextTranslated", "seed")] * 2
    assert {h["actor"] for h in history[3:]} == {"sample-data"}
    assert api.json(f"{BASE}/{current['id']}/history", "viewer") == history


def test_unknown_commitments_are_404_problems(api: Api) -> None:
    assert "CMAP-NOT-HERE" in problem(api.get(f"{BASE}/CMAP-NOT-HERE", "viewer"), 404)
    problem(api.get(f"{BASE}/not a code/history", "viewer"), 404)
    problem(api.get(f"{BASE}/CMAP-NOT-HERE/diff", "viewer", params={"from": 1}), 404)
    problem(api.get(f"{BASE}/00000000-0000-0000-0000-000000000000", "viewer"), 404)


@pytest.mark.parametrize(
    "path", [f"{BASE}/{CODE}", f"{BASE}/{CODE}/history", BASE, "/api/v1/events", "/api/v1/ledger"]
)
def test_reads_need_a_valid_token(api: Api, path: str) -> None:
    no_token = api.get(path, None)
    problem(no_token, 401)
    assert no_token.headers["WWW-Authenticate"] == "Bearer"
    wrong = api.get(path, None, headers={"Authorization": "Bearer nope"})
    assert "unknown or revoked" in problem(wrong, 401)
    assert api.get(path, "viewer").status_code == 200


def test_public_read_needs_no_token(seeded_url: str) -> None:
    with serving(seeded_url, public_read=True) as anonymous:
        assert anonymous.get(f"{BASE}/{CODE}", None).status_code == 200
        assert anonymous.get(BASE, None).status_code == 200
        bad = anonymous.get(f"{BASE}/{CODE}", None, headers={"Authorization": "Bearer x"})
        problem(bad, 401)  # a token that is given must still be valid
        # Public reading does not open writing.
        write = {"rating": "red", "rationale": "r"}
        problem(anonymous.post(f"{BASE}/{CODE}/health", None, json=write), 401)


def test_openapi_documents_the_endpoints(api: Api) -> None:
    paths = api.openapi()["paths"]
    assert {f"{BASE}/{{ref}}", f"{BASE}/{{ref}}/history", "/healthz"} <= set(paths)
    assert "404" in paths[f"{BASE}/{{ref}}"]["get"]["responses"]
    parameters = {p["name"] for p in paths[f"{BASE}/{{ref}}"]["get"]["parameters"]}
    assert {"ref", "version", "as_of", "known_at"} <= parameters
