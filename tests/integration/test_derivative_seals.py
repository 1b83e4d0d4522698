"""Derivatives are sealed with a key the database does not hold (adapters/seals.py): a
snapshot or archived artefact edited together with its digest is not served by a process
with the signing key, and `verify` names it. Without the key, behaviour is sha256 only."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, update

from adapters import backup
from adapters.bootstrap import Services
from adapters.ledger import verify
from adapters.reports.archive import DamagedArtefact
from adapters.reports.data import ReportInputs
from adapters.seals import Sealer
from adapters.snapshots import CheckedSnapshotStore
from adapters.tables import report_artefacts, snapshot_digests
from domain.checkpoint import Signer
from tests.conftest import open_services
from tests.integration.test_snapshot_trust import (
    FORGED_TITLE,
    TRUE_TITLE,
    forge,
    snapshotted,
)
from tests.support import CODE, registration, write

OPERATOR = Signer.generate("tracker.example/operator")
ROTATED = Signer.generate("tracker.example/operator")


def key_file(tmp_path: Path, signer: Signer) -> str:
    path = tmp_path / f"{signer.verifier().key_id.hex()}.key"
    path.write_text(signer.encode() + "\n")
    return str(path)


@pytest.fixture
def keyed(database_url: str, tmp_path: Path) -> Iterator[Services]:
    """Services of a server with the operator's signing key."""
    built = open_services(database_url, signing_key_file=key_file(tmp_path, OPERATOR))
    try:
        yield built
    finally:
        built.close()


def reopen(url: str, tmp_path: Path, signer: Signer | None) -> Services:
    """Another process (nothing cached), with this signing key or none."""
    if signer is None:
        return open_services(url)
    return open_services(url, signing_key_file=key_file(tmp_path, signer))


def loaded_title(url: str, tmp_path: Path, signer: Signer | None) -> tuple[str, int]:
    """The commitment's title as a fresh process loads it, and the snapshots it refused."""
    fresh = reopen(url, tmp_path, signer)
    try:
        title = fresh.tracker.get(CODE).title
        store = fresh.tracker.snapshots
        assert isinstance(store, CheckedSnapshotStore)
        return title, store.rejected
    finally:
        fresh.close()


def archived(services: Services) -> str:
    if services.reports.head() == 0:
        write(services, registration())
    inputs = ReportInputs(services.reports.head(), date(2026, 4, 1), 30)
    stored = services.reports.archive(inputs, ["md", "json"], generated_by="t")
    assert stored is not None
    return str(stored["id"])


def forge_artefact(services: Services, report_id: str, *, sha_too: bool = True) -> None:
    """Replace the md artefact's bytes (and, with `sha_too`, its sha256)."""
    forged = b"# Forged report\n"
    values: dict[str, object] = {"content": forged}
    if sha_too:
        values["sha256"] = hashlib.sha256(forged).hexdigest()
    with services.database.writing() as connection:
        connection.execute(
            update(report_artefacts)
            .where(report_artefacts.c.report_id == report_id, report_artefacts.c.format == "md")
            .values(**values)
        )


# ---- snapshots ------------------------------------------------------------------------


