"""The offline verifier (domain/offline_verifier.py) on real logs: a seeded database, its
real export, checkpoints signed by the operator's services and proofs served from the
stored tree. The database is then tampered with as an operator covering its tracks
would (rows dropped or rewritten with every hash recomputed, its own checkpoints
forgotten) and exported again: the verifier, holding only files and public keys, must
say what happened."""

from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from adapters import proofs
from adapters.backup import export_log
from adapters.bootstrap import Services
from domain.checkpoint import Note, Signer
from domain.commands import LogProgress
from domain.offline_verifier import Outcome, TrustedKeys, verify
from tests.conftest import open_services
from tests.support import CODE, write
from tests.tampering import forget_checkpoints, rewrite, truncate

SEEDED_BOTH = pytest.mark.parametrize("seeded_url", ["sqlite", "postgresql"], indirect=True)
OPERATOR = Signer.generate("tracker.example/operator")
MX_WITNESS = Signer.generate("mx.example/witness", "cosignature")
CA_WITNESS = Signer.generate("ca.example/witness", "cosignature")
NOW = 1_795_000_000
FORMATS = ["json", "csv", "md", "html", "xlsx"]


@pytest.fixture
def log(seeded_url: str, tmp_path: Path) -> Iterator[Services]:
    """The services of an operator holding a signing key, on the seeded database."""
    key = tmp_path / "operator.key"
    key.write_text(OPERATOR.encode() + "\n")
    built = open_services(seeded_url, signing_key_file=str(key))
    yield built
    built.close()


def keys(*witnesses: Signer, required: int | None = None) -> TrustedKeys:
    return TrustedKeys(
        OPERATOR.verifier(), tuple(w.verifier() for w in witnesses), required=required
    )


def checkpoint(services: Services, *witnesses: Signer) -> str:
    """The operator signs the log's tree head now; the witnesses cosign it."""
    note = services.checkpoints.sign().note
    for witness in witnesses:
        note = note.with_signature(witness.sign(note.body, timestamp=NOW))
    return note.text()


def exported(services: Services) -> list[str]:
    out = io.StringIO()
    export_log(services.database, out)
    return out.getvalue().splitlines(keepends=True)


def grow(services: Services, percent: int) -> None:
    write(services, LogProgress(percent=percent, as_of=date(2026, 11, 1), note="n"), ref=CODE)


def size_of(note: str) -> int:
    return int(Note.parse(note).body.splitlines()[1])


def failed(outcome: Outcome) -> str:
    assert not outcome.verified, outcome.as_dict()
    assert outcome.problem is not None
    return outcome.problem


def passed(outcome: Outcome) -> Outcome:
    assert outcome.verified, outcome.as_dict()
    assert outcome.problem is None
    return outcome


# ---- what a cheating operator does to its database --------------------------------------------


# ---- an honest log ---------------------------------------------------------------------------


@SEEDED_BOTH
def test_an_honest_export_verifies_against_its_cosigned_checkpoints(log: Services) -> None:
    first = checkpoint(log, MX_WITNESS, CA_WITNESS)
    grow(log, 41)
    grow(log, 42)
    second = checkpoint(log, MX_WITNESS, CA_WITNESS)
    grow(log, 43)  # the log goes on after the last checkpoint
    lines = exported(log)
    outcome = passed(verify(keys(MX_WITNESS, CA_WITNESS), [first, second], export=lines))
    size = size_of(second)
    assert [c["tree_size"] for c in outcome.checkpoints] == [size - 2, size]
    assert outcome.checkpoints[1]["cosigned_by"] == [MX_WITNESS.name, CA_WITNESS.name]
    assert outcome.export is not None
    trailer = json.loads(lines[-1])
    assert outcome.export["events"] == trailer["events"] == size + 1
    assert outcome.export["root_hash"] == trailer["root_hash"]
    details = [c.detail for c in outcome.checks]
    assert (
        f"the first {size - 2} events of the export give the root checkpoint {size - 2} signed"
        in details
    )
    assert (
        f"the first {size} events of the export give the root checkpoint {size} signed" in details
    )


