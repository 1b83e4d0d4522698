"""API tokens in the domain: names, roles and parties, expiry, revocation, and the actor
recorded for a token holder (in memory, no database)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain import clock
from domain.access import Principal, Role, system
from domain.commands import EarlierToken, IssueToken, RateHealth, RevokeToken
from domain.errors import Forbidden, InvalidValue, NotFound, StateConflict, VersionMismatch
from domain.tokens import ApiToken, TokenStatus, check_token_name, name_key
from domain.tracker import Tracker
from domain.vocabulary import Health
from tests.conftest import memory_tracker
from tests.support import ADMIN, CA_EDITOR, CODE, VIEWER, registration

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
TOKEN_ID = uuid.UUID("1a2b3c4d-0000-4000-8000-000000000001")


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[None]:
    with clock.frozen_at(NOW):
        yield


@pytest.fixture
def tracker() -> Tracker:
    return memory_tracker()


def issue(**overrides: Any) -> IssueToken:
    fields: dict[str, Any] = {
        "name": "ana.ca",
        "role": Role.EDITOR,
        "party": "CA",
    }
    return IssueToken(**(fields | overrides))


# ---- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["ana.ca", "Ana.CA", "ana_ca-2", "ana@gob.mx", "a", "x" * 64, "7eleven"]
)
def test_names_of_letters_digits_and_a_few_marks_are_accepted(name: str) -> None:
    assert check_token_name(name) == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "must be 1-64"),
        ("x" * 65, "must be 1-64"),
        ("ana ca", "must be 1-64"),
        ("-ana", "starting with a letter or digit"),
        ("ana#1a2b3c4d", "must be 1-64"),  # would read as another token's actor
        ("schedule:weekly", "must be 1-64"),  # ':' is how system actors are named
        ("ána", "must be 1-64"),  # no look-alike letters from other scripts
        ("seed", "reserved"),
        ("Sample-Data", "reserved"),
        ("SYSTEM", "reserved"),
        ("scheduler", "reserved"),
        ("cli", "reserved"),
        ("1a2b3c4d00004000800000000000000a", "looks like a token id"),
        ("1a2b3c4d-0000-4000-8000-000000000001", "looks like a token id"),
    ],
)
def test_malformed_and_reserved_names_are_refused(name: str, fragment: str) -> None:
    with pytest.raises(InvalidValue, match=fragment):
        check_token_name(name)


def test_the_case_of_a_name_does_not_make_another_name() -> None:
    assert name_key("Ana.CA") == name_key("ana.ca") == "ana.ca"


# ---- issuing ------------------------------------------------------------------------------


def test_issuing_records_who_for_whom_and_until_when_but_no_secret(tracker: Tracker) -> None:
    expires = NOW + timedelta(days=30)
    change = tracker.execute(ADMIN, issue(expires_at=expires))
    token = change.aggregate
    assert isinstance(token, ApiToken) and change.events == 1
    assert (token.name, token.role, token.party, token.expires_at) == (
        "ana.ca",
        Role.EDITOR,
        "CA",
        expires,
    )
    assert token.actor == f"ana.ca#{token.id.hex[:8]}" and token.status(NOW) == TokenStatus.ACTIVE
    [event] = tracker.events.get(token.id)
    assert isinstance(event, ApiToken.Issued) and event.actor == ADMIN.actor
    assert set(vars(event)) - {"originator_id", "originator_version", "timestamp"} == {
        "originator_topic",
        "actor",
        "name",
        "role",
        "party",
        "expires_at",
    }


def test_every_token_has_an_id_of_its_own(tracker: Tracker) -> None:
    first = tracker.execute(ADMIN, issue()).aggregate
    second = tracker.execute(ADMIN, issue(name="luis.mx", party="MX")).aggregate
    assert first.id != second.id and first.actor.split("#")[1] != second.actor.split("#")[1]


def test_an_editor_token_needs_a_party_and_others_may_have_one(tracker: Tracker) -> None:
    with pytest.raises(InvalidValue, match="editor token needs a party"):
        tracker.execute(ADMIN, issue(party=None))
    with pytest.raises(InvalidValue, match="alpha-2"):
        tracker.execute(ADMIN, issue(party="XX"))
    viewer = tracker.execute(ADMIN, issue(role=Role.VIEWER, party=None)).aggregate
    assert viewer.party is None
    admin = tracker.execute(ADMIN, issue(name="mx-admin", role="admin"))
    assert (admin.aggregate.role, admin.aggregate.party) == (Role.ADMIN, "CA")


@pytest.mark.parametrize(
    ("expires_at", "fragment"),
    [
        (NOW, "not in the future"),
        (NOW - timedelta(days=1), "not in the future"),
        (datetime(2101, 1, 2, tzinfo=UTC), "before 2101-01-01"),
    ],
)
def test_an_expiry_must_be_ahead(tracker: Tracker, expires_at: datetime, fragment: str) -> None:
    with pytest.raises(InvalidValue, match=fragment):
        tracker.execute(ADMIN, issue(expires_at=expires_at))
    assert tracker.recorder.max_notification_id() in (None, 0)  # nothing recorded


def test_an_expiry_without_an_offset_is_utc(tracker: Tracker) -> None:
    token = tracker.execute(ADMIN, issue(expires_at=datetime(2026, 7, 1))).aggregate
    assert token.expires_at == datetime(2026, 7, 1, tzinfo=UTC)


def test_a_token_expires_at_its_time(tracker: Tracker) -> None:
    token = tracker.execute(ADMIN, issue(expires_at=NOW + timedelta(hours=1))).aggregate
    assert token.status(NOW + timedelta(minutes=59)) == TokenStatus.ACTIVE
    assert token.status(NOW + timedelta(hours=1)) == TokenStatus.EXPIRED


@pytest.mark.parametrize("principal", [CA_EDITOR, VIEWER], ids=["editor", "viewer"])
def test_only_admins_issue_and_revoke(tracker: Tracker, principal: Principal) -> None:
    with pytest.raises(Forbidden, match="admin"):
        tracker.execute(principal, issue())
    token = tracker.execute(ADMIN, issue()).aggregate
    with pytest.raises(Forbidden, match="admin"):
        tracker.execute(principal, RevokeToken(token_id=token.id))
    assert tracker.repository.get(token.id).version == 1


# ---- revoking -----------------------------------------------------------------------------


def test_revoking_records_when_by_whom_and_why_once(tracker: Tracker) -> None:
    issued = tracker.execute(ADMIN, issue()).aggregate
    with clock.frozen_at(NOW + timedelta(hours=2)):
        change = tracker.execute(ADMIN, RevokeToken(token_id=issued.id, reason="laptop lost"))
    token = change.aggregate
    assert token.revoked_at == NOW + timedelta(hours=2) and token.revoked_by == ADMIN.actor
    assert token.revoke_reason == "laptop lost" and token.status(NOW) == TokenStatus.REVOKED
    with pytest.raises(StateConflict, match="revoked already"):
        tracker.execute(ADMIN, RevokeToken(token_id=issued.id))
    assert [type(e).__qualname__ for e in tracker.events.get(issued.id)] == [
        "ApiToken.Issued",
        "ApiToken.Revoked",
    ]


def test_revoking_checks_if_match(tracker: Tracker) -> None:
    token = tracker.execute(ADMIN, issue()).aggregate
    with pytest.raises(VersionMismatch):
        tracker.execute(ADMIN, RevokeToken(token_id=token.id), expected_version=2)
    tracker.execute(ADMIN, RevokeToken(token_id=token.id), expected_version=1)


def test_an_unknown_token_is_not_found(tracker: Tracker) -> None:
    with pytest.raises(NotFound, match="no token"):
        tracker.execute(ADMIN, RevokeToken(token_id=TOKEN_ID))
    tracker.register(ADMIN, registration())  # a commitment is no token either
    with pytest.raises(NotFound, match="no token"):
        tracker.execute(ADMIN, RevokeToken(token_id=tracker.get(CODE).id))


def test_a_token_from_before_the_log_recorded_issues_is_recorded_when_revoked(
    tracker: Tracker,
) -> None:
    """Tokens made before 0.6.0 have a row but no event: revoking one records both."""
    earlier = EarlierToken(
        name="nobody",
        role=Role.EDITOR,
        party=None,  # an editor without a party was accepted then
        issued_at=datetime(2026, 1, 5, 9, tzinfo=UTC),
    )
    change = tracker.execute(ADMIN, RevokeToken(token_id=TOKEN_ID, earlier=earlier))
    assert change.events == 2
    issued, revoked = tracker.events.get(TOKEN_ID)
    assert isinstance(issued, ApiToken.IssuedEarlier) and isinstance(revoked, ApiToken.Revoked)
    assert issued.issued_at == datetime(2026, 1, 5, 9, tzinfo=UTC) and issued.timestamp == NOW
    assert change.aggregate.actor == "nobody#1a2b3c4d"
    # Once recorded, the log is what counts: the row's description is not used again.
    with pytest.raises(StateConflict, match="revoked already"):
        tracker.execute(ADMIN, RevokeToken(token_id=TOKEN_ID, earlier=earlier))


# ---- the actor of a token holder ----------------------------------------------------------


def test_a_token_holder_is_recorded_with_the_token_id_and_the_system_by_name(
    tracker: Tracker,
) -> None:
    holder = Principal("ana.ca", Role.ADMIN, token_id=TOKEN_ID.hex)
    tracker.register(holder, registration())
    tracker.update(system("seed"), CODE, RateHealth(rating=Health.GREEN, rationale="r"))
    assert [e.actor for e in tracker.events_of(CODE)] == ["ana.ca#1a2b3c4d", "seed"]


def test_a_system_actor_cannot_pass_for_a_token_holder() -> None:
    with pytest.raises(InvalidValue, match="must not contain '#'"):
        system("ana.ca#1a2b3c4d")
