"""Snapshots are trusted only when they match the log (adapters/snapshots.py): a forged
snapshot is not served, not written on, and `verify` names it."""

from __future__ import annotations

import hashlib
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from adapters.bootstrap import Services
from adapters.ledger import verify
from adapters.tables import snapshot_digests, snapshots
from api.app import create_app
from api.cli import main
from domain.commands import RateHealth, Together
from domain.tracker import SNAPSHOT_INTERVAL
from domain.vocabulary import Health
from tests.conftest import open_services, settings
from tests.support import CODE, registration, write

TRUE_TITLE = registration().title
FORGED_TITLE = "Forged title"


def snapshotted(services: Services) -> int:
    """A commitment with one snapshot, at the version returned."""
    write(services, registration())
    ratings = tuple(RateHealth(rating=Health.AMBER, rationale=f"r{i}") for i in range(100))
    version = write(services, Together(ratings), ref=CODE).version
    with services.database.reading() as connection:
        versions = list(connection.execute(select(snapshots.c.originator_version)).scalars())
        digests = connection.execute(select(snapshot_digests)).all()
    assert versions == [version] and version > SNAPSHOT_INTERVAL
    assert [(d.originator_version, len(d.chain_hash)) for d in digests] == [(versions[0], 64)]
    return int(versions[0])


def forge(services: Services, *, digest_too: bool = False) -> None:
    """Edit the title inside the snapshot's JSON (and, with `digest_too`, its SHA-256)."""
    with services.database.writing() as connection:
        state = bytes(connection.execute(select(snapshots.c.state)).scalar_one())
        assert TRUE_TITLE.encode() in state
        forged = state.replace(TRUE_TITLE.encode(), FORGED_TITLE.encode())
        connection.execute(update(snapshots).values(state=forged))
        if digest_too:
            sha = hashlib.sha256(forged).hexdigest()
            connection.execute(update(snapshot_digests).values(state_sha256=sha))


def test_a_forged_snapshot_is_ignored_written_past_and_reported(
    database_url: str, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    version = snapshotted(services)
    assert verify(services.database).verified
    forge(services)

    fresh = open_services(database_url)  # no cached aggregate: loads from the store
    try:
        with caplog.at_level(logging.WARNING, logger="adapters.snapshots"):
            assert fresh.tracker.get(CODE).title == TRUE_TITLE
            assert fresh.tracker.state(CODE, version=version).title == TRUE_TITLE
        assert "does not have the SHA-256 recorded for it" in caplog.text
        # A write loads the true state too, and so leaves it.
        written = write(fresh, RateHealth(rating=Health.RED, rationale="after"), ref=CODE)
        assert written.change is not None and written.change.commitment.title == TRUE_TITLE
        checked = verify(fresh.database)
        assert not checked.verified
        assert f"snapshot of {written.aggregate_id} at version {version}" in (checked.problem or "")
    finally:
        fresh.close()


def test_verify_replays_a_snapshot_whose_digest_was_forged_as_well(
    database_url: str, services: Services
) -> None:
    """The digest is no secret: who edits both gets past the load check, not `verify`."""
    version = snapshotted(services)
    forge(services, digest_too=True)
    checked = verify(services.database)
    assert not checked.verified
    assert checked.problem is not None
    assert f"at version {version} differs from the replay of its events" in checked.problem


def test_a_snapshot_without_its_digest_record_is_not_used(
    database_url: str, services: Services
) -> None:
    snapshotted(services)
    forge(services, digest_too=True)
    with services.database.writing() as connection:
        connection.execute(snapshot_digests.delete())
    fresh = open_services(database_url)
    try:
        assert fresh.tracker.get(CODE).title == TRUE_TITLE
        assert "has no digest record" in (verify(fresh.database).problem or "")
    finally:
        fresh.close()


def test_show_and_the_api_serve_the_logs_state_not_a_forged_snapshot(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    services = open_services(sqlite_url)
    try:
        snapshotted(services)
        forge(services)
    finally:
        services.close()
    monkeypatch.setenv("COMMITMENTS_DATABASE_URL", sqlite_url)
    assert main(["show", CODE]) == 0
    assert f'"title": "{TRUE_TITLE}"' in capsys.readouterr().out
    assert main(["verify"]) != 0
    assert "snapshot of" in capsys.readouterr().err

    with TestClient(create_app(settings(sqlite_url, public_read=True))) as client:
        answer = client.get(f"/api/v1/commitments/{CODE}")
        assert answer.status_code == 200 and answer.json()["title"] == TRUE_TITLE
        ledger = client.get("/api/v1/ledger").json()
        assert ledger["verified"] is False and "snapshot of" in ledger["problem"]