def test_without_an_export_checkpoints_of_two_sizes_need_a_consistency_proof(
    log: Services,
) -> None:
    first = checkpoint(log)
    grow(log, 44)
    second = checkpoint(log)
    old, new = size_of(first), size_of(second)
    problem = failed(verify(keys(), [first, second]))
    assert f"nothing shows that checkpoint {new} extends checkpoint {old}" in problem
    assert f"/api/v1/proofs/consistency?from={old}&to={new}" in problem
    proof = json.dumps(proofs.consistency(log.database, old, new))
    passed(verify(keys(), [first, second], proofs=[proof]))


# ---- a truncated log -------------------------------------------------------------------------


@SEEDED_BOTH
def test_a_truncated_log_is_caught_though_its_export_is_consistent(log: Services) -> None:
    signed = checkpoint(log)
    size = size_of(signed)
    truncate(log, size - 3)
    lines = exported(log)
    assert json.loads(lines[-1])["events"] == size - 3  # the end line was made to match
    outcome = verify(keys(), [signed], export=lines)
    assert f"the export holds {size - 3} events" in failed(outcome)
    assert failed(outcome) == (
        f"the log was truncated: the export holds {size - 3} events, but checkpoint {size} "
        f"was signed over {size}; its newest 3 events are missing"
    )
    export_check = next(c for c in outcome.checks if c.subject == "export")
    assert export_check.passed  # the file alone looks fine: only the checkpoint tells


def test_an_export_cut_short_or_with_lines_dropped_is_caught_by_itself(log: Services) -> None:
    signed = checkpoint(log)
    lines = exported(log)
    cut = lines[:-4]  # no end line
    assert "no end line: it is cut short" in failed(verify(keys(), [signed], export=cut))
    dropped = lines[:-4] + lines[-1:]  # newest events gone, the old end line kept
    problem = failed(verify(keys(), [signed], export=dropped))
    assert "the end line states events" in problem


# ---- a history recomputed after an edit ------------------------------------------------------


@SEEDED_BOTH
def test_a_history_recomputed_after_an_edit_fails_against_the_old_checkpoint(
    log: Services,
) -> None:
    signed = checkpoint(log)
    size = size_of(signed)
    rewrite(log)
    grow(log, 45)
    lines = exported(log)
    outcome = verify(keys(), [signed], export=lines)
    problem = failed(outcome)
    assert problem.startswith(f"the log was rewritten: the first {size} events of the export")
    assert Note.parse(signed).body.splitlines()[2] not in problem  # base64 root: hex is shown
    assert next(c for c in outcome.checks if c.subject == "export").passed

    # The operator forgets its checkpoint and signs the rewritten log: the new checkpoint
    # is validly signed, but no consistency proof from the old one to it holds.
    forget_checkpoints(log)
    resigned = checkpoint(log)
    assert size_of(resigned) == size + 1
    proof = json.dumps(proofs.consistency(log.database, size, size + 1))
    problem = failed(verify(keys(), [signed, resigned], proofs=[proof]))
    assert problem == (
        f"the consistency proof does not show that checkpoint {size + 1} extends checkpoint "
        f"{size}: the log was rewritten between them"
    )


def test_an_edited_event_line_is_named_by_its_line(log: Services) -> None:
    signed = checkpoint(log)
    lines = exported(log)
    record = json.loads(lines[10])
    state = bytearray(base64.b64decode(record["state"]))
    state[3] ^= 0x01
    record["state"] = base64.b64encode(bytes(state)).decode()
    edited = [*lines[:10], json.dumps(record) + "\n", *lines[11:]]
    problem = failed(verify(keys(), [signed], export=edited))
    assert problem == (
        f"the export does not verify: line 11: the event at position {record['position']} "
        "does not give the chain hash the line states: the event or the chain was altered"
    )
    record = json.loads(lines[10]) | {"leaf": 99}
    wrong_leaf = [*lines[:10], json.dumps(record) + "\n", *lines[11:]]
    assert "line 11: leaf index 99" in failed(verify(keys(), [signed], export=wrong_leaf))


# ---- a fork ----------------------------------------------------------------------------------