def test_a_snapshot_forged_with_its_digest_is_not_loaded_by_a_keyed_server(
    database_url: str, keyed: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    version = snapshotted(keyed)
    with keyed.database.reading() as connection:
        [seal] = connection.execute(select(snapshot_digests.c.seal)).scalars()
    assert seal is not None and len(seal) == 64
    assert verify(keyed.database, sealer=keyed.sealer).verified
    assert loaded_title(database_url, tmp_path, OPERATOR) == (TRUE_TITLE, 0)

    forge(keyed, digest_too=True)
    with caplog.at_level(logging.WARNING, logger="adapters.snapshots"):
        assert loaded_title(database_url, tmp_path, OPERATOR) == (TRUE_TITLE, 1)
    assert "does not carry its seal" in caplog.text
    checked = verify(keyed.database, sealer=keyed.sealer)
    assert not checked.verified
    assert f"at version {version} does not carry its seal" in (checked.problem or "")
    # Without the key, the digest is all there is: the forgery loads (verify's replay
    # still finds it).
    assert loaded_title(database_url, tmp_path, None) == (FORGED_TITLE, 0)


def test_a_snapshot_sealed_with_another_key_is_replayed_past(
    database_url: str, keyed: Services, tmp_path: Path
) -> None:
    version = snapshotted(keyed)
    assert loaded_title(database_url, tmp_path, ROTATED) == (TRUE_TITLE, 1)
    rotated = reopen(database_url, tmp_path, ROTATED)
    try:
        problem = verify(rotated.database, sealer=rotated.sealer).problem or ""
        assert f"at version {version} does not carry its seal" in problem
    finally:
        rotated.close()


def test_snapshots_without_a_key_are_unsealed_and_used_as_before(
    database_url: str, services: Services, tmp_path: Path
) -> None:
    version = snapshotted(services)
    with services.database.reading() as connection:
        assert list(connection.execute(select(snapshot_digests.c.seal)).scalars()) == [None]
    assert verify(services.database).verified
    assert loaded_title(database_url, tmp_path, None) == (TRUE_TITLE, 0)
    # A keyed server does not trust an unsealed snapshot: it replays, and verify says so.
    assert loaded_title(database_url, tmp_path, OPERATOR) == (TRUE_TITLE, 1)
    keyed = reopen(database_url, tmp_path, OPERATOR)
    try:
        problem = verify(keyed.database, sealer=keyed.sealer).problem or ""
        assert f"at version {version} is not sealed" in problem
    finally:
        keyed.close()


# ---- archived artefacts ------------------------------------------------------------------


def test_an_artefact_forged_with_its_sha256_is_refused_by_a_keyed_server(
    database_url: str, keyed: Services, tmp_path: Path
) -> None:
    report_id = archived(keyed)
    served = keyed.reports.artefact(report_id, "md")
    assert served.sealed is True
    assert verify(keyed.database, sealer=keyed.sealer).verified

    forge_artefact(keyed, report_id)
    forged_sha = hashlib.sha256(b"# Forged report\n").hexdigest()
    # Nor is a file with the forged bytes "archived" when a report file is checked.
    assert keyed.reports._archived_as(served.sha256) == []
    assert keyed.reports._archived_as(forged_sha) == []
    with pytest.raises(DamagedArtefact, match="do not carry their seal"):
        keyed.reports.artefact(report_id, "md")
    assert keyed.reports.artefact(report_id, "json").sealed is True  # untouched
    checked = verify(keyed.database, sealer=keyed.sealer)
    assert not checked.verified
    assert f"report {report_id} as md" in (checked.problem or "")
    # A process without the key checks the sha256 only, as before seals.
    unkeyed = reopen(database_url, tmp_path, None)
    try:
        assert unkeyed.reports._archived_as(forged_sha) == [report_id]
        assert unkeyed.reports.artefact(report_id, "md").content == b"# Forged report\n"
        assert unkeyed.reports.artefact(report_id, "md").sealed is None
    finally:
        unkeyed.close()


def test_an_artefact_whose_sha256_alone_was_changed_is_refused_and_reported(
    keyed: Services,
) -> None:
    report_id = archived(keyed)
    forge_artefact(keyed, report_id, sha_too=False)
    with pytest.raises(DamagedArtefact, match="sha256"):
        keyed.reports.artefact(report_id, "md")
    assert "sha256" in (verify(keyed.database, sealer=keyed.sealer).problem or "")


def test_an_artefact_sealed_with_another_key_is_refused(
    database_url: str, keyed: Services, tmp_path: Path
) -> None:
    report_id = archived(keyed)
    rotated = reopen(database_url, tmp_path, ROTATED)
    try:
        with pytest.raises(DamagedArtefact, match="another signing key"):
            rotated.reports.artefact(report_id, "md")
        assert not verify(rotated.database, sealer=rotated.sealer).verified
    finally:
        rotated.close()


def test_an_unsealed_artefact_is_served_on_its_sha256_and_marked_unsealed(
    database_url: str, services: Services, tmp_path: Path
) -> None:
    report_id = archived(services)  # no key: no seal
    with services.database.reading() as connection:
        seals = set(connection.execute(select(report_artefacts.c.seal)).scalars())
    assert seals == {None}
    assert services.reports.artefact(report_id, "md").sealed is None
    keyed = reopen(database_url, tmp_path, OPERATOR)
    try:
        served = keyed.reports.artefact(report_id, "md")
        assert served.sealed is False
        assert verify(keyed.database, sealer=keyed.sealer).verified
        forge_artefact(keyed, report_id, sha_too=False)
        with pytest.raises(DamagedArtefact, match="sha256"):
            keyed.reports.artefact(report_id, "md")  # the sha256 is still checked
    finally:
        keyed.close()


def test_an_import_seals_the_artefacts_with_the_importing_servers_key(
    keyed: Services, tmp_path: Path, sqlite_url: str
) -> None:
    report_id = archived(keyed)
    exported = tmp_path / "log.jsonl"
    with exported.open("w", encoding="utf-8") as handle:
        backup.export_log(keyed.database, handle)
    assert '"seal"' not in exported.read_text(encoding="utf-8")  # the format is unchanged
    target = reopen(sqlite_url, tmp_path, ROTATED)  # another server, with its own key
    try:
        backup.import_log(target.database, exported, target.sealer)
        assert target.reports.artefact(report_id, "md").sealed is True
        assert verify(target.database, sealer=target.sealer).verified
        with target.database.reading() as connection:
            rows = connection.execute(select(report_artefacts.c.format, report_artefacts.c.seal))
            seals = {row.format: row.seal for row in rows}
        rotated = Sealer.from_signer(ROTATED)
        md = target.reports.artefact(report_id, "md").content
        assert seals["md"] == rotated.artefact(report_id, "md", md)
    finally:
        target.close()


def test_the_seal_key_is_derived_not_the_signing_key_and_binds_its_fields() -> None:
    sealer = Sealer.from_signer(OPERATOR)
    assert sealer.artefact("r1", "md", b"x") != Sealer.from_signer(ROTATED).artefact(
        "r1", "md", b"x"
    )
    assert sealer.artefact("r1", "md", b"x") != sealer.artefact("r2", "md", b"x")
    assert sealer.artefact("r1", "md", b"x") != sealer.artefact("r1", "json", b"x")
    assert sealer.artefact("r1", "mdx", b"") != sealer.artefact("r1", "md", b"x")
