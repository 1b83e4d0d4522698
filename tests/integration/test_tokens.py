"""Tokens on a real database: issued and revoked through the unit of work with their row
in the same transaction, names unique whatever their case (also when two processes race,
or two writes share a batch), revocation at once on this server, expiry on an injected
clock, and the failure limit per address."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from adapters.bootstrap import Services
from adapters.history import event_feed
from adapters.ledger import verify
from adapters.projection import log_head
from adapters.rate_limit import FailureLimit
from adapters.tables import api_tokens
from adapters.tokens import Authenticator, TokenInfo, TooManyFailures, authenticate
from adapters.unit_of_work import Write
from domain import clock
from domain.access import Role, system
from domain.errors import DuplicateName, InvalidValue, NotFound, StateConflict
from tests.conftest import open_services
from tests.integration.test_unit_of_work import Queue, wait_until, write_lock_held
from tests.support import ADMIN, registration, token_row, write

CLI = system("cli")
NOW = datetime(2026, 11, 27, 9, tzinfo=UTC)
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def head(services: Services) -> int:
    with services.database.reading() as connection:
        return log_head(connection)


def rows(services: Services) -> list[dict[str, Any]]:
    with services.database.reading() as connection:
        return [dict(r._mapping) for r in connection.execute(select(api_tokens))]


@pytest.fixture
def queue(services: Services) -> Iterator[Queue]:
    runner = Queue(services)
    yield runner
    runner.close()


# ---- issuing -------------------------------------------------------------------------------


def test_issuing_writes_the_event_and_the_row_together(services: Services) -> None:
    secret, token = services.tokens.issue(CLI, name="Ana.CA", role=Role.EDITOR, party="CA")
    [row] = rows(services)
    assert (row["id"], row["name"], row["name_key"], row["party"]) == (
        token.id,
        "Ana.CA",
        "ana.ca",
        "CA",
    )
    assert secret.startswith("cmt_") and secret not in json.dumps(row, default=str)
    [entry] = event_feed(services.database, services.tracker, after=0, limit=10)
    assert (entry["type"], entry["actor"], entry["commitment_id"]) == (
        "ApiToken.Issued",
        "cli",
        str(uuid.UUID(token.id)),
    )
    assert entry["data"] == {"name": "Ana.CA", "role": "editor", "party": "CA", "expires_at": None}
    assert secret not in json.dumps(entry) and row["token_hash"] not in json.dumps(entry)
    assert verify(services.database).verified and entry["hash"] is not None
    principal = authenticate(services.database, secret)
    assert principal is not None and principal.actor == f"Ana.CA#{token.id[:8]}"
    # The projection passes over token events (their rows are written with them).
    services.projection.catch_up()
    assert services.projection.position() == head(services) == 1


@pytest.mark.parametrize("taken", ["ana.ca", "ANA.CA", "Ana.Ca"])
def test_a_name_is_taken_whatever_its_case_and_the_clash_is_named(
    services: Services, taken: str
) -> None:
    _, first = services.tokens.issue(CLI, name="ana.ca", role=Role.EDITOR, party="CA")
    before = head(services)
    with pytest.raises(DuplicateName, match=rf"'{taken}' is taken: token {first.actor} has it"):
        services.tokens.issue(CLI, name=taken, role=Role.ADMIN)
    assert head(services) == before and len(rows(services)) == 1  # neither event nor row


def test_a_name_stays_taken_once_revoked(services: Services) -> None:
    services.tokens.issue(CLI, name="vera", role=Role.VIEWER)
    services.tokens.revoke(CLI, "vera")
    with pytest.raises(DuplicateName, match="stay taken"):
        services.tokens.issue(CLI, name="Vera", role=Role.VIEWER)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"name": "seed", "role": "admin"}, "reserved"),
        ({"name": "sample-data", "role": "viewer"}, "reserved"),
        ({"name": "schedule:weekly", "role": "viewer"}, "letters, digits"),
        ({"name": "ana", "role": "editor"}, "needs a party"),
        ({"name": "ana", "role": "root"}, "role must be one of"),
    ],
)
def test_refused_tokens_leave_nothing(
    services: Services, fields: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InvalidValue, match=fragment):
        services.tokens.issue(CLI, **fields)
    assert head(services) == 0 and rows(services) == []


def test_two_processes_issuing_one_name_at_once_give_it_to_one(
    database_url: str, services: Services, more_services: list[Services]
) -> None:
    """Both pass the call before either commits; the lock the unit of work holds makes the
    second see the first's row (and the unique index would refuse it anyway)."""
    other = open_services(database_url)
    more_services.append(other)
    with ThreadPoolExecutor(max_workers=2) as pool, write_lock_held(database_url):
        futures = [
            pool.submit(s.tokens.issue, CLI, name=name, role=Role.VIEWER)
            for s, name in ((services, "twin"), (other, "TWIN"))
        ]
        wait_until(lambda: len(services.unit_of_work._queue) == 1)
        wait_until(lambda: len(other.unit_of_work._queue) == 1)
    outcomes = []
    for future in futures:
        try:
            future.result(timeout=30)
            outcomes.append("issued")
        except DuplicateName:
            outcomes.append("refused")
    assert sorted(outcomes) == ["issued", "refused"]
    assert len(rows(services)) == 1 and head(services) == 1
    assert verify(services.database).verified


