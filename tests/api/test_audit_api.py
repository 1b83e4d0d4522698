"""Audit over HTTP: hashes in histories, the ledger, diffs, and bitemporal time travel.

A commitment of its own is written beside the seeds with late reports and a back-dated
correction, each recorded at a fixed time (domain.clock.frozen_at)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, update

from adapters.ledger import GENESIS, canonical_bytes, chain_hash
from adapters.tables import event_chain, events
from api.conditional import body_tag
from domain import clock
from tests.api.client import BASE, Api, problem

CODE = "CMAP-AUDIT-RAIL"


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment).replace(tzinfo=UTC)


def write(api: Api, moment: str, method: str, path: str, body: dict[str, Any]) -> None:
    with clock.frozen_at(at(moment)):
        response = api.request(method, f"{BASE}{path}", json=body)
    assert response.status_code in (200, 201), response.text


def scripted(api: Api) -> int:
    """Late reports and a back-dated correction, recorded at fixed times; the log position
    before them."""
    start = api.head()
    write(
        api,
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
        api,
        "2026-01-10T10:00",
        "POST",
        f"/{CODE}/progress",
        {"percent": 20, "as_of": "2025-12-31", "note": "Q4"},
    )  # v2, v3 (in_progress)
    write(
        api,
        "2026-02-05T09:00",
        "POST",
        f"/{CODE}/health",
        {"rating": "amber", "rationale": "slow", "as_of": "2026-02-01"},
    )  # v4
    write(
        api,
        "2026-04-10T09:00",
        "POST",
        f"/{CODE}/progress",
        {"percent": 50, "as_of": "2026-03-31", "note": "Q1"},
    )  # v5
    write(
        api,
        "2026-04-20T09:00",
        "POST",
        f"/{CODE}/progress",
        {"percent": 35, "as_of": "2026-02-28", "note": "late February report"},
    )  # v6
    write(
        api,
        "2026-05-03T09:00",
        "PATCH",
        f"/{CODE}",
        {"target_date": "2027-06-30", "reason": "re-planned"},
    )  # v7
    return start


def view(api: Api, **params: str) -> dict[str, Any]:
    body: dict[str, Any] = api.json(f"{BASE}/{CODE}", params=params)
    return body


def test_bitemporal_answers_worked_out_by_hand(api: Api) -> None:
    scripted(api)

    def brief(body: dict[str, Any]) -> tuple[Any, ...]:
        return (
            body["version"],
            body["status"],
            body["progress"],
            body["health"],
            body["target_date"],
            body["overdue"],
        )

    assert brief(view(api)) == (7, "in_progress", 50, "amber", "2027-06-30", False)
    # What was true on 15 March, as we know it now: the late February report counts.
    assert brief(view(api, as_of="2026-03-15")) == (
        7,
        "in_progress",
        35,
        "amber",
        "2027-06-30",
        False,
    )
    # What we believed on 15 April about 15 March: February was not yet reported.
    assert brief(view(api, as_of="2026-03-15", known_at="2026-04-15T00:00:00Z")) == (
        5,
        "in_progress",
        20,
        "amber",
        "2026-06-30",
        False,
    )
    # What we believed on 1 May about 1 July: the old target date had passed.
    assert brief(view(api, as_of="2026-07-01", known_at="2026-05-01T00:00:00Z")) == (
        6,
        "in_progress",
        50,
        "amber",
        "2026-06-30",
        True,
    )
    # A recorded time with another offset is the same instant (here: 1 February, UTC).
    assert brief(view(api, known_at="2026-01-31T20:00:00-04:00")) == (
        3,
        "in_progress",
        20,
        None,
        "2026-06-30",
        False,
    )
    assert brief(view(api, known_at="2026-02-01T00:00:00")) == brief(
        view(api, known_at="2026-02-01T00:00:00Z")
    )
    assert brief(view(api, version="4")) == (4, "in_progress", 20, "amber", "2026-06-30", False)
    # A past version is judged on the day it was recorded: v6 (20 April) was not overdue.
    assert view(api, version="6")["overdue"] is False
    # A past view's ETag is a hash of it (conditional reads), never a version for If-Match.
    past = api.get(f"{BASE}/{CODE}", params={"as_of": "2026-03-15"})
    assert past.headers["ETag"] == body_tag(past.json()) != '"7"'
    assert api.get(f"{BASE}/{CODE}").headers["ETag"] == '"7"'
    problem(api.get(f"{BASE}/{CODE}", params={"known_at": "2026-01-10T08:59:59Z"}), 404)


def test_history_carries_the_chain(api: Api) -> None:
    start = scripted(api)
    history = api.history(CODE)
    assert [h["version"] for h in history] == list(range(1, 8))
    assert [h["position"] for h in history] == list(range(start + 1, start + 8))
    assert history[5]["recorded_at"] == "2026-04-20T09:00:00+00:00"
    assert history[5]["data"]["as_of"] == "2026-02-28"
    assert history[5]["actor"] == api.actor("admin")
    assert all(len(h["hash"]) == 64 for h in history)
    assert len({h["hash"] for h in history}) == 7
    feed = api.json("/api/v1/events", params={"after": start, "limit": 3})
    assert [e["hash"] for e in feed] == [h["hash"] for h in history[:3]]
    assert [e["commitment_id"] for e in feed] == [api.commitment(CODE)["id"]] * 3


def test_hashes_are_computed_as_documented(api: Api) -> None:
    start = scripted(api)
    history = api.history(CODE)
    with api.services.database.reading() as connection:
        stored = {
            row.id: row
            for row in connection.execute(
                select(
                    events.c.id,
                    events.c.originator_id,
                    events.c.originator_version,
                    events.c.topic,
                    events.c.state,
                ).where(events.c.id.in_([1, start, start + 1]))
            )
        }
        previous = connection.execute(
            select(event_chain.c.hash).where(event_chain.c.position == start)
        ).scalar_one()

    def expected(position: int, before: str) -> str:
        row = stored[position]
        originator = row.originator_id
        originator = originator if isinstance(originator, UUID) else UUID(str(originator))
        canonical = canonical_bytes(
            row.id, originator, row.originator_version, row.topic, bytes(row.state)
        )
        return chain_hash(before, canonical)

    [very_first] = api.json("/api/v1/events", params={"limit": 1})
    assert very_first["hash"] == expected(1, GENESIS)
    assert history[0]["hash"] == expected(start + 1, previous)


def test_the_ledger_verifies_and_names_a_tampered_position(api: Api) -> None:
    start = scripted(api)
    ledger = api.json("/api/v1/ledger", "viewer")
    assert ledger["verified"] and ledger["events"] == ledger["head_position"] == start + 7
    assert ledger["chain_head"] == api.history(CODE)[-1]["hash"]
    assert (ledger["first_bad_position"], ledger["problem"]) == (None, None)
    with api.services.database.writing() as connection:
        connection.execute(
            update(event_chain).where(event_chain.c.position == start + 4).values(hash="0" * 64)
        )
    broken = api.json("/api/v1/ledger")
    assert (broken["verified"], broken["first_bad_position"], broken["events"]) == (
        False,
        start + 4,
        start + 3,
    )
    assert broken["head_position"] == start + 3 and broken["problem"]


def test_diff_between_versions(api: Api) -> None:
    scripted(api)
    response = api.get(f"{BASE}/{CODE}/diff", params={"from": 3, "to": 7})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from_version"], body["to_version"]) == (3, 7)
    changes = body["changes"]
    assert changes["progress"] == {"from": 20, "to": 50}
    assert changes["health"] == {"from": None, "to": "amber"}
    assert changes["target_date"] == {"from": "2026-06-30", "to": "2027-06-30"}
    assert "status" not in changes and "version" not in changes
    assert [e["version"] for e in body["events"]] == [4, 5, 6, 7]
    to_now = api.json(f"{BASE}/{CODE}/diff", params={"from": 6})
    assert to_now["to_version"] == 7 and list(to_now["changes"]) == ["target_date"]
    assert "must not be after" in problem(
        api.get(f"{BASE}/{CODE}/diff", params={"from": 5, "to": 2}), 422
    )
    problem(api.get(f"{BASE}/{CODE}/diff", params={"from": 1, "to": 99}), 404)
    problem(api.get(f"{BASE}/{CODE}/diff"), 422)  # `from` is required
