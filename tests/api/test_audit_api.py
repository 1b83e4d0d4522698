"""Audit over HTTP: hashes in histories, the ledger, diffs, and bitemporal time travel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from adapters.event_store import engine_of, open_tracker
from adapters.ledger import GENESIS, canonical_bytes, chain_hash
from adapters.settings import Settings
from adapters.tokens import create_token
from api.app import create_app
from domain import clock

BASE = "/api/v1/commitments"
CODE = "CMAP-PROS-RAIL"


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    tracker = open_tracker(database_url)
    try:
        token = create_token(engine_of(tracker), name="auditor", role="admin", party=None)
    finally:
        tracker.close()
    settings = Settings(
        database_url=database_url, public_read=False, scheduler=False, projector=False
    )
    with TestClient(create_app(settings)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield test_client


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment).replace(tzinfo=UTC)


def write(client: TestClient, moment: str, method: str, path: str, body: dict[str, Any]) -> None:
    with clock.frozen_at(at(moment)):
        response = client.request(method, f"{BASE}{path}", json=body)
    assert response.status_code in (200, 201), response.text


def scripted(client: TestClient) -> None:
    """Late reports and a back-dated correction, recorded at fixed times."""
    write(
        client,
        "2026-01-10T09:00",
        "POST",
        "",
        {
            "code": CODE,
            "title": "Rail",
            "pillar": "prosperity",
            "sectors": ["railways"],
            "parties": ["CA", "MX"],
            "lead_party": "joint",
            "start_date": "2025-09-18",
            "target_date": "2026-06-30",
        },
    )  # v1
    write(
        client,
        "2026-01-10T10:00",
        "POST",
        f"/{CODE}/progress",
        {"percent": 20, "as_of": "2025-12-31", "note": "Q4"},
    )  # v2, v3 (in_progress)
    write(
        client,
        "2026-02-05T09:00",
        "POST",
        f"/{CODE}/health",
        {"rating": "amber", "rationale": "slow", "as_of": "2026-02-01"},
    )  # v4
    write(
        client,
        "2026-04-10T09:00",
        "POST",
        f"/{CODE}/progress",
        {"percent": 50, "as_of": "2026-03-31", "note": "Q1"},
    )  # v5
    write(
        client,
        "2026-04-20T09:00",
        "POST",
        f"/{CODE}/progress",
        {"percent": 35, "as_of": "2026-02-28", "note": "late February report"},
    )  # v6
    write(
        client,
        "2026-05-03T09:00",
        "PATCH",
        f"/{CODE}",
        {"target_date": "2027-06-30", "reason": "re-planned"},
    )  # v7


def view(client: TestClient, **params: str) -> dict[str, Any]:
    response = client.get(f"{BASE}/{CODE}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_bitemporal_answers_worked_out_by_hand(client: TestClient) -> None:
    scripted(client)

    def brief(body: dict[str, Any]) -> tuple[Any, ...]:
        return (
            body["version"],
            body["status"],
            body["progress"],
            body["health"],
            body["target_date"],
            body["overdue"],
        )

    assert brief(view(client)) == (7, "in_progress", 50, "amber", "2027-06-30", False)
    # What was true on 15 March, as we know it now: the late February report counts.
    assert brief(view(client, as_of="2026-03-15")) == (
        7,
        "in_progress",
        35,
        "amber",
        "2027-06-30",
        False,
    )
    # What we believed on 15 April about 15 March: February was not yet reported.
    assert brief(view(client, as_of="2026-03-15", known_at="2026-04-15T00:00:00Z")) == (
        5,
        "in_progress",
        20,
        "amber",
        "2026-06-30",
        False,
    )
    # What we believed on 1 May about 1 July: the old target date had passed.
    assert brief(view(client, as_of="2026-07-01", known_at="2026-05-01T00:00:00Z")) == (
        6,
        "in_progress",
        50,
        "amber",
        "2026-06-30",
        True,
    )
    assert brief(view(client, known_at="2026-02-01T00:00:00Z")) == (
        3,
        "in_progress",
        20,
        None,
        "2026-06-30",
        False,
    )
    assert brief(view(client, version="4")) == (4, "in_progress", 20, "amber", "2026-06-30", False)
    assert "ETag" not in client.get(f"{BASE}/{CODE}", params={"as_of": "2026-03-15"}).headers
    assert client.get(f"{BASE}/{CODE}").headers["ETag"] == '"7"'


def test_history_carries_the_chain(client: TestClient) -> None:
    scripted(client)
    history = client.get(f"{BASE}/{CODE}/history").json()
    assert [h["version"] for h in history] == list(range(1, 8))
    assert history[5]["recorded_at"] == "2026-04-20T09:00:00+00:00"
    assert history[5]["data"]["as_of"] == "2026-02-28"
    assert all(len(h["hash"]) == 64 for h in history)
    assert len({h["hash"] for h in history}) == 7
    feed = client.get("/api/v1/events", params={"limit": 3}).json()
    assert [e["hash"] for e in feed] == [h["hash"] for h in history[:3]]


def test_the_first_hash_is_computed_as_documented(client: TestClient, database_url: str) -> None:
    scripted(client)
    first = client.get(f"{BASE}/{CODE}/history").json()[0]
    engine = open_tracker(database_url)
    try:
        with engine_of(engine).connect() as connection:
            row = connection.execute(
                text("SELECT id, originator_version, topic, state FROM tracker_events WHERE id = 1")
            ).one()
    finally:
        engine.close()
    from uuid import UUID

    expected = chain_hash(
        GENESIS,
        canonical_bytes(
            row.id, UUID(view(client)["id"]), row.originator_version, row.topic, bytes(row.state)
        ),
    )
    assert first["hash"] == expected


def test_the_ledger_verifies_and_names_a_tampered_position(
    client: TestClient, database_url: str
) -> None:
    scripted(client)
    ledger = client.get("/api/v1/ledger").json()
    assert ledger["verified"] and ledger["events"] == ledger["head_position"] == 7
    assert ledger["chain_head"] == client.get(f"{BASE}/{CODE}/history").json()[-1]["hash"]
    tracker = open_tracker(database_url)
    try:
        with engine_of(tracker).begin() as connection:
            connection.execute(
                text("UPDATE event_chain SET hash = :h WHERE position = 4"), {"h": "0" * 64}
            )
    finally:
        tracker.close()
    broken = client.get("/api/v1/ledger").json()
    assert (broken["verified"], broken["first_bad_position"], broken["events"]) == (False, 4, 3)


def test_diff_between_versions(client: TestClient) -> None:
    scripted(client)
    response = client.get(f"{BASE}/{CODE}/diff", params={"from": 3, "to": 7})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from_version"], body["to_version"]) == (3, 7)
    changes = body["changes"]
    assert changes["progress"] == {"from": 20, "to": 50}
    assert changes["health"] == {"from": None, "to": "amber"}
    assert changes["target_date"] == {"from": "2026-06-30", "to": "2027-06-30"}
    assert "status" not in changes and "version" not in changes
    assert [e["version"] for e in body["events"]] == [4, 5, 6, 7]
    to_now = client.get(f"{BASE}/{CODE}/diff", params={"from": 6}).json()
    assert to_now["to_version"] == 7 and list(to_now["changes"]) == ["target_date"]
    assert client.get(f"{BASE}/{CODE}/diff", params={"from": 5, "to": 2}).status_code == 422
    assert client.get(f"{BASE}/{CODE}/diff", params={"from": 1, "to": 99}).status_code == 404