def test_one_name_twice_in_one_batch_goes_to_the_first(
    database_url: str, services: Services, queue: Queue
) -> None:
    write(services, registration())
    tokens = services.tokens
    first, second, other = (
        tokens.issuing(name="pair", role=Role.VIEWER),
        tokens.issuing(name="Pair", role=Role.VIEWER),
        tokens.issuing(name="other", role=Role.VIEWER),
    )
    with write_lock_held(database_url):
        futures = [
            queue.submit(Write(ADMIN, issuing.command, beside=issuing.beside))
            for issuing in (first, second, other)
        ]
    futures[0].result(timeout=30)
    with pytest.raises(DuplicateName, match="another token has it"):
        futures[1].result(timeout=30)
    futures[2].result(timeout=30)
    assert sorted(r["name"] for r in rows(services)) == ["other", "pair"]
    assert head(services) == 1 + 2 and verify(services.database).verified


# (On SQLite no other connection can write while the unit of work holds the lock.)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_row_the_unique_index_refuses_rolls_back_the_event_too(services: Services) -> None:
    """Should a row of that name appear behind the unit of work's back (not under its
    lock), the index refuses the insert and the Issued event goes with it; the write
    again then finds the name taken."""
    issuing = services.tokens.issuing(name="late", role=Role.VIEWER)
    sneaked: list[str] = []

    def sneaky(write: Any, change: Any) -> None:
        issuing.beside(write, change)  # finds the name free...
        if not sneaked:  # ... and another connection takes it before the commit
            sneaked.append(token_row(services.database, "LATE", Role.VIEWER))

    with pytest.raises(DuplicateName, match="'late' is taken"):
        services.unit_of_work.run(Write(ADMIN, issuing.command, beside=sneaky))
    assert head(services) == 0 and [r["name"] for r in rows(services)] == ["LATE"]


# ---- listing, finding, revoking --------------------------------------------------------------


def test_tokens_are_found_by_id_name_or_actor_and_listed_without_secrets(
    services: Services,
) -> None:
    _, ana = services.tokens.issue(CLI, name="ana.ca", role=Role.EDITOR, party="CA")
    _, vera = services.tokens.issue(
        CLI, name="vera", role=Role.VIEWER, expires_at=datetime.now(UTC) + timedelta(days=9)
    )
    for ref in (ana.id, str(uuid.UUID(ana.id)), "ANA.CA", ana.actor, ana.actor.upper()):
        assert services.tokens.get(ref) == ana
    with pytest.raises(NotFound, match=r"no token 'ana\.ca#00000000'"):
        services.tokens.get("ana.ca#00000000")
    listed = [t.as_dict(datetime.now(UTC)) for t in services.tokens.list()]
    assert [t["name"] for t in listed] == ["ana.ca", "vera"]
    assert set(listed[0]) == {
        "id",
        "name",
        "actor",
        "role",
        "party",
        "status",
        "created_at",
        "expires_at",
        "revoked_at",
    }
    assert vera.expires_at is not None and listed[1]["expires_at"] == vera.expires_at.isoformat()
    assert listed[0]["expires_at"] is None and listed[0]["actor"] == ana.actor


def test_revoking_is_an_event_and_works_at_once_on_this_server(services: Services) -> None:
    secret, token = services.tokens.issue(CLI, name="ana.ca", role=Role.EDITOR, party="CA")
    authenticator = services.authenticate
    assert authenticator(secret) is not None
    assert authenticator.remembered(secret) is not None  # cached for the next request
    revoked = services.tokens.revoke(ADMIN, "ana.ca", reason="left the ministry")
    assert revoked.revoked_at is not None
    assert authenticator.remembered(secret) is None and authenticator(secret) is None
    [_, entry] = event_feed(services.database, services.tracker, after=0, limit=10)
    assert (entry["type"], entry["actor"], entry["data"]) == (
        "ApiToken.Revoked",
        ADMIN.actor,
        {"reason": "left the ministry"},
    )
    with pytest.raises(StateConflict, match="revoked already"):
        services.tokens.revoke(ADMIN, token.id)
    assert services.tokens.get(token.id).status(datetime.now(UTC)) == "revoked"


