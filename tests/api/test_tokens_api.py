"""`/api/v1/tokens` and accountable identities over HTTP: admins list (never a secret),
issue (the secret once) and revoke tokens; names are unique and not the system's; a
revoked or expired token gets 401 and repeated bad tokens 429; issuing and revoking are
chained events of the feed; a holder's events name the token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from adapters.rate_limit import FailureLimit
from domain import clock
from tests.api.client import BASE, Api, post_login, problem

TOKENS = "/api/v1/tokens"
RAIL = "CMAP-PROS-RAIL"  # parties CA and MX
EDITOR = {"name": "marta.mx", "role": "editor", "party": "MX"}


def issue(api: Api, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = api.post(TOKENS, json=body, **kwargs)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert response.headers["Location"] == f"{TOKENS}/{created['id']}"
    return created


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def age(limit: FailureLimit, seconds: float) -> None:
    """Move the recorded failures into the past (no waiting for the window)."""
    for entries in limit.storage.events.values():
        for entry in entries:
            entry.atime -= seconds
            entry.expiry -= seconds


# ---- issuing and listing -------------------------------------------------------------------


def test_an_admin_issues_a_token_whose_secret_is_shown_once(api: Api) -> None:
    created = issue(api, EDITOR | {"expires_at": "2100-01-01T00:00:00Z"})
    secret = created.pop("token")
    assert secret.startswith("cmt_")
    assert created == {
        "id": created["id"],
        "name": "marta.mx",
        "actor": f"marta.mx#{created['id'][:8]}",
        "role": "editor",
        "party": "MX",
        "status": "active",
        "created_at": created["created_at"],
        "expires_at": "2100-01-01T00:00:00+00:00",
        "revoked_at": None,
    }
    assert api.client.get(f"{BASE}/{RAIL}", headers=bearer(secret)).status_code == 200
    listed = api.get(TOKENS)
    assert listed.status_code == 200
    assert secret not in listed.text and "hash" not in listed.text
    [mine] = [t for t in listed.json() if t["name"] == "marta.mx"]
    assert mine == created and "token" not in mine
    assert api.json(f"{TOKENS}/{quote(created['actor'])}") == created
    assert api.json(f"{TOKENS}/MARTA.MX") == created


def test_the_events_of_a_new_holder_name_its_token(api: Api) -> None:
    created = issue(api, EDITOR)
    headers = bearer(created["token"])
    body = {"percent": 45, "as_of": "2026-06-30", "note": "tender launched"}
    written = api.client.post(f"{BASE}/{RAIL}/progress", json=body, headers=headers)
    assert written.status_code == 201, written.text
    last = api.history(RAIL)[-1]
    assert (last["type"], last["actor"]) == ("ProgressLogged", created["actor"])
    assert last["actor"] != "marta.mx" and last["actor"].endswith("#" + created["id"][:8])


def test_issuing_and_revoking_are_chained_events_of_the_feed(api: Api) -> None:
    head = api.head()
    created = issue(api, EDITOR)
    revoked = api.delete(f"{TOKENS}/{created['id']}", params={"reason": "moved on"})
    assert revoked.status_code == 204 and revoked.headers["ETag"] == '"2"'
    feed = api.json("/api/v1/events", params={"after": head})
    assert [(e["type"], e["actor"], e["data"]) for e in feed] == [
        (
            "ApiToken.Issued",
            api.actor("admin"),
            {"name": "marta.mx", "role": "editor", "party": "MX", "expires_at": None},
        ),
        ("ApiToken.Revoked", api.actor("admin"), {"reason": "moved on"}),
    ]
    assert {e["commitment_id"].replace("-", "") for e in feed} == {created["id"]}
    assert created["token"] not in str(feed)
    assert all(e["hash"] for e in feed)
    ledger = api.json("/api/v1/ledger")
    assert ledger["verified"] and ledger["head_position"] == feed[-1]["position"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"name": "luis.mx", "role": "viewer"}, 409, "'luis.mx' is taken: token luis.mx#"),
        ({"name": "LUIS.MX", "role": "admin"}, 409, "'LUIS.MX' is taken"),
        ({"name": "seed", "role": "admin"}, 422, "reserved"),
        ({"name": "Sample-Data", "role": "viewer"}, 422, "reserved"),
        ({"name": "scheduler", "role": "viewer"}, 422, "reserved"),
        ({"name": "schedule:weekly", "role": "viewer"}, 422, "letters, digits"),
        ({"name": "ana#1234", "role": "viewer"}, 422, "letters, digits"),
        ({"name": "ed", "role": "editor"}, 422, "editor token needs a party"),
        ({"name": "ed", "role": "editor", "party": "XX"}, 422, "alpha-2"),
        ({"name": "ed", "role": "root"}, 422, "role"),
        ({"name": "ed", "role": "viewer", "expires_at": "2020-01-01T00:00:00Z"}, 422, "future"),
        ({"name": "ed", "role": "viewer", "secret": "mine"}, 422, "secret"),
    ],
)
def test_bad_tokens_are_refused_and_leave_nothing(
    api: Api, body: dict[str, Any], status: int, fragment: str
) -> None:
    api.token("mx")  # luis.mx holds a token already
    before = (api.head(), len(api.json(TOKENS)))
    assert fragment in problem(api.post(TOKENS, json=body), status)
    assert (api.head(), len(api.json(TOKENS))) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", TOKENS), ("GET", f"{TOKENS}/luis.mx"), ("POST", TOKENS), ("DELETE", f"{TOKENS}/x")],
)
def test_only_admins_manage_tokens(api: Api, method: str, path: str) -> None:
    api.token("mx")
    before = api.head()
    body = EDITOR if method == "POST" else None
    assert "admin" in problem(api.request(method, path, "mx", json=body), 403)
    problem(api.request(method, path, "viewer", json=body), 403)
    problem(api.request(method, path, None, json=body), 401)
    names = {t["name"] for t in api.json(TOKENS)}
    assert names == {"luis.mx", "vera", "admin-1"} and api.head() == before


def test_a_retry_with_the_same_key_issues_nothing_and_shows_no_secret(api: Api) -> None:
    key = {"Idempotency-Key": "issue-marta-1"}
    first = issue(api, EDITOR, headers=key)
    head = api.head()
    again = api.post(TOKENS, json=EDITOR, headers=key)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first | {"token": None}
    assert api.head() == head


# ---- revoking and expiry ---------------------------------------------------------------------


def test_a_revoked_token_gets_401_at_once(api: Api) -> None:
    secret = api.token("ca")
    assert api.get(f"{BASE}/{RAIL}", "ca").status_code == 200  # and remembered
    assert api.delete(f"{TOKENS}/ana.ca").status_code == 204
    assert "revoked" in problem(api.client.get(f"{BASE}/{RAIL}", headers=bearer(secret)), 401)
    [listed] = api.json(TOKENS, params={"status": "revoked"})
    assert listed["name"] == "ana.ca" and listed["revoked_at"] is not None
    assert "revoked already" in problem(api.delete(f"{TOKENS}/ana.ca"), 409)
    assert "no token" in problem(api.delete(f"{TOKENS}/nobody-at-all"), 404)


def test_an_expired_token_gets_401(api: Api) -> None:
    now = datetime.now(UTC)
    created = issue(api, EDITOR | {"expires_at": (now + timedelta(hours=1)).isoformat()})
    headers = bearer(created["token"])
    assert api.client.get(f"{BASE}/{RAIL}", headers=headers).status_code == 200
    with clock.frozen_at(now + timedelta(hours=1, seconds=1)):
        problem(api.client.get(f"{BASE}/{RAIL}", headers=headers), 401)
        [listed] = api.json(TOKENS, params={"status": "expired"})
    assert listed["id"] == created["id"]


# ---- failed authentications ------------------------------------------------------------------


def test_repeated_bad_tokens_get_429_then_the_address_recovers(api: Api) -> None:
    good = bearer(api.token("viewer"))
    limit = api.services.authenticate.failures
    assert limit is not None
    for attempt in range(10):
        problem(api.client.get(f"{BASE}/{RAIL}", headers=bearer(f"cmt_guess{attempt}")), 401)
    limited = api.client.get(f"{BASE}/{RAIL}", headers=bearer("cmt_guess10"))
    assert "too many failed authentications" in problem(limited, 429)
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # While limited, no token from this address is even looked up: guessing gets nowhere.
    problem(api.client.get(f"{BASE}/{RAIL}", headers=good), 429)
    problem(api.client.post(f"{BASE}/{RAIL}/health", json={}, headers=good), 429)
    age(limit, 61)
    assert api.client.get(f"{BASE}/{RAIL}", headers=good).status_code == 200


def test_requests_with_a_valid_token_are_never_limited(api: Api) -> None:
    for _ in range(30):
        assert api.get(f"{BASE}/{RAIL}", "viewer").status_code == 200
    for _ in range(9):
        problem(api.client.get(f"{BASE}/{RAIL}", headers=bearer("cmt_wrong")), 401)
    assert api.get(f"{BASE}/{RAIL}", "viewer").status_code == 200
    problem(api.client.get(f"{BASE}/{RAIL}"), 401)  # no token at all: not counted
    problem(api.client.get(f"{BASE}/{RAIL}", headers=bearer("cmt_wrong")), 401)  # the 10th


def test_failed_sign_ins_on_the_dashboard_count_too(api: Api) -> None:
    for _ in range(10):
        page = post_login(api.client, "cmt_nope")
        assert page.status_code == 401
    page = post_login(api.client, api.token("viewer"))
    assert page.status_code == 429 and "Too many failed sign-ins" in page.text
    assert int(page.headers["Retry-After"]) >= 1 and "set-cookie" not in page.headers