@SEEDED_BOTH
def test_two_checkpoints_of_one_size_with_different_roots_are_a_fork(log: Services) -> None:
    honest = checkpoint(log)
    rewrite(log)
    forget_checkpoints(log)
    forked = checkpoint(log)
    size = size_of(honest)
    assert size_of(forked) == size and forked != honest
    outcome = verify(keys(), [honest, forked])  # no export needed
    problem = failed(outcome)
    assert problem.startswith(f"the log forked: the operator signed 2 checkpoints of {size} events")
    assert "two histories of one log" in problem
    assert [c["signed_by"] for c in outcome.checkpoints] == [[OPERATOR.name]] * 2
    # With the rewritten export too, the fork is what is named first.
    problem = failed(verify(keys(), [honest, forked], export=exported(log)))
    assert problem.startswith("the log forked")


# ---- signatures ------------------------------------------------------------------------------


def test_a_checkpoint_without_a_valid_operator_signature_fails(log: Services) -> None:
    signed = checkpoint(log)
    note = Note.parse(signed)
    size = size_of(signed)
    impostor = Signer.generate(OPERATOR.name)  # same name, another key
    forged = Note(note.body, (impostor.sign(note.body),)).text()
    assert failed(verify(keys(), [forged])) == (
        f"checkpoint {size} is not signed by the operator key {OPERATOR.name}"
    )
    lines = note.body.splitlines()
    altered_body = "\n".join([lines[0], str(size + 5), *lines[2:]]) + "\n"
    altered = Note(altered_body, note.signatures).text()  # the signature of another text
    assert failed(verify(keys(), [altered])).startswith(
        f"checkpoint {size + 5} carries a signature by the operator key {OPERATOR.name} that "
        "does not verify"
    )
    witness_only = Note(note.body, (MX_WITNESS.sign(note.body, timestamp=NOW),)).text()
    assert "is not signed by the operator key" in failed(verify(keys(MX_WITNESS), [witness_only]))
    assert "checkpoint #1 is not a note" in failed(verify(keys(), ["not a note\n"]))
    other_log = TrustedKeys(OPERATOR.verifier(), origin="other.example/log")
    assert "not 'other.example/log'" in failed(verify(other_log, [signed]))


def test_a_missing_or_invalid_witness_cosignature_fails_when_required(log: Services) -> None:
    mx_only = checkpoint(log, MX_WITNESS)
    size = size_of(mx_only)
    assert failed(verify(keys(MX_WITNESS, CA_WITNESS), [mx_only])) == (
        f"checkpoint {size} is cosigned by 1 of the 2 witnesses required; no valid "
        f"cosignature by {CA_WITNESS.name}"
    )
    outcome = passed(verify(keys(MX_WITNESS, CA_WITNESS, required=1), [mx_only]))
    assert outcome.checkpoints[0]["cosigned_by"] == [MX_WITNESS.name]
    note = Note.parse(mx_only)
    [operator_line, mx_line] = note.signatures
    payload = bytearray(mx_line.payload)  # 8-byte timestamp, then the Ed25519 signature
    payload[20] ^= 0x01
    bad = type(mx_line)(mx_line.name, mx_line.key_id, bytes(payload))
    tampered = Note(note.body, (operator_line, bad)).text()
    problem = failed(verify(keys(MX_WITNESS, required=0), [tampered]))
    assert f"cosignature by the witness key {MX_WITNESS.name} that does not verify" in problem


# ---- reports ---------------------------------------------------------------------------------


def other_root(content: bytes, root: str) -> bytes:
    """The report with another tree root in its footer (every copy of it)."""
    fake = root[::-1]
    if not content.startswith(b"PK"):
        assert root.encode() in content
        return content.replace(root.encode(), fake.encode())
    source, out = zipfile.ZipFile(io.BytesIO(content)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info).replace(root.encode(), fake.encode()))
    return out.getvalue()