def test_a_token_made_before_issues_were_logged_is_recorded_when_revoked(
    services: Services,
) -> None:
    secret = token_row(services.database, "nobody", Role.EDITOR)  # no party, no event
    assert authenticate(services.database, secret) is not None
    token = services.tokens.revoke(CLI, "nobody")
    assert authenticate(services.database, secret) is None
    entries = event_feed(services.database, services.tracker, after=0, limit=10)
    assert [e["type"] for e in entries] == ["ApiToken.IssuedEarlier", "ApiToken.Revoked"]
    assert entries[0]["commitment_id"].replace("-", "") == token.id
    assert entries[0]["data"]["name"] == "nobody" and entries[0]["data"]["party"] is None


def test_a_revocation_reaches_other_servers_within_their_memory(
    database_url: str, services: Services, more_services: list[Services]
) -> None:
    """Another server remembers a holder for AUTH_CACHE_SECONDS: documented, not hidden."""
    secret, _ = services.tokens.issue(CLI, name="ana.ca", role=Role.EDITOR, party="CA")
    other = open_services(database_url)
    more_services.append(other)
    assert other.authenticate(secret) is not None
    services.tokens.revoke(CLI, "ana.ca")
    assert other.authenticate.remembered(secret) is not None
    assert Authenticator(other.database)(secret) is None  # a look-up sees it at once


# ---- expiry --------------------------------------------------------------------------------


def test_an_expired_token_fails_even_when_remembered(services: Services) -> None:
    now = [NOW]
    authenticator = Authenticator(services.database, now=lambda: now[0])
    with clock.frozen_at(NOW):
        secret, _ = services.tokens.issue(
            CLI, name="temp", role=Role.VIEWER, expires_at=NOW + timedelta(hours=1)
        )
    assert authenticator(secret) is not None
    now[0] = NOW + timedelta(minutes=59, seconds=59)
    assert authenticator.remembered(secret) is not None
    now[0] = NOW + timedelta(hours=1)
    assert authenticator.remembered(secret) is None and authenticator(secret) is None
    assert services.tokens.get("temp").status(now[0]) == "expired"


def test_bootstrap_issues_an_admin_only_while_none_works(services: Services) -> None:
    first = services.tokens.bootstrap(CLI, "admin")
    assert first is not None and services.tokens.bootstrap(CLI, "admin") is None
    services.tokens.revoke(CLI, "admin")
    second = services.tokens.bootstrap(CLI, "admin")
    assert second is not None
    principal = authenticate(services.database, second)
    assert principal is not None and (principal.name, principal.role) == ("admin-2", Role.ADMIN)


# ---- failed authentications ----------------------------------------------------------------


def age(limit: FailureLimit, seconds: float) -> None:
    """Move every failure `seconds` into the past (limits' memory storage keeps each as an
    entry with its time): the window passes without the test waiting for it."""
    for entries in limit.storage.events.values():
        for entry in entries:
            entry.atime -= seconds
            entry.expiry -= seconds


@SQLITE_ONLY
def test_failures_past_the_limit_are_refused_without_a_look_up(services: Services) -> None:
    limit = FailureLimit("3/minute")
    authenticator = Authenticator(services.database, failures=limit)
    secret, _ = services.tokens.issue(CLI, name="ana.ca", role=Role.EDITOR, party="CA")
    for _ in range(3):
        assert authenticator.check("cmt_wrong", "10.0.0.1") is None
    with pytest.raises(TooManyFailures) as refused:
        authenticator.check(secret, "10.0.0.1")  # even a good token: no look-up while limited
    assert 1 <= refused.value.seconds <= 60
    assert authenticator.check(secret, "10.0.0.2") is not None  # another address
    age(limit, 61)
    assert authenticator.check(secret, "10.0.0.1") is not None


@SQLITE_ONLY
def test_successes_are_not_counted(services: Services) -> None:
    limit = FailureLimit("2/minute")
    authenticator = Authenticator(services.database, failures=limit)
    secret, _ = services.tokens.issue(CLI, name="ana.ca", role=Role.EDITOR, party="CA")
    for _ in range(20):
        assert authenticator.check(secret, "10.0.0.1") is not None
    assert authenticator.check("cmt_wrong", "10.0.0.1") is None
    assert authenticator.check(secret, "10.0.0.1") is not None


def test_the_limit_can_be_turned_off() -> None:
    limit = FailureLimit("off")
    for _ in range(100):
        limit.failed("10.0.0.1")
    assert limit.retry_after("10.0.0.1") is None


def test_token_info_of_a_row_is_utc(services: Services) -> None:
    token_row(services.database, "old", Role.VIEWER, created_at=NOW)
    [found] = services.tokens.list()
    assert isinstance(found, TokenInfo) and found.created_at == NOW
