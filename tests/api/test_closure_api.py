"""Closing a commitment of several parties over HTTP: an editor's closing status is a
proposal (202, `pending_closure`), an editor of another party confirms or rejects it;
admins act alone and it shows; editors change only their own party's agencies."""

from __future__ import annotations

from typing import Any

from tests.api.client import BASE, Api, problem

JOINT = {
    "code": "CMAP-PROS-HYDRO",
    "title": "Clean hydrogen dialogue",
    "pillar": "prosperity",
    "sectors": ["energy"],
    "parties": ["CA", "MX"],
    "lead_party": "joint",
    "start_date": "2025-09-18",
    "agencies": {"CA": ["NRCan"], "MX": ["SENER"]},
}
HYDRO = f"{BASE}/CMAP-PROS-HYDRO"
DONE = {"status": "completed", "reason": "dialogue concluded", "as_of": "2026-06-01"}


def started(api: Api, **overrides: Any) -> None:
    """CMAP-PROS-HYDRO registered by an admin and in progress since 1 March 2026."""
    response = api.post(BASE, json=JOINT | overrides)
    assert response.status_code == 201, response.text
    response = api.post(
        f"{HYDRO}/status", json={"status": "in_progress", "reason": "r", "as_of": "2026-03-01"}
    )
    assert response.status_code == 200, response.text


def proposed(api: Api) -> dict[str, Any]:
    started(api)
    response = api.post(f"{HYDRO}/status", "mx", json=DONE)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_editors_closing_status_is_a_proposal_answered_202(api: Api) -> None:
    started(api)
    response = api.post(f"{HYDRO}/status", "mx", json=DONE, headers={"If-Match": '"2"'})
    assert response.status_code == 202, response.text
    assert response.headers["ETag"] == '"3"'
    assert int(response.headers["X-Log-Position"]) == api.head()
    body = response.json()
    assert (body["status"], body["version"]) == ("in_progress", 3)
    pending = body["pending_closure"]
    assert pending == {
        "status": "completed",
        "reason": "dialogue concluded",
        "as_of": "2026-06-01",
        "superseded_by": None,
        "proposed_by": api.actor("mx"),
        "proposed_by_party": "MX",
        "proposed_at": pending["proposed_at"],
        "version": 3,
        "awaiting": ["CA"],
    }
    assert api.commitment("CMAP-PROS-HYDRO")["pending_closure"] == pending
    closure = api.get(f"{HYDRO}/closure", "viewer")
    assert closure.status_code == 200 and closure.json() == pending
    assert closure.headers["ETag"] == '"3"'
    last = api.history("CMAP-PROS-HYDRO")[-1]
    assert (last["type"], last["actor"]) == ("ClosureProposed", api.actor("mx"))
    assert last["data"] == {
        "status": "completed",
        "reason": "dialogue concluded",
        "as_of": "2026-06-01",
        "superseded_by": None,
        "party": "MX",
        "partial": False,
    }


def test_an_editor_of_the_other_party_confirms_and_the_status_changes(api: Api) -> None:
    proposed(api)
    response = api.post(
        f"{HYDRO}/closure/confirm", "ca", json={"note": "agreed"}, headers={"If-Match": '"3"'}
    )
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"5"'
    body = response.json()
    assert (body["status"], body["status_reason"], body["status_as_of"]) == (
        "completed",
        "dialogue concluded",
        "2026-06-01",
    )
    assert body["pending_closure"] is None
    confirmed, changed = api.history("CMAP-PROS-HYDRO")[-2:]
    assert (confirmed["type"], confirmed["actor"], changed["type"]) == (
        "ClosureConfirmed",
        api.actor("ca"),
        "StatusChanged",
    )
    assert confirmed["data"] == {
        "status": "completed",
        "party": "CA",
        "alone": False,
        "proposed_by": api.actor("mx"),
        "proposed_by_party": "MX",
        "note": "agreed",
    }
    detail = problem(api.get(f"{HYDRO}/closure"), 404)
    assert "no closure of CMAP-PROS-HYDRO is pending" in detail