def test_reports_of_every_format_are_checked_by_their_footer(log: Services) -> None:
    head = log.reports.head()
    inputs = log.reports.inputs(
        at_position=head - 2, as_of=date(2026, 10, 31), period_days=30, today=date(2026, 11, 27)
    )
    artefacts = {a.format: a.content for a in log.reports.generate(inputs, FORMATS)}
    signed = checkpoint(log)
    size = size_of(signed)
    lines = exported(log)
    recorded = json.loads(artefacts["json"])["footer"]
    report_size, root = recorded["tree_size"], recorded["root_hash"]
    assert report_size == size - 2
    proof = json.dumps(proofs.consistency(log.database, report_size, size))
    for fmt, content in artefacts.items():
        by_export = passed(verify(keys(), [signed], export=lines, report=content))
        assert by_export.report == {
            "format": fmt,
            "log_position": head - 2,
            "chain_head": recorded["chain_head"],
            "tree_size": report_size,
            "root_hash": root,
        }
        passed(verify(keys(), [signed], report=content, proofs=[proof]))
        unproven = failed(verify(keys(), [signed], report=content))
        assert f"nothing shows the report's tree of {report_size} events" in unproven

        altered = other_root(content, root)
        problem = failed(verify(keys(), [signed], export=lines, report=altered))
        assert problem.startswith("the report's tree head"), (fmt, problem)
        assert "is not the export's at log position" in problem
        problem = failed(verify(keys(), [signed], report=altered, proofs=[proof]))
        assert f"is not a prefix of checkpoint {size}" in problem, (fmt, problem)


def test_a_report_no_checkpoint_covers_or_not_a_report_fails(log: Services) -> None:
    signed = checkpoint(log)
    grow(log, 46)
    [report] = log.reports.generate(
        log.reports.inputs(at_position=None, as_of=None, period_days=None, today=date.today()),
        ["md"],
    )
    problem = failed(verify(keys(), [signed], export=exported(log), report=report.content))
    assert problem.startswith("no checkpoint given covers the report's tree")
    assert "cannot be read" in failed(verify(keys(), [signed], report=b"# not a report\n"))
    edited = re.sub(rb"chain head [0-9a-f]{64}", b"chain head " + b"ab" * 32, report.content)
    problem = failed(verify(keys(), [checkpoint(log)], export=exported(log), report=edited))
    assert problem.startswith(f"the report's chain head {'ab' * 32} is not the export's")


# ---- one event -------------------------------------------------------------------------------


def test_one_event_is_proven_in_a_checkpoint_by_an_inclusion_proof(log: Services) -> None:
    signed = checkpoint(log)
    size = size_of(signed)
    lines = exported(log)
    line = lines[42]  # line 1 is the header
    position = json.loads(line)["position"]
    proof = json.dumps(proofs.inclusion(log.database, position, size))
    outcome = passed(verify(keys(), [signed], event=line, proofs=[proof]))
    assert outcome.checks[-1].detail == (
        f"the event at position {position} is leaf 41 of checkpoint {size}, byte for byte"
    )
    passed(verify(keys(), [signed], event=line, export=lines))  # or by the export

    record = json.loads(line)
    record["topic"] = record["topic"].replace("Commitment", "Kommitment")
    tampered = json.dumps(record)
    problem = failed(verify(keys(), [signed], event=tampered, proofs=[proof]))
    assert problem.startswith(f"the event at position {position}, as given, is not leaf 41")
    problem = failed(verify(keys(), [signed], event=tampered, export=lines))
    assert problem == f"the event at position {position}, as given, differs from the export's"

    grow(log, 47)
    newer = json.dumps(proofs.inclusion(log.database, position, size + 1))
    problem = failed(verify(keys(), [signed], event=line, proofs=[newer]))
    assert f"the inclusion proof is for a tree of {size + 1} events" in problem
    assert "nothing shows the event" in failed(verify(keys(), [signed], event=line))
    history_entry = json.dumps({"position": position, "version": 1, "data": {}, "hash": "00"})
    problem = failed(verify(keys(), [signed], event=history_entry, proofs=[proof]))
    assert problem.startswith("the event cannot be read: it is not an event line of an export")
    assert "is not the JSON of an inclusion or consistency proof" in failed(
        verify(keys(), [signed], event=line, proofs=["[]"])
    )
