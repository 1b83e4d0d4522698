"""Signed checkpoints and the witness, on SQLite and PostgreSQL, against a server whose
database was edited, truncated or forked: the operator refuses to sign a log that does
not extend its last checkpoint, and a witness refuses to co-sign, saying why, whatever
the server signs.

The witness talks to the real app through a TestClient (`ClientTransport`); only the
transport differs from `commitments witness`, which uses urllib."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from adapters.backup import ImportRefused, export_log, import_log
from adapters.checkpoints import CheckpointRefused
from adapters.ledger import verify
from adapters.witness import WitnessFailed, WitnessRefused, WitnessState, witness
from domain import merkle
from domain.checkpoint import Checkpoint, Note, Signer, verified_by
from domain.commands import LogProgress
from domain.offline_verifier import TrustedKeys
from domain.offline_verifier import verify as offline_verify
from tests.api.client import Api, problem, serving
from tests.conftest import open_services
from tests.support import CODE, write
from tests.tampering import forget_checkpoints, progress_position, rewrite, sql, truncate

SEEDED_BOTH = pytest.mark.parametrize("seeded_url", ["sqlite", "postgresql"], indirect=True)
OPERATOR = Signer.generate("tracker.example/operator")
MX_WITNESS = Signer.generate("mx.example/witness", "cosignature")
CA_WITNESS = Signer.generate("ca.example/witness", "cosignature")
NOW = 1_795_000_000  # the witness's clock, fixed


@dataclass
class ClientTransport:
    api: Api

    def get(self, path: str) -> tuple[int, str]:
        response = self.api.get(path, who="viewer")
        return response.status_code, response.text

    def post(self, path: str, body: str) -> tuple[int, str]:
        response = self.api.post(path, who="viewer", content=body.encode())
        return response.status_code, response.text


@pytest.fixture
def server(seeded_url: str, tmp_path: Path) -> Iterator[Api]:
    key = tmp_path / "operator.key"
    key.write_text(OPERATOR.encode() + "\n")
    with serving(
        seeded_url,
        signing_key_file=str(key),
        witness_keys=(MX_WITNESS.verifier().encode(), CA_WITNESS.verifier().encode()),
    ) as api:
        yield api


def run_witness(api: Api, state: Path, signer: Signer = MX_WITNESS, at: int = NOW) -> str:
    return witness(
        ClientTransport(api), signer, OPERATOR.verifier(), state, now=lambda: at
    ).message()


def grow(api: Api, percent: int) -> None:
    write(api.services, LogProgress(percent=percent, as_of=date(2026, 11, 1), note="n"), ref=CODE)


# ---- the operator ------------------------------------------------------------------------


@SEEDED_BOTH
def test_the_operator_signs_the_tree_the_log_gives(server: Api) -> None:
    signed = server.services.checkpoints.sign()
    ledger = verify(server.services.database)
    assert (signed.size, signed.root_hash) == (ledger.tree_size, ledger.root_hash)
    note = Note.parse(server.get("/api/v1/checkpoint", who="viewer").text)
    assert verified_by(note, [OPERATOR.verifier()]) == [OPERATOR.name]
    checkpoint = Checkpoint.parse(note.body)
    assert checkpoint.origin == server.services.settings.log_origin
    assert server.services.checkpoints.sign().size == signed.size  # nothing new: the same
    grow(server, 41)
    # On demand, the whole log is verified first, in the signing transaction.
    assert server.services.checkpoints.sign(whole_log=True).size == signed.size + 1
    grow(server, 42)
    response = server.post("/api/v1/checkpoint")
    assert response.status_code == 201, response.text
    assert response.headers["X-Tree-Size"] == str(signed.size + 2)


@SEEDED_BOTH
def test_the_operator_refuses_to_sign_a_truncated_or_rewritten_log(server: Api) -> None:
    signed = server.services.checkpoints.sign()
    truncate(server.services, signed.size - 3)
    # The chain and tree alone cannot tell; the signed checkpoint kept beside them can.
    checked = verify(server.services.database)
    assert not checked.verified and checked.problem is not None
    assert checked.problem.endswith(
        f"fewer than the {signed.size} of the signed checkpoint "
        f"{signed.size} ({signed.root_hash}): events were removed"
    )
    with pytest.raises(CheckpointRefused, match=r"fewer than the .* events were removed"):
        server.services.checkpoints.sign()


@SEEDED_BOTH
def test_the_operator_refuses_to_sign_over_a_rewritten_history(server: Api) -> None:
    signed = server.services.checkpoints.sign()
    rewrite(server.services)
    checked = verify(server.services.database)
    assert (checked.first_bad_position, checked.problem) == (
        signed.size,  # the event that completes the checkpoint's tree
        f"the tree of the first {signed.size} events does not have the root of the signed "
        f"checkpoint {signed.size} ({signed.root_hash}): the log was rewritten",
    )
    with pytest.raises(CheckpointRefused, match=r"no longer has the root .* rewritten"):
        server.services.checkpoints.sign()  # not grown: still refused
    grow(server, 42)
    with pytest.raises(CheckpointRefused, match=r"no longer has the root .* rewritten"):
        server.services.checkpoints.sign()


def test_the_operator_refuses_a_stored_tree_that_the_events_do_not_give(server: Api) -> None:
    server.services.checkpoints.sign()
    grow(server, 43)
    grow(server, 44)
    size = verify(server.services.database).tree_size
    sql(
        server.services,
        "UPDATE merkle_nodes SET hash = :h WHERE last_leaf = :leaf AND level = 0",
        h=b"\x01" * 32,
        leaf=size - 1,
    )
    with pytest.raises(
        CheckpointRefused, match=rf"position {size} \(leaf {size - 1}\) does not give its stored"
    ):
        server.services.checkpoints.sign()


def test_an_older_event_edited_in_place_is_refused_when_signing_on_demand(server: Api) -> None:
    """The scheduled signing hashes only the events since the last checkpoint; signing on
    demand (CLI, API) verifies the whole log first."""
    server.services.checkpoints.sign()
    position = progress_position(server.services)
    sql(
        server.services,
        "UPDATE tracker_events SET state = :s WHERE id = :p",
        s=b"{}",
        p=position,
    )
    grow(server, 48)
    with pytest.raises(CheckpointRefused, match=f"does not verify at position {position}"):
        server.services.checkpoints.sign(whole_log=True)
    response = server.post("/api/v1/checkpoint")
    assert response.status_code == 409 and f"position {position}" in response.json()["detail"]


def test_signing_needs_an_admin_and_a_key(server: Api, seeded_url: str) -> None:
    assert server.post("/api/v1/checkpoint", who="viewer").status_code == 403
    response = server.post("/api/v1/checkpoint")
    assert response.status_code == 201 and response.headers["X-Tree-Size"]
    with serving(seeded_url) as unkeyed:
        assert unkeyed.post("/api/v1/checkpoint").status_code == 422


# ---- the witness -------------------------------------------------------------------------


@SEEDED_BOTH
def test_witnesses_cosign_a_log_that_grows_and_the_server_serves_their_cosignatures(
    server: Api, tmp_path: Path
) -> None:
    server.services.checkpoints.sign()
    mx_state, ca_state = tmp_path / "mx.json", tmp_path / "ca.json"
    assert "first checkpoint seen" in run_witness(server, mx_state)
    grow(server, 45)
    server.services.checkpoints.sign()
    assert "extends checkpoint" in run_witness(server, mx_state)
    run_witness(server, ca_state, CA_WITNESS)
    note = Note.parse(server.get("/api/v1/checkpoint", who="viewer").text)
    assert verified_by(note, [MX_WITNESS.verifier(), CA_WITNESS.verifier()]) == [
        MX_WITNESS.name,
        CA_WITNESS.name,
    ]
    assert MX_WITNESS.verifier().verify_timestamp(note) == NOW
    state = WitnessState.load(mx_state)
    assert state is not None and state.tree_size == Checkpoint.parse(note.body).size


@SEEDED_BOTH
def test_a_witness_refuses_a_truncated_log_even_when_the_server_re_signs(
    server: Api, tmp_path: Path
) -> None:
    state = tmp_path / "mx.json"
    size = server.services.checkpoints.sign().size
    run_witness(server, state)
    before = state.read_text()
    truncate(server.services, size - 2)
    forget_checkpoints(server.services)
    server.services.checkpoints.sign()  # the operator's own records are gone: it signs
    with pytest.raises(WitnessRefused, match=f"shrank: checkpoint {size - 2} .* {size} .*removed"):
        run_witness(server, state)
    assert state.read_text() == before  # a refusal changes nothing


@SEEDED_BOTH
def test_a_witness_refuses_a_history_recomputed_after_an_edit(server: Api, tmp_path: Path) -> None:
    state = tmp_path / "mx.json"
    size = server.services.checkpoints.sign().size
    run_witness(server, state)
    rewrite(server.services)
    grow(server, 46)
    forget_checkpoints(server.services)
    assert verify(server.services.database).verified
    server.services.checkpoints.sign()
    with pytest.raises(
        WitnessRefused, match=f"checkpoint {size + 1} .* does not extend checkpoint {size} "
    ):
        run_witness(server, state)


def test_a_witness_refuses_a_fork_of_the_same_size(server: Api, tmp_path: Path) -> None:
    state = tmp_path / "mx.json"
    size = server.services.checkpoints.sign().size
    run_witness(server, state)
    rewrite(server.services)
    forget_checkpoints(server.services)
    server.services.checkpoints.sign()  # same size, another root
    with pytest.raises(WitnessRefused, match=f"forked: checkpoint {size} .* another root"):
        run_witness(server, state)


def test_a_witness_refuses_a_checkpoint_the_operator_did_not_sign(
    server: Api, tmp_path: Path
) -> None:
    server.services.checkpoints.sign()
    impostor = Signer.generate(OPERATOR.name)
    with pytest.raises(WitnessRefused, match=r"not a valid signed note|not signed by"):
        witness(
            ClientTransport(server),
            MX_WITNESS,
            impostor.verifier(),
            tmp_path / "s",
            now=lambda: NOW,
        )
    assert not (tmp_path / "s").exists()


def test_the_server_keeps_only_cosignatures_by_configured_witnesses(server: Api) -> None:
    signed = server.services.checkpoints.sign()
    stranger = Signer.generate("stranger/witness", "cosignature")
    body = signed.note.body
    foreign = signed.note.with_signature(stranger.sign(body, timestamp=NOW)).text()
    detail = server.post("/api/v1/checkpoint/cosignatures", content=foreign).json()["detail"]
    assert "no cosignature by a configured witness key" in detail
    unknown = Checkpoint(signed.checkpoint.origin, signed.size, merkle.leaf_hash(b"x")).body()
    note = Note(unknown, (OPERATOR.sign(unknown),)).with_signature(
        MX_WITNESS.sign(unknown, timestamp=NOW)
    )
    response = server.post("/api/v1/checkpoint/cosignatures", content=note.text())
    assert response.status_code == 404
    assert server.post("/api/v1/checkpoint/cosignatures", content=b"junk").status_code == 422


# ---- reports under checkpoints -----------------------------------------------------------


def test_an_archived_report_is_covered_by_a_signed_checkpoint_at_once(
    server: Api, tmp_path: Path
) -> None:
    response = server.post("/api/v1/reports", json={"formats": ["md"]})
    assert response.status_code == 201, response.text
    report_id = response.json()["id"]
    content = server.get(f"/api/v1/reports/{report_id}?format=md").content
    run_witness(server, tmp_path / "mx.json")
    checked = server.post("/api/v1/reports/verify", content=content).json()
    assert checked["verified"], checked
    assert checked["checkpoint"]["signed_by"] == [OPERATOR.name]
    assert checked["checkpoint"]["cosigned_by"] == [MX_WITNESS.name]
    assert checked["checkpoint"]["consistent"]
    assert checked["checkpoint"]["tree_size"] >= checked["recorded"]["tree_size"]


def test_a_report_no_checkpoint_covers_does_not_verify_until_one_is_signed(server: Api) -> None:
    grow(server, 47)
    content = server.get("/api/v1/reports/progress?format=json").content
    checked = server.post("/api/v1/reports/verify", content=content).json()
    assert not checked["verified"] and checked["checkpoint"] is None
    assert "run `commitments checkpoint`" in checked["checkpoint_problem"]
    server.services.checkpoints.sign()
    assert server.post("/api/v1/reports/verify", content=content).json()["verified"]


# ---- export and import -------------------------------------------------------------------


def test_an_import_refuses_a_checkpoint_the_events_do_not_give(
    server: Api, sqlite_url: str, tmp_path: Path
) -> None:
    signed = server.services.checkpoints.sign()
    buffer = io.StringIO()
    export_log(server.services.database, buffer)
    lines = buffer.getvalue().splitlines()
    [index] = [i for i, line in enumerate(lines) if line.startswith('{"checkpoint"')]
    record = json.loads(lines[index])
    forged_root = merkle.leaf_hash(b"another log")
    body = Checkpoint(signed.checkpoint.origin, signed.size, forged_root).body()
    record["checkpoint"]["note"] = Note(body, (OPERATOR.sign(body),)).text()
    record["checkpoint"]["root_hash"] = forged_root.hex()
    lines[index] = json.dumps(record)
    path = tmp_path / "forged.jsonl"
    path.write_text("\n".join(lines) + "\n")
    target = open_services(sqlite_url)
    try:
        with pytest.raises(
            ImportRefused, match=f"checkpoint {signed.size} was signed over another"
        ):
            import_log(target.database, path)
        assert verify(target.database).events == 0  # nothing was written
        record["checkpoint"]["root_hash"] = signed.root_hash  # the line and its note disagree
        lines[index] = json.dumps(record)
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(ImportRefused, match="states another tree head"):
            import_log(target.database, path)
    finally:
        target.close()


def test_a_witness_whose_key_the_server_does_not_take_says_so_and_keeps_its_state(
    server: Api, tmp_path: Path
) -> None:
    server.services.checkpoints.sign()
    run_witness(server, tmp_path / "mx.json")  # the note now carries MX's cosignature
    rogue = Signer.generate("rogue/witness", "cosignature")
    with pytest.raises(WitnessFailed, match="did not keep the cosignature: 422"):
        run_witness(server, tmp_path / "rogue.json", rogue)
    assert not (tmp_path / "rogue.json").exists()
    # Run again later (cron): its cosignature is there already, with the earlier time.
    assert "co-signed last, unchanged" in run_witness(server, tmp_path / "mx.json", at=NOW + 60)
    note = Note.parse(server.get("/api/v1/checkpoint", who="viewer").text)
    assert MX_WITNESS.verifier().verify_timestamp(note) == NOW


@SEEDED_BOTH
def test_the_checkpoints_table_cannot_vouch_for_a_rewrite_by_its_unsigned_columns(
    server: Api,
) -> None:
    signed = server.services.checkpoints.sign()
    rewrite(server.services)
    rewritten = verify(server.services.database, OPERATOR.verifier())
    assert not rewritten.verified
    # The table's root column says what the rewritten tree gives: it is not what was signed.
    sql(server.services, "UPDATE checkpoints SET root_hash = :r", r=rewritten.root_hash)
    assert not verify(server.services.database).verified
    with pytest.raises(CheckpointRefused, match="no longer has the root"):
        server.services.checkpoints.sign()
    # Nor can its note be edited without the operator's key noticing.
    forged = Checkpoint(signed.checkpoint.origin, signed.size, bytes.fromhex(rewritten.root_hash))
    note = Note(forged.body(), signed.note.signatures[:1]).text()
    sql(server.services, "UPDATE checkpoints SET note = :n", n=note)
    checked = verify(server.services.database, OPERATOR.verifier())
    assert not checked.verified and "checkpoints table was edited" in str(checked.problem)
    with pytest.raises(CheckpointRefused, match="checkpoints table was edited"):
        server.services.checkpoints.sign()


def test_one_event_is_checked_offline_from_what_the_api_serves(server: Api) -> None:
    """A reader with API access only: the event's stored line, its inclusion proof and
    the signed checkpoint are enough, without an export."""
    signed = server.services.checkpoints.sign()
    position = progress_position(server.services)
    line = server.get(f"/api/v1/events/{position}/stored", who="viewer").text
    proof = server.get(
        f"/api/v1/proofs/inclusion?position={position}&tree_size={signed.size}", who="viewer"
    ).text
    keys = TrustedKeys(OPERATOR.verifier())
    checkpoint = server.get("/api/v1/checkpoint", who="viewer").text
    assert offline_verify(keys, [checkpoint], event=line, proofs=[proof]).verified
    record = json.loads(line)
    record["state"] = base64.b64encode(b"{}").decode()
    tampered = offline_verify(keys, [checkpoint], event=json.dumps(record), proofs=[proof])
    assert not tampered.verified and f"position {position}" in str(tampered.problem)
    assert server.get("/api/v1/events/999999/stored").status_code == 404


def test_an_edited_checkpoint_row_is_a_conflict_not_a_server_error(server: Api) -> None:
    server.services.checkpoints.sign()
    sql(server.services, "UPDATE checkpoints SET note = 'not a note'")
    detail = problem(server.get("/api/v1/checkpoint", who="viewer"), 409)
    assert "checkpoints table was edited" in detail


def test_a_report_of_a_log_rewritten_since_is_not_covered_by_the_new_checkpoint(
    server: Api,
) -> None:
    response = server.post("/api/v1/reports", json={"formats": ["json"]})
    assert response.status_code == 201, response.text
    content = server.get(f"/api/v1/reports/{response.json()['id']}?format=json").content
    rewrite(server.services)
    forget_checkpoints(server.services)
    grow(server, 49)
    server.services.checkpoints.sign()  # over the rewritten log
    checked = server.post("/api/v1/reports/verify", content=content).json()
    assert not checked["verified"]
    assert checked["checkpoint"]["signed_by"] == [OPERATOR.name]
    assert checked["checkpoint"]["consistent"] is False
    assert "is not a prefix of the signed checkpoint" in checked["checkpoint_problem"]