def test_the_proposing_party_cannot_confirm(api: Api) -> None:
    proposed(api)
    detail = problem(api.post(f"{HYDRO}/closure/confirm", "mx", json={}), 403)
    assert "proposed by party MX" in detail and "(CA)" in detail
    assert api.commitment("CMAP-PROS-HYDRO")["status"] == "in_progress"


def test_an_editor_of_no_party_of_the_commitment_cannot_confirm(api: Api) -> None:
    proposed(api)
    detail = problem(api.post(f"{HYDRO}/closure/confirm", "us", json={}), 403)
    assert "party US" in detail
    problem(api.post(f"{HYDRO}/closure/confirm", "viewer", json={}), 403)


def test_a_rejection_needs_a_reason_and_leaves_the_status(api: Api) -> None:
    proposed(api)
    problem(api.post(f"{HYDRO}/closure/reject", "ca", json={}), 422)
    problem(api.post(f"{HYDRO}/closure/reject", "ca", json={"reason": " "}), 422)
    response = api.post(f"{HYDRO}/closure/reject", "ca", json={"reason": "report missing"})
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["pending_closure"]) == ("in_progress", None)
    last = api.history("CMAP-PROS-HYDRO")[-1]
    assert (last["type"], last["data"]["reason"], last["data"]["party"]) == (
        "ClosureRejected",
        "report missing",
        "CA",
    )
    problem(api.post(f"{HYDRO}/closure/confirm", "ca", json={}), 409)
    problem(api.post(f"{HYDRO}/closure/reject", "ca", json={"reason": "again"}), 409)


def test_one_proposal_at_a_time_other_writes_go_on(api: Api) -> None:
    proposed(api)
    for who in ("ca", "mx", "admin"):
        detail = problem(
            api.post(f"{HYDRO}/status", who, json={"status": "cancelled", "reason": "r"}), 409
        )
        assert "is pending: confirm or reject it first" in detail
    progress = {"percent": 90, "as_of": "2026-06-01", "note": "n"}
    assert api.post(f"{HYDRO}/progress", "ca", json=progress).status_code == 201
    # A status change that closes nothing is done, not proposed: 200, the proposal stays.
    stalled = api.post(f"{HYDRO}/status", "ca", json={"status": "stalled", "reason": "r"})
    assert stalled.status_code == 200, stalled.text
    assert stalled.json()["pending_closure"]["status"] == "completed"
    # ... and no longer fits: confirming it is a conflict.
    detail = problem(api.post(f"{HYDRO}/closure/confirm", "ca", json={}), 409)
    assert "no longer fits" in detail


def test_an_admin_closes_alone_and_the_history_says_so(api: Api) -> None:
    started(api)
    response = api.post(f"{HYDRO}/status", json=DONE)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"
    confirmed = api.history("CMAP-PROS-HYDRO")[-2]
    assert (confirmed["type"], confirmed["actor"]) == ("ClosureConfirmed", api.actor("admin"))
    assert (confirmed["data"]["alone"], confirmed["data"]["proposed_by"]) == (True, None)


def test_an_admin_confirms_a_proposal_alone(api: Api) -> None:
    proposed(api)
    response = api.post(f"{HYDRO}/closure/confirm")  # no body: as {}
    assert response.status_code == 200 and response.json()["status"] == "completed"
    confirmed = api.history("CMAP-PROS-HYDRO")[-2]
    assert (confirmed["data"]["alone"], confirmed["data"]["party"]) == (True, None)


def test_an_editor_closes_a_single_party_commitment_directly(api: Api) -> None:
    started(api, parties=["MX"], lead_party="MX", agencies={})
    response = api.post(f"{HYDRO}/status", "mx", json=DONE)
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["pending_closure"]) == ("completed", None)


