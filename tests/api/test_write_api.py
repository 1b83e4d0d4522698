"""Every write endpoint of CONTRACT section 4 over HTTP: roles and party scope, status codes
and headers, problem+json errors, If-Match, Idempotency-Key; the list, the feed and the
projection. On SQLite (PostgreSQL's own behaviour: test_postgres_api.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from adapters.rebuild import Rebuild
from api import projection_reads
from domain import clock
from tests.api.client import BASE, Api, problem, serving

RAIL = "CMAP-PROS-RAIL"  # CA-MX; stalled in the sample history, open milestone m2, indicator i1
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

# Every write on a commitment: method, path after the commitment, a valid body for RAIL,
# the status it answers with, and what its body is (the commitment, a milestone, an
# indicator).
WRITES = [
    ("POST", "/progress", {"percent": 35, "as_of": "2026-10-01", "note": "n"}, 201, "commitment"),
    ("POST", "/status", {"status": "in_progress", "reason": "r"}, 200, "commitment"),
    ("POST", "/health", {"rating": "green", "rationale": "r"}, 200, "commitment"),
    ("PATCH", "", {"title": "T", "reason": "r"}, 200, "commitment"),
    ("POST", "/milestones", {"title": "T", "due_date": "2027-01-01"}, 201, "milestone"),
    ("PATCH", "/milestones/m2", {"title": "T2"}, 200, "milestone"),
    ("POST", "/milestones/m2/complete", {"completed_on": "2026-10-01"}, 200, "milestone"),
    (
        "POST",
        "/indicators",
        {"name": "N", "unit": "u", "baseline": 0, "target": 1},
        201,
        "indicator",
    ),
    ("POST", "/indicators/i1/measurements", {"value": 1, "as_of": "2026-10-01"}, 201, "indicator"),
    ("POST", "/evidence", {"url": "https://example.org/z", "title": "Z"}, 201, "commitment"),
    ("PUT", "/translations/fr", {"title": "T fr", "milestones": {"m2": "J2"}}, 200, "commitment"),
]
WRITE_IDS = [f"{method} {path or '/'}" for method, path, *_ in WRITES]
CREATES = {"/milestones", "/indicators"}


def in_threads(count: int, call: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """Run `call(i)` for i in range(count) at once; the responses, in order of i."""
    results: list[httpx.Response | None] = [None] * count
    start = threading.Barrier(count)

    def run(i: int) -> None:
        start.wait()
        results[i] = call(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


# ---- registration ----------------------------------------------------------------------


def test_register_returns_201_location_etag_and_position(api: Api) -> None:
    response = api.post(BASE, "ca", json=NEW)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"{BASE}/CMAP-PROS-HYDRO"
    assert response.headers["ETag"] == '"1"'
    history = api.history("CMAP-PROS-HYDRO")
    assert int(response.headers["X-Log-Position"]) == history[-1]["position"] == api.head()
    body = response.json()
    assert body["code"] == "CMAP-PROS-HYDRO" and body["status"] == "not_started"
    assert body == api.commitment("CMAP-PROS-HYDRO")
    assert [(h["type"], h["actor"]) for h in history] == [("Registered", api.actor("ca"))]
    assert "already registered" in problem(api.post(BASE, json=NEW), 409)


def test_registration_plans_milestones_in_the_same_write(api: Api) -> None:
    before = api.head()
    planned = [
        {"title": "Dialogue launched", "due_date": "2026-03-31"},
        {"title": "Hydrogen roadmap", "due_date": "2099-06-30"},
    ]
    response = api.post(BASE, "mx", json=NEW | {"milestones": planned})
    assert response.status_code == 201, response.text
    assert response.headers["ETag"] == '"3"'
    assert int(response.headers["X-Log-Position"]) == before + 3
    body = response.json()
    assert [(m["id"], m["title"], m["due_date"], m["status"]) for m in body["milestones"]] == [
        ("m1", "Dialogue launched", "2026-03-31", "missed"),
        ("m2", "Hydrogen roadmap", "2099-06-30", "planned"),
    ]
    assert body["milestones"][0]["original_due_date"] == "2026-03-31"
    assert body["milestones_total"] == 2 and body["milestones_missed"] == 1
    assert body["next_milestone"] == {
        "id": "m1",
        "title": "Dialogue launched",
        "due_date": "2026-03-31",
    }
    history = api.history("CMAP-PROS-HYDRO")
    assert [(h["type"], h["actor"]) for h in history] == [
        ("Registered", api.actor("mx")),
        ("MilestoneAdded", api.actor("mx")),
        ("MilestoneAdded", api.actor("mx")),
    ]
    assert [h["position"] for h in history] == [before + 1, before + 2, before + 3]


@pytest.mark.parametrize(
    ("milestones", "status", "fragment"),
    [
        ([{"title": "No date"}], 422, "due_date"),
        ([{"title": "T", "due_date": "2026-13-01"}], 422, "due_date"),
        ([{"title": "T", "due_date": "2200-01-01"}], 422, "outside"),
        ([{"title": "\n", "due_date": "2026-01-01"}], 422, "title"),
        ([{"title": "T", "due_date": "2026-01-01", "extra": 1}], 422, "extra"),
        ([{"title": f"M{i}", "due_date": "2027-01-01"} for i in range(101)], 422, "milestones"),
        (
            [
                {"title": "Same", "due_date": "2026-01-01"},
                {"title": "same", "due_date": "2027-01-01"},
            ],
            422,
            "different titles",
        ),
    ],
    ids=["no-date", "bad-date", "date-out-of-range", "blank-title", "extra", "101", "duplicate"],
)
def test_bad_planned_milestones_register_nothing(
    api: Api, milestones: list[dict[str, Any]], status: int, fragment: str
) -> None:
    before = api.head()
    assert fragment in problem(api.post(BASE, json=NEW | {"milestones": milestones}), status)
    assert api.head() == before
    problem(api.get(f"{BASE}/CMAP-PROS-HYDRO"), 404)


@pytest.mark.parametrize(
    ("who", "status"), [("viewer", 403), ("us", 403), ("partyless", 403), ("mx", 201)]
)
def test_register_needs_a_writer_of_one_of_the_parties(api: Api, who: str, status: int) -> None:
    response = api.post(BASE, who, json=NEW)
    assert response.status_code == status, response.text
    if status == 403:
        problem(response, 403)
        problem(api.get(f"{BASE}/CMAP-PROS-HYDRO"), 404)


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
    assert fragment in problem(api.post(BASE, json=NEW | change), 422)


def test_malformed_json_and_missing_fields_are_422(api: Api) -> None:
    bad_json = api.post(BASE, content=b"{not json", headers={"Content-Type": "application/json"})
    problem(bad_json, 422)
    missing = {k: v for k, v in NEW.items() if k != "title"}
    response = api.post(BASE, json=missing)
    assert "title" in problem(response, 422)
    assert {"field": "body.title", "message": "Field required"} in response.json()["errors"]


def test_no_or_bad_token_is_401(api: Api) -> None:
    anonymous = api.post(BASE, None, json=NEW)
    problem(anonymous, 401)
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    wrong = api.post(BASE, None, json=NEW, headers={"Authorization": "Bearer nope"})
    assert "unknown or revoked" in problem(wrong, 401)


def test_bodies_over_64_kib_are_413(api: Api) -> None:
    big = NEW | {"description": "x" * (65 * 1024)}
    assert "64 KiB" in problem(api.post(BASE, json=big), 413)


def test_a_body_of_exactly_64_kib_is_read(api: Api) -> None:
    """The limit is 64 KiB: a body of that size is read (and judged on its content)."""
    short = json.dumps(NEW | {"description": ""}).encode()
    exact = json.dumps(NEW | {"description": "x" * (64 * 1024 - len(short))}).encode()
    assert len(exact) == 64 * 1024
    headers = {"Content-Type": "application/json"}
    assert "description" in problem(api.post(BASE, content=exact, headers=headers), 422)
    problem(api.post(BASE, content=exact + b" ", headers=headers), 413)


def test_a_chunked_body_over_64_kib_is_413(api: Api) -> None:
    big = json.dumps(NEW | {"description": "x" * (70 * 1024)}).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    response = api.post(BASE, content=chunks(), headers={"Content-Type": "application/json"})
    problem(response, 413)
    problem(api.get(f"{BASE}/CMAP-PROS-HYDRO"), 404)


# ---- what every write answers with ----------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "status", "kind"), WRITES, ids=WRITE_IDS)
def test_every_write_answers_with_its_version_position_and_resource(
    api: Api, method: str, path: str, body: dict[str, Any], status: int, kind: str
) -> None:
    response = api.request(method, f"{BASE}/{RAIL}{path}", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert "Idempotent-Replayed" not in response.headers
    history = api.history(RAIL)
    current = api.get(f"{BASE}/{RAIL}")
    assert response.headers["ETag"] == current.headers["ETag"] == f'"{history[-1]["version"]}"'
    assert int(response.headers["X-Log-Position"]) == history[-1]["position"] == api.head()
    resource = current.json()
    answer = response.json()
    if kind == "commitment":
        assert answer == resource
    else:
        [expected] = [r for r in resource[f"{kind}s"] if r["id"] == answer["id"]]
        assert answer == expected
    if path in CREATES:
        assert response.headers["Location"] == f"{BASE}/{RAIL}{path}/{answer['id']}"
    else:
        assert "Location" not in response.headers


def test_a_write_answers_as_of_the_day_it_was_recorded(api: Api) -> None:
    """Derived fields (overdue, missed) in a write's answer are judged on the day the write
    was recorded, so its replay, months later, is the same answer."""
    body = NEW | {
        "target_date": "2026-06-30",
        "milestones": [{"title": "Kick-off", "due_date": "2026-05-01"}],
    }
    key = {"Idempotency-Key": "register-in-april"}
    with clock.frozen_at(datetime(2026, 4, 1, 12, tzinfo=UTC)):
        first = api.post(BASE, json=body, headers=key)
    assert first.status_code == 201, first.text
    then = first.json()
    assert then["updated_at"] == "2026-04-01T12:00:00+00:00"
    assert (then["overdue"], then["milestones_missed"]) == (False, 0)
    assert then["milestones"][0]["status"] == "planned"
    now = api.commitment("CMAP-PROS-HYDRO")  # read today, long after both dates
    assert (now["overdue"], now["milestones_missed"]) == (True, 1)
    assert now["milestones"][0]["status"] == "missed"
    again = api.post(BASE, json=body, headers=key)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.headers["Location"] == first.headers["Location"]


# ---- progress, If-Match and Idempotency-Key -------------------------------------------


def test_progress_moves_to_in_progress_and_returns_the_commitment(api: Api) -> None:
    code = "CMAP-PROS-SME"  # not started
    response = api.post(
        f"{BASE}/{code}/progress",
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
    latest = api.history(code)[-2:]
    assert [(e["type"], e["actor"]) for e in latest] == [
        ("ProgressLogged", api.actor("mx")),
        ("StatusChanged", api.actor("mx")),
    ]
    assert int(response.headers["X-Log-Position"]) == latest[-1]["position"]


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
    ids=["over-100", "negative", "confidence-11", "future", "blank-note", "no-date"],
)
def test_bad_progress_is_422_and_writes_nothing(api: Api, body: dict[str, Any]) -> None:
    before = api.head()
    problem(api.post(f"{BASE}/{RAIL}/progress", json=body), 422)
    assert api.head() == before


def test_if_match_makes_a_write_conditional(api: Api) -> None:
    url = f"{BASE}/{RAIL}/progress"
    body = {"percent": 10, "as_of": "2026-01-31", "note": "n"}
    version = api.get(f"{BASE}/{RAIL}").headers["ETag"]
    ok = api.post(url, json=body, headers={"If-Match": version})
    assert ok.status_code == 201
    assert ok.headers["ETag"] == f'"{int(version.strip(chr(34))) + 1}"'
    stale = api.post(url, json=body, headers={"If-Match": version})
    assert "expected version" in problem(stale, 412)
    assert problem(api.post(url, json=body, headers={"If-Match": "seven"}), 400)
    # If-Match compares strongly (RFC 9110): a weak tag never matches, nor does a tag
    # that is no version; neither is reported as an "expected version".
    weak = api.post(url, json=body, headers={"If-Match": f"W/{ok.headers['ETag']}"})
    assert "weak" in problem(weak, 412)
    for tag in ('"abc"', '""', '"-1"', '"99999999999999999999999999"'):
        assert "matches no version" in problem(
            api.post(url, json=body, headers={"If-Match": tag}), 412
        )
    bare = api.post(url, json=body, headers={"If-Match": ok.headers["ETag"].strip('"')})
    assert bare.status_code == 201
    assert api.post(url, json=body, headers={"If-Match": "*"}).status_code == 201


@pytest.mark.parametrize(
    ("if_match", "status"),
    [('"99999999999999"', 412), ('W/"abc"', 412), ('"5", "6"', 400), ("garbage here", 400)],
)
def test_if_match_variants(api: Api, if_match: str, status: int) -> None:
    before = api.head()
    body = {"rating": "green", "rationale": "r"}
    response = api.post(f"{BASE}/{RAIL}/health", json=body, headers={"If-Match": if_match})
    problem(response, status)
    assert api.head() == before


def test_idempotency_key_replays_the_first_response_without_writing(api: Api) -> None:
    url = f"{BASE}/{RAIL}/progress"
    body = {"percent": 30, "as_of": "2026-02-28", "note": "Feb"}
    first = api.post(url, json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    head = api.head()
    again = api.post(url, json=body, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["X-Log-Position"] == first.headers["X-Log-Position"]
    assert api.head() == head
    # The body is fingerprinted as JSON: the same fields in another order are the same.
    reordered = json.dumps(dict(reversed(body.items())))
    same = api.post(
        url,
        content=reordered,
        headers={"Idempotency-Key": "k-1", "Content-Type": "application/json"},
    )
    assert same.status_code == 201 and same.content == first.content
    # Keys belong to their token: another writer's same key is a new request.
    mine = api.post(url, "mx", json=body, headers={"Idempotency-Key": "k-1"})
    assert mine.status_code == 201 and "Idempotent-Replayed" not in mine.headers
    assert api.head() == head + 1
    assert problem(api.post(url, json=body, headers={"Idempotency-Key": "a b"}), 400)
    problem(api.post(url, json=body, headers={"Idempotency-Key": "k" * 201}), 400)


def test_a_reused_key_with_another_request_is_422(api: Api) -> None:
    url = f"{BASE}/{RAIL}/progress"
    body = {"percent": 30, "as_of": "2026-02-28", "note": "Feb"}
    key = {"Idempotency-Key": "k-2"}
    assert api.post(url, json=body, headers=key).status_code == 201
    head = api.head()
    for response in (
        api.post(url, json=body | {"percent": 31}, headers=key),  # another body
        api.post(f"{BASE}/CMAP-PROS-PORTS/progress", json=body, headers=key),  # another target
    ):
        assert "different request" in problem(response, 422)
        assert response.json()["type"] == "urn:commitments:problem:idempotency-key-reused"
    assert api.head() == head


def test_a_reused_key_with_a_revision_that_names_another_field_is_422(api: Api) -> None:
    key = {"Idempotency-Key": "k-revise"}
    kept = api.patch(f"{BASE}/{RAIL}", json={"title": "Rail", "reason": "r"}, headers=key)
    assert kept.status_code == 200 and kept.json()["target_date"] is not None
    # Another request: this one would clear the target date.
    cleared = {"title": "Rail", "reason": "r", "target_date": None}
    assert "different request" in problem(
        api.patch(f"{BASE}/{RAIL}", json=cleared, headers=key), 422
    )


def test_a_retried_conditional_write_is_answered_by_its_record(api: Api) -> None:
    """The retry of a write that succeeded is not refused as stale (412): the If-Match
    was right the first time, and the key says it is the same request."""
    url = f"{BASE}/{RAIL}/health"
    body = {"rating": "amber", "rationale": "r"}
    headers = {"Idempotency-Key": "k-cond", "If-Match": api.get(f"{BASE}/{RAIL}").headers["ETag"]}
    first = api.post(url, json=body, headers=headers)
    assert first.status_code == 200, first.text
    again = api.post(url, json=body, headers=headers)
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (200, "true")
    assert again.content == first.content
    # Without the key, the same stale If-Match is a 412.
    problem(api.post(url, json=body, headers={"If-Match": headers["If-Match"]}), 412)


def test_a_key_whose_request_failed_is_not_taken(api: Api) -> None:
    """Only a write that happened is recorded: a refused request leaves its key free."""
    url = f"{BASE}/{RAIL}/evidence"
    key = {"Idempotency-Key": "k-failed"}
    taken = {"url": "https://example.org/sample/rail-1", "title": "Already attached"}
    assert "already attached" in problem(api.post(url, json=taken, headers=key), 409)
    fresh = api.post(url, json={"url": "https://example.org/new", "title": "New"}, headers=key)
    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh.headers


def test_a_replay_is_rendered_from_the_log_at_the_recorded_version(api: Api) -> None:
    """The answer to a key is not stored: it is rendered again from the event store at
    the version the first write reached, byte for byte, whatever happened since."""
    url = f"{BASE}/CMAP-PROS-PORTS/progress"
    body = {"percent": 60, "as_of": "2026-10-31", "note": "October"}
    key = {"Idempotency-Key": "k-moved"}
    first = api.post(url, json=body, headers=key)
    assert first.status_code == 201, first.text
    moved = api.post(
        f"{BASE}/CMAP-PROS-PORTS/health", json={"rating": "red", "rationale": "moved on"}
    )
    assert moved.status_code == 200 and moved.headers["ETag"] != first.headers["ETag"]
    again = api.post(url, json=body, headers=key)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert (again.headers["ETag"], again.headers["X-Log-Position"]) == (
        first.headers["ETag"],
        first.headers["X-Log-Position"],
    )
    assert again.json()["health"] != "red"
    # Another process (nothing in its memory) answers with the same bytes.
    with serving(api.url) as other:
        other.tokens.update(api.tokens)
        elsewhere = other.post(url, json=body, headers=key)
    assert elsewhere.headers["Idempotent-Replayed"] == "true"
    assert elsewhere.content == first.content


def test_a_replayed_create_keeps_its_location_and_its_first_answer(api: Api) -> None:
    url = f"{BASE}/{RAIL}/milestones"
    body = {"title": "Financing agreed", "due_date": "2026-05-01"}
    key = {"Idempotency-Key": "add-m3"}
    with clock.frozen_at(datetime(2026, 4, 1, 12, tzinfo=UTC)):
        first = api.post(url, json=body, headers=key)
    assert first.status_code == 201, first.text
    milestone = first.json()
    assert milestone["status"] == "planned"  # on 1 April, the day it was added
    renamed = api.patch(f"{url}/{milestone['id']}", json={"title": "Financing signed"})
    assert renamed.status_code == 200 and renamed.json()["title"] == "Financing signed"
    assert renamed.json()["status"] == "missed"  # today
    again = api.post(url, json=body, headers=key)
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (201, "true")
    assert again.content == first.content
    assert (again.json()["title"], again.json()["status"]) == ("Financing agreed", "planned")
    assert again.headers["Location"] == first.headers["Location"] == f"{url}/{milestone['id']}"


def test_concurrent_retries_with_one_key_write_once(api: Api) -> None:
    url = f"{BASE}/CMAP-SEC-CYBER/health"
    body = {"rating": "amber", "rationale": "r"}
    api.token("admin")
    head = api.head()
    results = in_threads(6, lambda _: api.post(url, json=body, headers={"Idempotency-Key": "same"}))
    assert [r.status_code for r in results] == [200] * 6
    assert len({r.content for r in results}) == 1
    assert sorted(r.headers.get("Idempotent-Replayed", "") for r in results) == [""] + ["true"] * 5
    assert api.head() == head + 1


def test_concurrent_retries_of_a_repeat_refusing_command_replay(api: Api) -> None:
    url = f"{BASE}/CMAP-SEC-CYBER/evidence"
    body = {"url": "https://example.org/once", "title": "Once"}
    api.token("admin")
    results = in_threads(8, lambda _: api.post(url, json=body, headers={"Idempotency-Key": "ev"}))
    assert [r.status_code for r in results] == [201] * 8
    assert len({r.content for r in results}) == 1
    attached = [
        e
        for e in api.history("CMAP-SEC-CYBER")
        if e["type"] == "EvidenceAttached" and e["data"]["evidence"]["url"] == body["url"]
    ]
    assert len(attached) == 1


def test_concurrent_writes_without_if_match_all_land_and_never_500(api: Api) -> None:
    url = f"{BASE}/CMAP-PROS-PORTS/progress"
    api.token("admin")
    before = len(api.history("CMAP-PROS-PORTS"))
    results = in_threads(
        12, lambda i: api.post(url, json={"percent": i, "as_of": "2026-05-01", "note": f"c{i}"})
    )
    assert [r.status_code for r in results] == [201] * 12
    history = api.history("CMAP-PROS-PORTS")
    assert len(history) == before + 12
    assert {e["data"]["note"] for e in history[before:]} == {f"c{i}" for i in range(12)}
    assert sorted(r.headers["ETag"] for r in results) == sorted(
        f'"{e["version"]}"' for e in history[before:]
    )


# ---- the other writes ----------------------------------------------------------------------


def test_status_health_and_revisions(api: Api) -> None:
    code = "CMAP-PROS-AGRI"  # not started
    moved = api.post(f"{BASE}/{code}/status", "ca", json={"status": "in_progress", "reason": "go"})
    assert moved.status_code == 200 and moved.json()["status"] == "in_progress"
    assert moved.json()["status_reason"] == "go"
    invalid = api.post(f"{BASE}/{code}/status", json={"status": "not_started", "reason": "r"})
    assert "cannot change status" in problem(invalid, 409)
    problem(api.post(f"{BASE}/{code}/status", json={"status": "done", "reason": "r"}), 422)
    superseded = api.post(
        f"{BASE}/{code}/status",
        json={"status": "superseded", "reason": "merged", "superseded_by": "CMAP-NOT-HERE"},
    )
    assert "superseded_by" in problem(superseded, 422)
    rated = api.post(f"{BASE}/{code}/health", json={"rating": "amber_red", "rationale": "slow"})
    assert rated.json()["health"] == "amber_red" and rated.json()["health_rationale"] == "slow"
    problem(api.post(f"{BASE}/{code}/health", json={"rating": "amber"}), 422)
    revised = api.patch(
        f"{BASE}/{code}", json={"target_date": "2028-12-31", "title": "Agri", "reason": "plan"}
    )
    assert (revised.json()["target_date"], revised.json()["title"]) == ("2028-12-31", "Agri")
    cleared = api.patch(f"{BASE}/{code}", json={"target_date": None, "reason": "open-ended"})
    assert cleared.json()["target_date"] is None
    assert cleared.json()["title"] == "Agri"  # fields not named stay as they are
    assert "changes nothing" in problem(api.patch(f"{BASE}/{code}", json={"reason": "r"}), 422)
    done = api.post(f"{BASE}/{code}/status", json={"status": "completed", "reason": "built"})
    assert done.status_code == 200
    blocked = api.post(f"{BASE}/{code}/health", json={"rating": "green", "rationale": "r"})
    assert "reopen it" in problem(blocked, 409)
    types = [e["type"] for e in api.history(code)[3:]]  # after registration, fr and es titles
    assert types == [
        "StatusChanged",
        "HealthRated",
        "DetailsRevised",
        "DetailsRevised",
        "ClosureConfirmed",  # an admin closed this CA-MX commitment alone
        "StatusChanged",
    ]


def test_a_commitment_is_superseded_by_a_registered_one(api: Api) -> None:
    response = api.post(
        f"{BASE}/CMAP-PROS-AGRI/status",
        json={"status": "superseded", "reason": "merged", "superseded_by": RAIL},
    )
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["superseded_by"]) == ("superseded", RAIL)


def test_milestones_and_indicators(api: Api) -> None:
    code = "CMAP-SEC-CYBER"
    added = api.post(
        f"{BASE}/{code}/milestones", "mx", json={"title": "MoU", "due_date": "2026-12-31"}
    )
    assert added.status_code == 201, added.text
    milestone = added.json()
    assert milestone["status"] == "planned" and added.headers["Location"].endswith(milestone["id"])
    moved = api.patch(
        f"{BASE}/{code}/milestones/{milestone['id']}",
        json={"due_date": "2027-03-31", "reason": "slipped", "title": "MoU signed"},
    )
    assert moved.json()["due_date"] == "2027-03-31" and moved.json()["title"] == "MoU signed"
    assert moved.json()["original_due_date"] == "2026-12-31"
    assert moved.json()["times_rescheduled"] == 1
    assert [e["type"] for e in api.history(code)[-2:]] == [
        "MilestoneRescheduled",
        "MilestoneRetitled",
    ]
    no_reason = api.patch(
        f"{BASE}/{code}/milestones/{milestone['id']}", json={"due_date": "2027-04-01"}
    )
    assert "reason" in problem(no_reason, 422)
    problem(api.patch(f"{BASE}/{code}/milestones/{milestone['id']}", json={}), 422)
    url = f"{BASE}/{code}/milestones/{milestone['id']}/complete"
    completed = api.post(url, json={"completed_on": "2026-10-01", "note": "signed"})
    assert completed.json()["status"] == "completed"
    assert completed.json()["completion_note"] == "signed"
    assert "already completed" in problem(api.post(url, json={"completed_on": "2026-10-02"}), 409)
    problem(
        api.post(f"{BASE}/{code}/milestones/m99/complete", json={"completed_on": "2026-10-02"}),
        404,
    )

    defined = api.post(
        f"{BASE}/{code}/indicators",
        json={"name": "Joint exercises", "unit": "count", "baseline": 0, "target": 4},
    )
    assert defined.status_code == 201
    indicator = defined.json()
    assert defined.headers["Location"] == f"{BASE}/{code}/indicators/{indicator['id']}"
    measured = api.post(
        f"{BASE}/{code}/indicators/{indicator['id']}/measurements",
        json={"value": 1.5, "as_of": "2026-09-30"},
    )
    assert measured.status_code == 201
    assert measured.json()["latest"] == {"value": 1.5, "as_of": "2026-09-30"}
    assert measured.json()["measurements"] == 1
    problem(
        api.post(
            f"{BASE}/{code}/indicators/i9/measurements", json={"value": 1, "as_of": "2026-09-30"}
        ),
        404,
    )
    problem(
        api.post(
            f"{BASE}/{code}/indicators/{indicator['id']}/measurements",
            json={"value": "lots", "as_of": "2026-09-30"},
        ),
        422,
    )

    evidence = {"url": "https://example.org/cyber", "title": "Joint statement"}
    assert api.post(f"{BASE}/{code}/evidence", json=evidence).status_code == 201
    assert "already attached" in problem(api.post(f"{BASE}/{code}/evidence", json=evidence), 409)


@pytest.mark.parametrize(("method", "path", "body", "status", "_"), WRITES, ids=WRITE_IDS)
def test_editors_write_only_for_their_party(
    api: Api, method: str, path: str, body: dict[str, Any], status: int, _: str
) -> None:
    url = f"{BASE}/{RAIL}{path}"  # parties CA and MX
    before = api.head()
    assert "may not write" in problem(api.request(method, url, "us", json=body), 403)
    assert "only read" in problem(api.request(method, url, "viewer", json=body), 403)
    assert "without a party" in problem(api.request(method, url, "partyless", json=body), 403)
    problem(api.request(method, url, None, json=body), 401)
    problem(api.request(method, f"{BASE}/CMAP-NOT-HERE{path}", json=body), 404)
    assert api.head() == before
    allowed = api.request(method, url, "ca", json=body)
    assert allowed.status_code == status, allowed.text
    assert api.history(RAIL)[-1]["actor"] == api.actor("ca")


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
    before = api.head()
    assert fragment in problem(api.post(BASE, json=NEW | change), 422)
    assert api.head() == before


@pytest.mark.parametrize("value", ["1e400", 10**400, "0.1000000000000000000001"])
def test_out_of_range_indicator_numbers_are_422(api: Api, value: Any) -> None:
    before = api.head()
    body = {"name": "N", "unit": "u", "baseline": 0, "target": value}
    problem(api.post(f"{BASE}/CMAP-SEC-CYBER/indicators", json=body), 422)
    assert api.get(f"{BASE}/CMAP-SEC-CYBER").status_code == 200
    assert api.head() == before


@pytest.mark.parametrize("percent", [True, "30", 30.0])
def test_percent_must_be_a_json_integer(api: Api, percent: Any) -> None:
    body = {"percent": percent, "as_of": "2026-01-01", "note": "n"}
    problem(api.post(f"{BASE}/CMAP-SEC-CYBER/progress", json=body), 422)


def test_patch_with_null_collections_is_422(api: Api) -> None:
    for body in ({"agencies": None, "reason": "r"}, {"sectors": None, "reason": "r"}):
        problem(api.patch(f"{BASE}/{RAIL}", json=body), 422)


def test_malformed_json_is_explained(api: Api) -> None:
    response = api.post(BASE, content=b'{"code": ', headers={"Content-Type": "application/json"})
    assert "not valid JSON" in problem(response, 422)
    as_text = api.post(BASE, content=b"{}", headers={"Content-Type": "text/plain"})
    assert "JSON object" in problem(as_text, 422)


# ---- lists, the feed and the projection -------------------------------------------------


def test_list_filters_and_pages(api: Api) -> None:
    api.post(f"{BASE}/CMAP-SEC-CYBER/health", json={"rating": "red", "rationale": "r"})
    api.patch(f"{BASE}/CMAP-GOV-EVAL", json={"target_date": "2026-01-31", "reason": "r"})
    api.project()
    everything = api.get(BASE, params={"limit": 500})
    assert everything.status_code == 200
    assert int(everything.headers["X-Log-Position"]) == api.head()
    items = everything.json()["items"]
    assert len(items) == 22 and everything.json()["next_cursor"] is None
    assert [i["code"] for i in items] == sorted(i["code"] for i in items)
    # The projection's list items agree with the commitments read from the event store.
    for item in items:
        resource = api.commitment(item["code"])
        assert {name: resource[name] for name in item} == item

    def codes(**params: Any) -> list[str]:
        response = api.get(BASE, params=params)
        assert response.status_code == 200, response.text
        return [i["code"] for i in response.json()["items"]]

    def where(name: str, value: Any) -> list[str]:
        return [i["code"] for i in items if i[name] == value]

    assert codes(pillar="security") == where("pillar", "security")
    for status in {i["status"] for i in items}:
        assert codes(status=status) == where("status", status)
    assert codes(sector="railways") == [RAIL]
    assert codes(party="US") == ["CMAP-GOV-USMCA"]
    assert "CMAP-SEC-CYBER" in codes(health="red") == where("health", "red")
    assert "CMAP-GOV-EVAL" in codes(overdue=True) == where("overdue", True)
    assert "CMAP-GOV-EVAL" not in codes(overdue=False) == where("overdue", False)
    assert codes(q="hydrogen") == ["CMAP-PROS-ENERGY"] and "CMAP-SEC-CYBER" in codes(q="CYBER")
    assert codes(q="no such words") == []
    assert codes(pillar="security", health="red") == ["CMAP-SEC-CYBER"]

    pages: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = api.json(BASE, params=params)
        assert len(page["items"]) <= 5
        pages += [i["code"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [i["code"] for i in items]
    assert "cursor" in problem(api.get(BASE, params={"cursor": "garbage"}), 422)
    problem(api.get(BASE, params={"limit": 501}), 422)
    problem(api.get(BASE, params={"limit": 0}), 422)
    problem(api.get(BASE, params={"pillar": "nowhere"}), 422)


def test_filters_are_case_insensitive_and_validated(api: Api) -> None:
    upper = api.json(BASE, params={"party": "US"})["items"]
    lower = api.json(BASE, params={"party": "us"})["items"]
    assert upper == lower and [i["code"] for i in upper] == ["CMAP-GOV-USMCA"]
    assert [i["code"] for i in api.json(BASE, params={"sector": "RAILWAYS"})["items"]] == [RAIL]
    problem(api.get(BASE, params={"party": "XX"}), 422)


def test_lists_read_by_viewers_too(api: Api) -> None:
    assert len(api.json(BASE, "viewer", params={"limit": 500})["items"]) == 22
    problem(api.get(BASE, None), 401)


def test_min_position_waits_for_the_projection(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    written = api.post(BASE, json=NEW)
    position = int(written.headers["X-Log-Position"])
    monkeypatch.setattr(projection_reads, "MIN_POSITION_WAIT_SECONDS", 0.0)
    behind = api.get(BASE, params={"min_position": position})
    assert f"not yet {position}" in problem(behind, 503)
    assert behind.headers["Retry-After"] == "1"
    assert "CMAP-PROS-HYDRO" not in [
        i["code"] for i in api.json(BASE, params={"limit": 500})["items"]
    ]
    api.project()
    caught_up = api.get(BASE, params={"min_position": position, "q": "PROS-HYDRO"})
    assert [i["code"] for i in caught_up.json()["items"]] == ["CMAP-PROS-HYDRO"]
    assert int(caught_up.headers["X-Log-Position"]) >= position


def test_event_feed_in_log_order(api: Api) -> None:
    first = api.json("/api/v1/events", params={"limit": 10})
    assert [e["position"] for e in first] == list(range(1, 11))
    after = api.json("/api/v1/events", params={"after": 10, "limit": 5})
    assert [e["position"] for e in after] == list(range(11, 16))
    assert {"commitment_id", "type", "actor", "data", "version", "hash"} <= set(after[0])
    assert api.json("/api/v1/events", params={"after": api.head()}) == []
    problem(api.get("/api/v1/events", params={"after": -1}), 422)
    problem(api.get("/api/v1/events", params={"limit": 1001}), 422)


def test_rebuild_is_admin_only_and_leaves_lists_unchanged(api: Api) -> None:
    api.post(
        f"{BASE}/{RAIL}/progress",
        json={"percent": 5, "as_of": "2026-01-01", "note": "n"},
    )
    api.project()
    before = api.json(BASE, params={"limit": 500})
    problem(api.post("/api/v1/admin/projections/rebuild", "ca"), 403)
    problem(api.post("/api/v1/admin/projections/rebuild", "viewer"), 403)
    accepted = api.post("/api/v1/admin/projections/rebuild")
    assert accepted.status_code == 202
    assert accepted.json() == {"status": "rebuilding", "position": 0, "head": api.head()}
    assert api.services.rebuilder.wait(30)
    # The rebuild switched at the head: nothing left for a follower to do.
    ready = api.client.get("/readyz").json()["projection"]
    assert ready["lag"] == 0 and ready["rebuild"] is None
    assert api.json(BASE, params={"limit": 500}) == before
    status = api.json("/api/v1/admin/projections/rebuild")
    assert status == {
        "status": "idle",
        "position": None,
        "head": api.head(),
        "updated_at": None,
        "last_error": None,
    }
    problem(api.get("/api/v1/admin/projections/rebuild", "viewer"), 403)


def test_a_second_rebuild_while_one_runs_is_409(api: Api) -> None:
    held = api.services.rebuilder._claim()  # as a rebuild under way holds it
    try:
        refused = api.post("/api/v1/admin/projections/rebuild")
        assert "a rebuild is running" in problem(refused, 409)
        assert refused.json()["type"].endswith("rebuild-running")
    finally:
        held.close()
    assert api.post("/api/v1/admin/projections/rebuild").status_code == 202
    assert api.services.rebuilder.wait(30)


def test_readiness_and_the_status_show_a_rebuild_under_way(api: Api) -> None:
    rebuild = Rebuild(api.services.database, api.services.tracker, batch_size=10)
    rebuild.begin()
    rebuild.step()
    ready = api.client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["projection"]["lag"] == 0  # old ones serve
    assert ready["projection"]["rebuild"]["position"] == 10
    assert ready["projection"]["rebuild"]["of"] == ready["log_position"] == api.head()
    status = api.json("/api/v1/admin/projections/rebuild")
    assert status["status"] == "rebuilding" and status["position"] == 10
    assert status["head"] == api.head() and status["updated_at"]


def test_readiness_reports_the_projection_lag(api: Api) -> None:
    ready = api.client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["projection"]["lag"] == 0
    assert ready["projection"]["follower"] == "off"
    api.post(f"{BASE}/{RAIL}/health", json={"rating": "red", "rationale": "r"})
    behind = api.client.get("/readyz").json()
    assert behind["log_position"] == ready["log_position"] + 1
    assert behind["projection"]["lag"] == 1
    api.project()
    assert api.client.get("/readyz").json()["projection"]["lag"] == 0


def test_huge_positions_and_versions_are_422(api: Api) -> None:
    problem(api.get("/api/v1/events", params={"after": 10**30}), 422)
    problem(api.get(BASE, params={"min_position": 10**30}), 422)
    problem(api.get(f"{BASE}/{RAIL}", params={"version": 10**12}), 422)


# ---- the OpenAPI document -----------------------------------------------------------------


def test_openapi_documents_every_endpoint_and_error(api: Api) -> None:
    spec = api.openapi()
    paths = spec["paths"]
    expected = {
        ("post", BASE),
        ("get", BASE),
        ("get", f"{BASE}/{{ref}}"),
        ("patch", f"{BASE}/{{ref}}"),
        ("get", f"{BASE}/{{ref}}/history"),
        ("get", f"{BASE}/{{ref}}/diff"),
        ("post", f"{BASE}/{{ref}}/progress"),
        ("post", f"{BASE}/{{ref}}/status"),
        ("post", f"{BASE}/{{ref}}/health"),
        ("post", f"{BASE}/{{ref}}/milestones"),
        ("patch", f"{BASE}/{{ref}}/milestones/{{milestone_id}}"),
        ("post", f"{BASE}/{{ref}}/milestones/{{milestone_id}}/complete"),
        ("post", f"{BASE}/{{ref}}/indicators"),
        ("post", f"{BASE}/{{ref}}/indicators/{{indicator_id}}/measurements"),
        ("post", f"{BASE}/{{ref}}/evidence"),
        ("get", "/api/v1/events"),
        ("get", "/api/v1/ledger"),
        ("get", "/api/v1/reports/progress"),
        ("get", "/api/v1/reports"),
        ("post", "/api/v1/reports"),
        ("get", "/api/v1/schedules"),
        ("post", "/api/v1/schedules"),
        ("delete", "/api/v1/schedules/{name}"),
        ("post", "/api/v1/admin/projections/rebuild"),
        ("get", "/api/v1/admin/projections/rebuild"),
        ("get", "/healthz"),
        ("get", "/readyz"),
    }
    assert {(m, p) for p, ops in paths.items() for m in ops} >= expected
    assert not any(p.startswith(("/c/", "/login")) for p in paths)  # pages are not the API
    for path, ops in paths.items():
        for method, operation in ops.items():
            if method in ("post", "patch") and path.startswith(f"{BASE}/{{ref}}"):
                responses = operation["responses"]
                assert {"400", "401", "403", "404", "409", "412", "413", "422"} <= set(responses)
                headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
                assert {"if-match", "idempotency-key"} <= headers, path
    assert spec["components"]["schemas"]["LogProgress"]["examples"]
    assert "409" in paths["/api/v1/admin/projections/rebuild"]["post"]["responses"]


def test_registration_with_if_match_is_refused(api: Api) -> None:
    """A new commitment has no version: an If-Match naming one cannot hold, and nothing is
    written; `*` and "0" (nothing there yet) hold."""
    spec = api.openapi()
    parameters = spec["paths"][BASE]["post"].get("parameters", [])
    assert {"if-match", "idempotency-key"} <= {p["name"] for p in parameters}
    assert "412" in spec["paths"][BASE]["post"]["responses"]
    before = api.head()
    refused = api.post(BASE, json=NEW, headers={"If-Match": '"1"'})
    assert "does not exist yet" in problem(refused, 412)
    assert api.head() == before
    assert api.post(BASE, json=NEW, headers={"If-Match": "*"}).status_code == 201
    # Registered now: a second registration is a conflict, If-Match or not.
    again = api.post(BASE, json=NEW, headers={"If-Match": '"0"'})
    assert "already registered" in problem(again, 409)


def test_problems_are_documented_as_problem_json(api: Api) -> None:
    spec = api.openapi()
    responses = spec["paths"][f"{BASE}/{{ref}}/progress"]["post"]["responses"]
    assert "application/problem+json" in responses["409"]["content"]
    assert {"ETag", "X-Log-Position", "Idempotent-Replayed"} <= set(responses["201"]["headers"])
    assert "Location" not in responses["201"]["headers"]
    created = spec["paths"][f"{BASE}/{{ref}}/milestones"]["post"]["responses"]["201"]
    assert "Location" in created["headers"]
    assert "ProblemOut" in spec["components"]["schemas"]
    feed = spec["paths"]["/api/v1/events"]["get"]["responses"]
    assert "404" not in feed


def test_the_location_of_a_new_milestone_or_indicator_answers_a_get(api: Api) -> None:
    code = "CMAP-SEC-CYBER"
    added = api.post(
        f"{BASE}/{code}/milestones", "mx", json={"title": "MoU", "due_date": "2026-12-31"}
    )
    fetched = api.get(added.headers["Location"], "viewer")
    assert fetched.status_code == 200 and fetched.json() == added.json()
    defined = api.post(
        f"{BASE}/{code}/indicators",
        json={"name": "Joint exercises", "unit": "count", "baseline": 0, "target": 4},
    )
    fetched = api.get(defined.headers["Location"], "viewer")
    assert fetched.status_code == 200 and fetched.json() == defined.json()
    problem(api.get(f"{BASE}/{code}/milestones/m99"), 404)
    problem(api.get(f"{BASE}/{code}/indicators/i99"), 404)
