"""Every write endpoint, role and error code of CONTRACT section 4, on both databases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from adapters.event_store import engine_of, open_tracker
from adapters.projection import ReadModelProjection
from adapters.seeds import seed
from adapters.settings import Settings
from adapters.tokens import create_token
from api import projection_reads
from api.app import create_app

BASE = "/api/v1/commitments"
NEW = {
    "code": "CMAP-PROS-HYDRO",
    "title": "Clean hydrogen dialogue",
    "pillar": "prosperity",
    "sectors": ["energy"],
    "parties": ["CA", "MX"],
    "lead_party": "joint",
    "start_date": "2025-09-18",
    "target_date": "2027-06-30",
    "source": {"title": "Reported details of the plan", "quote": "clean hydrogen"},
}


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]
    database_url: str

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def request(self, method: str, path: str, who: str = "admin", **kwargs: Any) -> httpx.Response:
        headers = self.as_(who) | kwargs.pop("headers", {})
        response: httpx.Response = self.client.request(method, path, headers=headers, **kwargs)
        return response

    def project(self) -> None:
        tracker = open_tracker(self.database_url)
        try:
            ReadModelProjection(tracker).catch_up()
        finally:
            tracker.close()

    def history(self, code: str) -> list[dict[str, Any]]:
        response = self.request("GET", f"{BASE}/{code}/history")
        assert response.status_code == 200
        result: list[dict[str, Any]] = response.json()
        return result


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    tracker = open_tracker(database_url)
    engine = engine_of(tracker)
    try:
        seed(tracker)
        tokens = {
            "admin": create_token(engine, name="admin-1", role="admin", party=None),
            "ca": create_token(engine, name="ana.ca", role="editor", party="CA"),
            "mx": create_token(engine, name="luis.mx", role="editor", party="MX"),
            "us": create_token(engine, name="sam.us", role="editor", party="US"),
            "partyless": create_token(engine, name="nobody", role="editor", party=None),
            "viewer": create_token(engine, name="vera", role="viewer", party=None),
        }
    finally:
        tracker.close()
    settings = Settings(
        database_url=database_url, public_read=False, scheduler=False, projector=False
    )
    with TestClient(create_app(settings)) as client:
        yield Api(client, tokens, database_url)


def problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("urn:")
    return str(body["detail"])


# ---- registration ----------------------------------------------------------------------


def test_register_returns_201_location_etag_and_position(api: Api) -> None:
    response = api.request("POST", BASE, "ca", json=NEW)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"{BASE}/CMAP-PROS-HYDRO"
    assert response.headers["ETag"] == '"1"'
    assert int(response.headers["X-Log-Position"]) > 0
    body = response.json()
    assert body["code"] == "CMAP-PROS-HYDRO" and body["status"] == "not_started"
    assert api.history("CMAP-PROS-HYDRO")[0]["actor"] == "ana.ca"
    assert "already registered" in problem(api.request("POST", BASE, json=NEW), 409)


@pytest.mark.parametrize(
    ("who", "status"), [("viewer", 403), ("us", 403), ("partyless", 403), ("mx", 201)]
)
def test_register_needs_a_writer_of_one_of_the_parties(api: Api, who: str, status: int) -> None:
    response = api.request("POST", BASE, who, json=NEW)
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"pillar": "wellbeing"}, "pillar"),
        ({"code": "bad code"}, "code"),
        ({"lead_party": "US"}, "lead_party"),
        ({"sectors": []}, "sector"),
        ({"unexpected": 1}, "unexpected"),
        ({"target_date": "2025-01-01"}, "before start_date"),
        ({"start_date": "18/09/2025"}, "start_date"),
    ],
)
def test_register_rejects_bad_bodies_with_422(
    api: Api, change: dict[str, Any], fragment: str
) -> None:
    assert fragment in problem(api.request("POST", BASE, json=NEW | change), 422)


def test_malformed_json_and_missing_fields_are_422(api: Api) -> None:
    bad_json = api.request(
        "POST", BASE, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    problem(bad_json, 422)
    missing = {k: v for k, v in NEW.items() if k != "title"}
    assert "title" in problem(api.request("POST", BASE, json=missing), 422)


def test_no_or_bad_token_is_401(api: Api) -> None:
    problem(api.client.post(BASE, json=NEW), 401)
    problem(api.client.post(BASE, json=NEW, headers={"Authorization": "Bearer nope"}), 401)


def test_bodies_over_64_kib_are_413(api: Api) -> None:
    big = NEW | {"description": "x" * (65 * 1024)}
    assert "64 KiB" in problem(api.request("POST", BASE, json=big), 413)


# ---- progress, If-Match and Idempotency-Key -------------------------------------------


def test_progress_moves_to_in_progress_and_returns_the_commitment(api: Api) -> None:
    response = api.request(
        "POST",
        f"{BASE}/CMAP-PROS-RAIL/progress",
        "mx",
        json={
            "percent": 25,
            "as_of": "2026-03-31",
            "note": "Study begun",
            "confidence": 6,
            "evidence": [{"url": "https://example.org/r", "title": "Report"}],
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["progress"], body["status"], body["confidence"]) == (25, "in_progress", 6)
    assert response.headers["ETag"] == f'"{body["version"]}"'
    assert body["evidence"][0]["url"] == "https://example.org/r"
    types = [e["type"] for e in api.history("CMAP-PROS-RAIL")[-2:]]
    assert types == ["ProgressLogged", "StatusChanged"]


@pytest.mark.parametrize(
    "body",
    [
        {"percent": 101, "as_of": "2026-01-01", "note": "n"},
        {"percent": -1, "as_of": "2026-01-01", "note": "n"},
        {"percent": 5, "as_of": "2026-01-01", "note": "n", "confidence": 11},
        {"percent": 5, "as_of": "2999-01-01", "note": "n"},
        {"percent": 5, "as_of": "2026-01-01", "note": "  "},
        {"percent": 5, "note": "n"},
    ],
)
def test_bad_progress_is_422_and_writes_nothing(api: Api, body: dict[str, Any]) -> None:
    before = len(api.history("CMAP-PROS-RAIL"))
    problem(api.request("POST", f"{BASE}/CMAP-PROS-RAIL/progress", json=body), 422)
    assert len(api.history("CMAP-PROS-RAIL")) == before


def test_if_match_makes_a_write_conditional(api: Api) -> None:
    url = f"{BASE}/CMAP-PROS-RAIL/progress"
    body = {"percent": 10, "as_of": "2026-01-31", "note": "n"}
    version = api.request("GET", f"{BASE}/CMAP-PROS-RAIL").headers["ETag"]
    ok = api.request("POST", url, json=body, headers={"If-Match": version})
    assert ok.status_code == 201
    stale = api.request("POST", url, json=body, headers={"If-Match": version})
    assert "expected version" in problem(stale, 412)
    assert problem(api.request("POST", url, json=body, headers={"If-Match": "seven"}), 400)
    weak = api.request("POST", url, json=body, headers={"If-Match": f"W/{ok.headers['ETag']}"})
    assert weak.status_code == 201


def test_idempotency_key_replays_the_first_response_without_writing(api: Api) -> None:
    url = f"{BASE}/CMAP-PROS-RAIL/progress"
    body = {"percent": 30, "as_of": "2026-02-28", "note": "Feb"}
    first = api.request("POST", url, json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    events = len(api.history("CMAP-PROS-RAIL"))
    again = api.request("POST", url, json=body, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["X-Log-Position"] == first.headers["X-Log-Position"]
    assert len(api.history("CMAP-PROS-RAIL")) == events
    other = api.request(
        "POST", url, json=body | {"percent": 31}, headers={"Idempotency-Key": "k-1"}
    )
    assert "different request" in problem(other, 422)
    # Keys belong to their token: another writer's same key is a new request.
    mine = api.request("POST", url, "mx", json=body, headers={"Idempotency-Key": "k-1"})
    assert mine.status_code == 201 and "Idempotent-Replayed" not in mine.headers
    assert problem(api.request("POST", url, json=body, headers={"Idempotency-Key": "a b"}), 400)


def test_concurrent_retries_with_one_key_write_once(api: Api) -> None:
    url = f"{BASE}/CMAP-SEC-CYBER/health"
    body = {"rating": "amber", "rationale": "r"}
    before = len(api.history("CMAP-SEC-CYBER"))
    results: list[httpx.Response] = []

    def call() -> None:
        results.append(api.request("POST", url, json=body, headers={"Idempotency-Key": "same"}))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results) == [200] * 6
    assert len({r.content for r in results}) == 1
    assert len(api.history("CMAP-SEC-CYBER")) == before + 1


def test_concurrent_writes_without_if_match_all_land_and_never_500(api: Api) -> None:
    url = f"{BASE}/CMAP-PROS-PORTS/progress"
    results: list[int] = []

    def call(i: int) -> None:
        r = api.request("POST", url, json={"percent": i, "as_of": "2026-05-01", "note": f"c{i}"})
        results.append(r.status_code)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [201] * 12
    notes = {
        e["data"]["note"] for e in api.history("CMAP-PROS-PORTS") if e["type"] == "ProgressLogged"
    }
    assert notes == {f"c{i}" for i in range(12)}


# ---- the other writes ----------------------------------------------------------------------


def test_status_health_and_revisions(api: Api) -> None:
    code = "CMAP-PROS-RAIL"
    moved = api.request(
        "POST", f"{BASE}/{code}/status", "ca", json={"status": "in_progress", "reason": "go"}
    )
    assert moved.status_code == 200 and moved.json()["status"] == "in_progress"
    invalid = api.request(
        "POST", f"{BASE}/{code}/status", json={"status": "not_started", "reason": "r"}
    )
    assert "cannot change status" in problem(invalid, 409)
    assert problem(
        api.request("POST", f"{BASE}/{code}/status", json={"status": "done", "reason": "r"}), 422
    )
    superseded = api.request(
        "POST",
        f"{BASE}/{code}/status",
        json={"status": "superseded", "reason": "merged", "superseded_by": "CMAP-NOT-HERE"},
    )
    problem(superseded, 404)
    rated = api.request(
        "POST", f"{BASE}/{code}/health", json={"rating": "amber_red", "rationale": "slow"}
    )
    assert rated.json()["health"] == "amber_red" and rated.json()["health_rationale"] == "slow"
    problem(api.request("POST", f"{BASE}/{code}/health", json={"rating": "amber"}), 422)
    revised = api.request(
        "PATCH",
        f"{BASE}/{code}",
        json={"target_date": "2028-12-31", "title": "Rail", "reason": "plan"},
    )
    assert (revised.json()["target_date"], revised.json()["title"]) == ("2028-12-31", "Rail")
    cleared = api.request(
        "PATCH", f"{BASE}/{code}", json={"target_date": None, "reason": "open-ended"}
    )
    assert cleared.json()["target_date"] is None
    assert "changes nothing" in problem(
        api.request("PATCH", f"{BASE}/{code}", json={"reason": "r"}), 422
    )
    done = api.request(
        "POST", f"{BASE}/{code}/status", json={"status": "completed", "reason": "built"}
    )
    assert done.status_code == 200
    blocked = api.request(
        "POST", f"{BASE}/{code}/health", json={"rating": "green", "rationale": "r"}
    )
    assert "reopen it" in problem(blocked, 409)


def test_milestones_and_indicators(api: Api) -> None:
    code = "CMAP-SEC-CYBER"
    added = api.request(
        "POST", f"{BASE}/{code}/milestones", "mx", json={"title": "MoU", "due_date": "2026-12-31"}
    )
    assert added.status_code == 201, added.text
    milestone = added.json()
    assert milestone["status"] == "planned" and added.headers["Location"].endswith(milestone["id"])
    moved = api.request(
        "PATCH",
        f"{BASE}/{code}/milestones/{milestone['id']}",
        json={"due_date": "2027-03-31", "reason": "slipped", "title": "MoU signed"},
    )
    assert moved.json()["due_date"] == "2027-03-31" and moved.json()["title"] == "MoU signed"
    assert moved.json()["times_rescheduled"] == 1
    no_reason = api.request(
        "PATCH", f"{BASE}/{code}/milestones/{milestone['id']}", json={"due_date": "2027-04-01"}
    )
    assert "reason" in problem(no_reason, 422)
    url = f"{BASE}/{code}/milestones/{milestone['id']}/complete"
    completed = api.request("POST", url, json={"completed_on": "2026-10-01", "note": "signed"})
    assert completed.json()["status"] == "completed"
    assert "already completed" in problem(
        api.request("POST", url, json={"completed_on": "2026-10-02"}), 409
    )
    problem(
        api.request(
            "POST", f"{BASE}/{code}/milestones/m99/complete", json={"completed_on": "2026-10-02"}
        ),
        404,
    )

    defined = api.request(
        "POST",
        f"{BASE}/{code}/indicators",
        json={"name": "Joint exercises", "unit": "count", "baseline": 0, "target": 4},
    )
    assert defined.status_code == 201
    indicator = defined.json()
    measured = api.request(
        "POST",
        f"{BASE}/{code}/indicators/{indicator['id']}/measurements",
        json={"value": 1.5, "as_of": "2026-09-30"},
    )
    assert measured.status_code == 201
    assert measured.json()["latest"] == {"value": 1.5, "as_of": "2026-09-30"}
    problem(
        api.request(
            "POST",
            f"{BASE}/{code}/indicators/i9/measurements",
            json={"value": 1, "as_of": "2026-09-30"},
        ),
        404,
    )
    problem(
        api.request(
            "POST",
            f"{BASE}/{code}/indicators/{indicator['id']}/measurements",
            json={"value": "lots", "as_of": "2026-09-30"},
        ),
        422,
    )

    evidence = {"url": "https://example.org/cyber", "title": "Joint statement"}
    assert api.request("POST", f"{BASE}/{code}/evidence", json=evidence).status_code == 201
    assert "already attached" in problem(
        api.request("POST", f"{BASE}/{code}/evidence", json=evidence), 409
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/progress", {"percent": 1, "as_of": "2026-01-01", "note": "n"}),
        ("POST", "/status", {"status": "in_progress", "reason": "r"}),
        ("POST", "/health", {"rating": "green", "rationale": "r"}),
        ("PATCH", "", {"title": "T", "reason": "r"}),
        ("POST", "/milestones", {"title": "T", "due_date": "2027-01-01"}),
        ("POST", "/indicators", {"name": "N", "unit": "u", "baseline": 0, "target": 1}),
        ("POST", "/evidence", {"url": "https://example.org/z", "title": "Z"}),
    ],
)
def test_editors_write_only_for_their_party(
    api: Api, method: str, path: str, body: dict[str, Any]
) -> None:
    url = f"{BASE}/CMAP-PROS-RAIL{path}"  # parties CA and MX
    assert "may not write" in problem(api.request(method, url, "us", json=body), 403)
    problem(api.request(method, url, "viewer", json=body), 403)
    problem(api.request(method, f"{BASE}/CMAP-NOT-HERE{path}", json=body), 404)
    assert api.request(method, url, "ca", json=body).status_code in (200, 201)


# ---- lists, the feed and the projection -------------------------------------------------


def test_list_filters_and_pages(api: Api) -> None:
    api.request("POST", f"{BASE}/CMAP-SEC-CYBER/health", json={"rating": "red", "rationale": "r"})
    api.request("PATCH", f"{BASE}/CMAP-GOV-EVAL", json={"target_date": "2026-01-31", "reason": "r"})
    api.project()
    everything = api.request("GET", BASE, params={"limit": 500})
    assert everything.status_code == 200
    items = everything.json()["items"]
    assert len(items) == 22 and everything.json()["next_cursor"] is None
    assert [i["code"] for i in items] == sorted(i["code"] for i in items)
    assert int(everything.headers["X-Log-Position"]) > 0

    def codes(**params: Any) -> list[str]:
        response = api.request("GET", BASE, params=params)
        assert response.status_code == 200, response.text
        return [i["code"] for i in response.json()["items"]]

    assert set(codes(pillar="security")) == {i["code"] for i in items if i["pillar"] == "security"}
    assert codes(sector="railways") == ["CMAP-PROS-RAIL"]
    assert codes(party="US") == ["CMAP-GOV-USMCA"]
    assert codes(health="red") == ["CMAP-SEC-CYBER"]
    assert "CMAP-GOV-EVAL" in codes(overdue=True)
    assert "CMAP-GOV-EVAL" not in codes(overdue=False)
    assert set(codes(status="not_started")) == {i["code"] for i in items}
    assert codes(q="hydrogen") == ["CMAP-PROS-ENERGY"] and "CMAP-SEC-CYBER" in codes(q="CYBER")
    assert codes(q="no such words") == []

    pages: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = api.request("GET", BASE, params=params).json()
        pages += [i["code"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [i["code"] for i in items]
    problem(api.request("GET", BASE, params={"cursor": "garbage"}), 422)
    problem(api.request("GET", BASE, params={"limit": 501}), 422)
    problem(api.request("GET", BASE, params={"pillar": "nowhere"}), 422)


def test_min_position_waits_for_the_projection(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    written = api.request("POST", BASE, json=NEW)
    position = int(written.headers["X-Log-Position"])
    monkeypatch.setattr(projection_reads, "MIN_POSITION_WAIT_SECONDS", 0.3)
    behind = api.request("GET", BASE, params={"min_position": position})
    problem(behind, 503)
    assert behind.headers["Retry-After"] == "1"
    api.project()
    caught_up = api.request("GET", BASE, params={"min_position": position, "q": "HYDRO"})
    assert "CMAP-PROS-HYDRO" in [i["code"] for i in caught_up.json()["items"]]


def test_event_feed_in_log_order(api: Api) -> None:
    first = api.request("GET", "/api/v1/events", params={"limit": 10}).json()
    assert [e["position"] for e in first] == list(range(1, 11))
    after = api.request("GET", "/api/v1/events", params={"after": 10, "limit": 5}).json()
    assert [e["position"] for e in after] == list(range(11, 16))
    assert {"commitment_id", "type", "actor", "data", "version"} <= set(after[0])
    problem(api.request("GET", "/api/v1/events", params={"after": -1}), 422)


def test_rebuild_is_admin_only_and_leaves_lists_unchanged(api: Api) -> None:
    api.request(
        "POST",
        f"{BASE}/CMAP-PROS-RAIL/progress",
        json={"percent": 5, "as_of": "2026-01-01", "note": "n"},
    )
    api.project()
    before = api.request("GET", BASE, params={"limit": 500}).json()
    problem(api.request("POST", "/api/v1/admin/projections/rebuild", "ca"), 403)
    accepted = api.request("POST", "/api/v1/admin/projections/rebuild")
    assert accepted.status_code == 202 and accepted.json()["status"] == "rebuilding"
    api.project()
    assert api.request("GET", BASE, params={"limit": 500}).json() == before


def test_readiness_reports_the_projection_lag(api: Api) -> None:
    ready = api.client.get("/readyz").json()
    assert ready["projection"]["lag"] == ready["log_position"] > 0
    assert ready["projection"]["follower"] == "off"
    api.project()
    assert api.client.get("/readyz").json()["projection"]["lag"] == 0


def test_openapi_documents_every_endpoint_and_error(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    paths = spec["paths"]
    expected = {
        ("post", "/api/v1/commitments"),
        ("get", "/api/v1/commitments"),
        ("patch", "/api/v1/commitments/{ref}"),
        ("post", "/api/v1/commitments/{ref}/progress"),
        ("post", "/api/v1/commitments/{ref}/status"),
        ("post", "/api/v1/commitments/{ref}/health"),
        ("post", "/api/v1/commitments/{ref}/milestones"),
        ("patch", "/api/v1/commitments/{ref}/milestones/{milestone_id}"),
        ("post", "/api/v1/commitments/{ref}/milestones/{milestone_id}/complete"),
        ("post", "/api/v1/commitments/{ref}/indicators"),
        ("post", "/api/v1/commitments/{ref}/indicators/{indicator_id}/measurements"),
        ("post", "/api/v1/commitments/{ref}/evidence"),
        ("get", "/api/v1/events"),
        ("post", "/api/v1/admin/projections/rebuild"),
    }
    assert {(m, p) for p, ops in paths.items() for m in ops} >= expected
    progress = paths["/api/v1/commitments/{ref}/progress"]["post"]
    assert {"403", "409", "412", "413", "422"} <= set(progress["responses"])
    headers = {p["name"] for p in progress["parameters"] if p["in"] == "header"}
    assert {"if-match", "idempotency-key"} <= headers
    assert spec["components"]["schemas"]["ProgressIn"]["examples"]


# ---- hostile and odd input (found by exploratory testing) -------------------------------


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"code": "CMAP-SEC-TWO\n"}, "code"),
        ({"title": "a\u0000b"}, "control characters"),
        ({"parties": ["CA", "XX"]}, "alpha-2"),
    ],
)
def test_hostile_registrations_are_422_and_stored_nowhere(
    api: Api, change: dict[str, Any], fragment: str
) -> None:
    assert fragment in problem(api.request("POST", BASE, json=NEW | change), 422)
    api.project()
    assert api.client.get("/readyz").json()["projection"]["lag"] == 0


@pytest.mark.parametrize("value", ["1e400", 10**400, "0.1000000000000000000001"])
def test_out_of_range_indicator_numbers_are_422(api: Api, value: Any) -> None:
    body = {"name": "N", "unit": "u", "baseline": 0, "target": value}
    problem(api.request("POST", f"{BASE}/CMAP-SEC-CYBER/indicators", json=body), 422)
    assert api.request("GET", f"{BASE}/CMAP-SEC-CYBER").status_code == 200


@pytest.mark.parametrize("percent", [True, "30", 30.0])
def test_percent_must_be_a_json_integer(api: Api, percent: Any) -> None:
    body = {"percent": percent, "as_of": "2026-01-01", "note": "n"}
    problem(api.request("POST", f"{BASE}/CMAP-SEC-CYBER/progress", json=body), 422)


def test_patch_with_null_collections_is_422(api: Api) -> None:
    for body in ({"agencies": None, "reason": "r"}, {"sectors": None, "reason": "r"}):
        problem(api.request("PATCH", f"{BASE}/CMAP-PROS-RAIL", json=body), 422)


def test_huge_positions_and_versions_are_422(api: Api) -> None:
    problem(api.request("GET", "/api/v1/events", params={"after": 10**30}), 422)
    problem(api.request("GET", BASE, params={"min_position": 10**30}), 422)
    problem(api.request("GET", f"{BASE}/CMAP-PROS-RAIL", params={"version": 10**12}), 422)


def test_a_chunked_body_over_64_kib_is_413(api: Api) -> None:
    big = json_bytes(NEW | {"description": "x" * (70 * 1024)})

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    response = api.request(
        "POST", BASE, content=chunks(), headers={"Content-Type": "application/json"}
    )
    problem(response, 413)


def json_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("if_match", "status"),
    [('"99999999999999"', 412), ('W/"abc"', 412), ('"5", "6"', 400), ("garbage here", 400)],
)
def test_if_match_variants(api: Api, if_match: str, status: int) -> None:
    body = {"rating": "green", "rationale": "r"}
    response = api.request(
        "POST", f"{BASE}/CMAP-PROS-RAIL/health", json=body, headers={"If-Match": if_match}
    )
    problem(response, status)


def test_registration_takes_no_if_match(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    parameters = spec["paths"][BASE]["post"].get("parameters", [])
    assert "if-match" not in {p["name"] for p in parameters}
    assert "412" not in spec["paths"][BASE]["post"]["responses"]


def test_filters_are_case_insensitive_and_validated(api: Api) -> None:
    api.project()
    upper = api.request("GET", BASE, params={"party": "US"}).json()["items"]
    lower = api.request("GET", BASE, params={"party": "us"}).json()["items"]
    assert upper == lower and [i["code"] for i in upper] == ["CMAP-GOV-USMCA"]
    assert api.request("GET", BASE, params={"sector": "RAILWAYS"}).json()["items"]
    problem(api.request("GET", BASE, params={"party": "XX"}), 422)


def test_concurrent_retries_of_a_repeat_refusing_command_replay(api: Api) -> None:
    url = f"{BASE}/CMAP-SEC-CYBER/evidence"
    body = {"url": "https://example.org/once", "title": "Once"}
    results: list[httpx.Response] = []

    def call() -> None:
        results.append(api.request("POST", url, json=body, headers={"Idempotency-Key": "ev-1"}))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results) == [201] * 8
    attached = [e for e in api.history("CMAP-SEC-CYBER") if e["type"] == "EvidenceAttached"]
    assert len(attached) == 1


def test_malformed_json_is_explained(api: Api) -> None:
    response = api.request(
        "POST", BASE, content=b'{"code": ', headers={"Content-Type": "application/json"}
    )
    assert "not valid JSON" in problem(response, 422)
    as_text = api.request("POST", BASE, content=b"{}", headers={"Content-Type": "text/plain"})
    assert "JSON object" in problem(as_text, 422)


def test_problems_are_documented_as_problem_json(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    responses = spec["paths"][f"{BASE}/{{ref}}/progress"]["post"]["responses"]
    assert "application/problem+json" in responses["409"]["content"]
    assert {"ETag", "X-Log-Position"} <= set(responses["201"]["headers"])
    assert "ProblemOut" in spec["components"]["schemas"]
    feed = spec["paths"]["/api/v1/events"]["get"]["responses"]
    assert "404" not in feed