def test_a_proposal_replayed_by_its_idempotency_key_is_202_again(api: Api) -> None:
    started(api)
    key = {"Idempotency-Key": "close-hydro"}
    first = api.post(f"{HYDRO}/status", "mx", json=DONE, headers=key)
    again = api.post(f"{HYDRO}/status", "mx", json=DONE, headers=key)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(api.history("CMAP-PROS-HYDRO")) == 3
    confirm = {"Idempotency-Key": "confirm-hydro"}
    done = api.post(f"{HYDRO}/closure/confirm", "ca", headers=confirm)
    redone = api.post(f"{HYDRO}/closure/confirm", "ca", json={}, headers=confirm)  # the same
    assert (done.status_code, redone.status_code) == (200, 200)
    assert redone.json() == done.json() and redone.headers["Idempotent-Replayed"] == "true"
    stale = api.post(
        f"{HYDRO}/closure/reject", "ca", json={"reason": "r"}, headers={"If-Match": '"3"'}
    )
    problem(stale, 412)


def test_time_travel_shows_the_proposal_as_it_was(api: Api) -> None:
    proposed(api)
    api.post(f"{HYDRO}/closure/reject", "ca", json={"reason": "not yet"})
    at = {
        version: api.json(f"{HYDRO}?version={version}")["pending_closure"] for version in (2, 3, 4)
    }
    assert at[2] is None and at[3] is not None and at[4] is None
    assert at[3]["proposed_by_party"] == "MX"
    recorded = api.history("CMAP-PROS-HYDRO")[2]["recorded_at"]
    then = api.get(HYDRO, params={"known_at": recorded}).json()
    assert then["pending_closure"] == at[3]
    # Dated like the status change it proposes: as of the day before, nothing pending.
    api.post(f"{HYDRO}/status", "mx", json=DONE)
    assert api.json(f"{HYDRO}?as_of=2026-05-31")["pending_closure"] is None
    assert api.json(f"{HYDRO}?as_of=2026-06-01")["pending_closure"]["status"] == "completed"


def test_the_list_shows_pending_closures(api: Api) -> None:
    proposed(api)
    api.project()
    items = api.json(BASE, params={"q": "PROS-HYDRO"})["items"]
    assert [i["pending_closure"]["awaiting"] for i in items] == [["CA"]]
    others = api.json(BASE, params={"pillar": "security"})["items"]
    assert others and all(i["pending_closure"] is None for i in others)


# ---- agencies ------------------------------------------------------------------------------


def test_an_editor_changes_only_their_own_partys_agencies(api: Api) -> None:
    started(api)
    theirs = {"agencies": {"CA": ["GAC"], "MX": ["SENER"]}, "reason": "r"}
    detail = problem(api.patch(HYDRO, "mx", json=theirs), 403)
    assert "not those of CA" in detail
    dropped = {"agencies": {"MX": ["SENER", "CFE"]}, "reason": "r"}
    assert "not those of CA" in problem(api.patch(HYDRO, "mx", json=dropped), 403)
    own = {"agencies": {"CA": ["NRCan"], "MX": ["SENER", "CFE"]}, "reason": "r"}
    response = api.patch(HYDRO, "mx", json=own)
    assert response.status_code == 200, response.text
    assert response.json()["agencies"] == {"CA": ["NRCan"], "MX": ["SENER", "CFE"]}
    assert api.patch(HYDRO, json=theirs).status_code == 200  # an admin changes any


def test_an_editor_registers_only_their_own_partys_agencies(api: Api) -> None:
    detail = problem(api.post(BASE, "mx", json=JOINT), 403)
    assert "not those of CA" in detail
    assert api.get(HYDRO).status_code == 404
    response = api.post(BASE, "mx", json=JOINT | {"agencies": {"MX": ["SENER"]}})
    assert response.status_code == 201, response.text


def test_the_list_writes_its_items_as_the_response_model_would(api: Api) -> None:
    """The list is written straight from the read model's documents (not through its
    response model, for speed): the same bytes the model would write, key order included,
    for items with a pending closure, translations and words outside ASCII."""
    from api.schemas import CommitmentPage

    proposed(api)
    api.project()
    response = api.get(BASE, params={"limit": 500})
    assert response.status_code == 200, response.text
    page = response.json()
    assert any(item["pending_closure"] for item in page["items"])
    assert any(item["translations"] for item in page["items"])
    modelled = CommitmentPage.model_validate(page).model_dump_json().encode()
    assert response.content == modelled
    assert "é" in response.content.decode()  # UTF-8 as it is, not \u escapes
