"""What is stored beside the log and shown as fact is refused when it no longer matches:
an archived artefact whose bytes lost their sha256, an Idempotency-Key record that names
another event than the log's."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import update

from adapters.tables import idempotency_records, report_artefacts
from domain.checkpoint import Signer
from tests.api.client import BASE, Api, problem, serving

REPORTS = "/api/v1/reports"
RAIL = "CMAP-PROS-RAIL"


def test_an_archived_artefact_whose_bytes_were_changed_is_refused(api: Api) -> None:
    report = api.post(REPORTS, json={"formats": ["html", "json"]}).json()
    html = f"{REPORTS}/{report['id']}"
    assert api.get(html, "viewer", params={"format": "html"}).status_code == 200
    with api.services.database.writing() as connection:
        connection.execute(
            update(report_artefacts)
            .where(report_artefacts.c.format == "html")
            .values(content=b"<p>forged</p>")
        )
    detail = problem(api.get(html, "viewer", params={"format": "html"}), 409)
    assert "damaged" in detail and report["sha256"]["html"] in detail
    # The untouched artefact of the same report is still served.
    json_artefact = api.get(html, "viewer", params={"format": "json"})
    assert json_artefact.status_code == 200
    assert json_artefact.headers["X-Content-SHA256"] == report["sha256"]["json"]


def test_an_idempotency_record_edited_to_name_another_version_is_not_replayed(api: Api) -> None:
    url = f"{BASE}/{RAIL}/progress"
    body = {"percent": 30, "as_of": "2026-02-28", "note": "Feb"}
    first = api.post(url, json=body, headers={"Idempotency-Key": "k-forged"})
    assert first.status_code == 201, first.text
    version = int(first.headers["ETag"].strip('"'))
    with api.services.database.writing() as connection:
        connection.execute(
            update(idempotency_records)
            .where(idempotency_records.c.key == "k-forged")
            .values(version=version - 3)
        )
    head = api.head()
    detail = problem(api.post(url, json=body, headers={"Idempotency-Key": "k-forged"}), 409)
    assert "does not match the event log" in detail
    assert api.head() == head  # nor written again


def test_an_idempotency_record_pointed_at_another_commitments_event_is_not_replayed(
    api: Api,
) -> None:
    """A consistent forgery (aggregate, version and position of another commitment's real
    event) is still not this request's answer."""
    other = api.post(
        f"{BASE}/CMAP-PROS-PORTS/progress",
        json={"percent": 20, "as_of": "2026-02-28", "note": "Feb"},
    )
    assert other.status_code == 201, other.text
    other_id, other_version = other.json()["id"], int(other.headers["ETag"].strip('"'))
    other_position = int(other.headers["X-Log-Position"])
    url, body = f"{BASE}/{RAIL}/progress", {"percent": 30, "as_of": "2026-02-28", "note": "Feb"}
    assert api.post(url, json=body, headers={"Idempotency-Key": "k-moved"}).status_code == 201
    with api.services.database.writing() as connection:
        connection.execute(
            update(idempotency_records)
            .where(idempotency_records.c.key == "k-moved")
            .values(aggregate_id=other_id, version=other_version, position=other_position)
        )
    head = api.head()
    detail = problem(api.post(url, json=body, headers={"Idempotency-Key": "k-moved"}), 409)
    assert "of another aggregate than this request's" in detail
    assert api.head() == head


def test_a_keyed_server_refuses_an_artefact_forged_with_its_sha256(
    seeded_url: str, tmp_path: Path
) -> None:
    """Bytes and sha256 edited together still lack their seal (adapters/seals.py)."""
    key = tmp_path / "operator.key"
    key.write_text(Signer.generate("tracker.example/operator").encode() + "\n")
    with serving(seeded_url, signing_key_file=str(key)) as api:
        report = api.post(REPORTS, json={"formats": ["md", "json"]}).json()
        url = f"{REPORTS}/{report['id']}"
        served = api.get(url, "viewer", params={"format": "md"})
        assert served.status_code == 200 and served.headers["X-Content-Sealed"] == "true"
        forged = b"# Forged\n"
        with api.services.database.writing() as connection:
            connection.execute(
                update(report_artefacts)
                .where(report_artefacts.c.format == "md")
                .values(content=forged, sha256=hashlib.sha256(forged).hexdigest())
            )
        detail = problem(api.get(url, "viewer", params={"format": "md"}), 409)
        assert "do not carry their seal" in detail
        ledger = api.get("/api/v1/ledger", "viewer").json()
        assert ledger["verified"] is False
        assert f"report {report['id']} as md" in ledger["problem"]
        # Rows without a seal (archived before seals) are served, marked unsealed.
        with api.services.database.writing() as connection:
            connection.execute(
                update(report_artefacts)
                .where(report_artefacts.c.format == "json")
                .values(seal=None)
            )
        unsealed = api.get(url, "viewer", params={"format": "json"})
        assert unsealed.status_code == 200 and unsealed.headers["X-Content-Sealed"] == "false"


def test_a_server_without_the_key_does_not_claim_seals(api: Api) -> None:
    report = api.post(REPORTS, json={"formats": ["md"]}).json()
    served = api.get(f"{REPORTS}/{report['id']}", "viewer", params={"format": "md"})
    assert served.status_code == 200 and "X-Content-Sealed" not in served.headers
