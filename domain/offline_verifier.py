"""A verifier that trusts nothing: it checks an export of the log, a report or one event
against signed checkpoints, offline, with no database and without taking the operator's
word for anything.

To know what it proves, read this module and the four it uses, nothing else:
domain/export_file.py (reading an export, checking each line), domain/log_bytes.py (the
bytes an event is hashed as), domain/merkle.py (the RFC 9162 tree, its proofs and their
checks) and domain/checkpoint.py (C2SP signed notes, Ed25519 through the `cryptography`
package). Everything else is the Python standard library.
Inputs are text or bytes handed over by the caller (`commitments verify --offline` reads
the files): nothing here opens a file, a database or a connection.

Trusted: the public keys (the operator's, the witnesses') and, if given, the log's
origin. Checked:

- checkpoints (signed notes): the operator's signature, the witnesses' cosignatures (by
  default every witness key given must have cosigned), the origin. Two checkpoints of one
  size with different roots are a fork: the operator signed two histories.
- an export (`commitments export`): the hash chain and the Merkle tree are recomputed from
  each event's own bytes (the `hash` and `leaf` fields are compared with them, never
  used), and the end line's counts, chain head and root must match. Then the first N
  events must give the root each checkpoint of N events signed: fewer than N events is a
  truncated log, the same number with another root a rewritten one.
- checkpoints of different sizes: the export gives both roots, or a consistency proof
  shows the newest extends each older one.
- a report (JSON, CSV, Markdown, HTML or XLSX): the tree head in its footer must be the
  export's at the report's log position (its chain head too), or a consistency proof
  must show it is a prefix of a checkpoint. Only the footer is read: the figures are
  checked by regenerating the report (`commitments verify --report`, which needs a
  database; import the export into an empty one for that).
- one event (its line from an export): an inclusion proof must lead from its bytes to a
  checkpoint's root, or the export must hold the same bytes.

Proofs are the JSON bodies of GET /api/v1/proofs/consistency and /proofs/inclusion; the
roots they state are ignored, the checkpoints' are used. The result (`Outcome`) lists
every check made, whether it passed and what was found; `problem` is the first failure.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from domain.checkpoint import Checkpoint, Note, NoteError, Verifier, verified_by
from domain.export_file import EventLine, ExportReader, Unreadable, read_event_line
from domain.merkle import verify_consistency, verify_inclusion

MAX_XLSX_PART = 32 << 20  # bytes: a larger part of a workbook is refused, not unpacked


# ---- what the caller gives and gets --------------------------------------------------------


@dataclass(frozen=True)
class TrustedKeys:
    """What the verifier trusts: the operator's key, the witnesses' keys, how many of the
    witnesses must have cosigned each checkpoint (None: all of them) and, optionally,
    the log's origin (else the first checkpoint's)."""

    operator: Verifier
    witnesses: tuple[Verifier, ...] = ()
    required: int | None = None
    origin: str | None = None

    def __post_init__(self) -> None:
        if self.operator.kind != "ed25519":
            raise ValueError(f"the operator key {self.operator.name} is not an ed25519 key")
        for witness in self.witnesses:
            if witness.kind != "cosignature":
                raise ValueError(f"the witness key {witness.name} is not a cosignature key")
        if self.required is not None and not 0 <= self.required <= len(self.witnesses):
            raise ValueError(
                f"{self.required} witness cosignatures cannot be required of "
                f"{len(self.witnesses)} witness keys"
            )

    @property
    def witnesses_required(self) -> int:
        return len(self.witnesses) if self.required is None else self.required


@dataclass(frozen=True)
class Check:
    """One thing checked: what (`subject`), whether it holds, and what was found."""

    subject: str
    passed: bool
    detail: str


@dataclass
class Outcome:
    """Every check made, in order, and what was read from each input."""

    checks: list[Check] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    export: dict[str, Any] | None = None
    report: dict[str, Any] | None = None
    event: dict[str, Any] | None = None

    def add(self, subject: str, passed: bool, detail: str) -> None:
        self.checks.append(Check(subject, passed, detail))

    @property
    def verified(self) -> bool:
        """Something was checked and every check passed."""
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def problem(self) -> str | None:
        """The first check that failed, as a sentence."""
        return next((check.detail for check in self.checks if not check.passed), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "problem": self.problem,
            "checks": [
                {"subject": c.subject, "passed": c.passed, "detail": c.detail} for c in self.checks
            ],
            "checkpoints": self.checkpoints,
            "export": self.export,
            "report": self.report,
            "event": self.event,
        }


def verify(
    keys: TrustedKeys,
    checkpoints: Sequence[str | bytes],
    *,
    export: Iterable[str | bytes] | None = None,
    report: bytes | None = None,
    event: str | bytes | None = None,
    proofs: Sequence[str | bytes] = (),
) -> Outcome:
    """Check the checkpoints, then whichever of an export (its lines, streamed), a report
    file, an event line and proofs are given, against the checkpoints."""
    outcome = Outcome()
    signed = _check_checkpoints(checkpoints, keys, outcome)
    _check_forks(signed, outcome)
    inclusions, consistencies = _read_proofs(proofs, outcome)
    head: ReportHead | None = None
    line: EventLine | None = None
    try:
        head = None if report is None else read_report_head(report)
    except Unreadable as error:
        outcome.add("report", False, f"the report cannot be read: {error}")
    try:
        line = None if event is None else read_event_line(event)
    except Unreadable as error:
        outcome.add("event", False, f"the event cannot be read: {error}")
    log: _Log | None = None
    matched: list[Checkpoint] = []
    if export is not None:
        watched = set()  # positions at which the report and the event are looked up
        if head is not None:
            watched.add(head.log_position)
        if line is not None:
            watched.add(line.position)
        try:
            log = _read_export(export, {c.size for c in signed}, watched)
        except Unreadable as error:
            outcome.add("export", False, f"the export does not verify: {error}")
        else:
            outcome.export = log.as_dict()
            outcome.add("export", True, log.summary())
            matched = _check_export_against(signed, log, outcome)
    if log is None:
        _check_consistency(signed, consistencies, outcome)
    if head is not None:
        outcome.report = head.as_dict()
        _check_report(head, signed, log, matched, consistencies, outcome)
    if line is not None:
        outcome.event = line.as_dict()
        _check_event(line, signed, log, matched, inclusions, outcome)
    return outcome


# ---- checkpoints ---------------------------------------------------------------------------


def _check_checkpoints(
    texts: Sequence[str | bytes], keys: TrustedKeys, outcome: Outcome
) -> list[Checkpoint]:
    """The checkpoints the operator signed (of the expected origin), each once; every
    signature and cosignature checked on the way."""
    origin = keys.origin
    signed: list[Checkpoint] = []
    for number, text in enumerate(texts, start=1):
        checkpoint = _check_checkpoint(number, text, keys, origin, outcome)
        if checkpoint is None:
            continue
        origin = origin or checkpoint.origin
        if checkpoint not in signed:
            signed.append(checkpoint)
    return signed


def _check_checkpoint(
    number: int, text: str | bytes, keys: TrustedKeys, origin: str | None, outcome: Outcome
) -> Checkpoint | None:
    try:
        note = Note.parse(text)
        checkpoint = Checkpoint.parse(note.body)
    except NoteError as error:
        outcome.add(f"checkpoint #{number}", False, f"checkpoint #{number} is not a note: {error}")
        return None
    name = f"checkpoint {checkpoint.size}"
    operator = keys.operator
    try:
        by_operator = verified_by(note, [operator])
    except NoteError:
        outcome.add(
            name,
            False,
            f"{name} carries a signature by the operator key {operator.name} that does not "
            "verify: the note was altered after it was signed, or forged",
        )
        return None
    if not by_operator:
        outcome.add(name, False, f"{name} is not signed by the operator key {operator.name}")
        return None
    outcome.add(name, True, f"{name} is signed by the operator key {operator.name}")
    if origin is not None and checkpoint.origin != origin:
        outcome.add(name, False, f"{name} is of the log {checkpoint.origin!r}, not {origin!r}")
        return None

    cosigned: list[str] = []
    for witness in keys.witnesses:
        try:
            if verified_by(note, [witness]):
                cosigned.append(witness.name)
        except NoteError:
            outcome.add(
                name,
                False,
                f"{name} carries a cosignature by the witness key {witness.name} that does "
                "not verify: the note was altered after it was cosigned, or forged",
            )
    missing = [w.name for w in keys.witnesses if w.name not in cosigned]
    required = keys.witnesses_required
    if len(cosigned) < required:
        outcome.add(
            name,
            False,
            f"{name} is cosigned by {len(cosigned)} of the {required} witnesses required; "
            f"no valid cosignature by {', '.join(missing)}",
        )
    elif keys.witnesses:
        outcome.add(
            name,
            True,
            f"{name} is cosigned by {', '.join(cosigned) or 'no witness'} "
            f"({len(cosigned)} of {len(keys.witnesses)} witness keys, {required} required)",
        )
    outcome.checkpoints.append(
        {
            "origin": checkpoint.origin,
            "tree_size": checkpoint.size,
            "root_hash": checkpoint.root.hex(),
            "signed_by": by_operator,
            "cosigned_by": cosigned,
        }
    )
    return checkpoint


def _check_forks(checkpoints: list[Checkpoint], outcome: Outcome) -> None:
    """Two signed checkpoints of one size with different roots: two histories of one log."""
    roots: dict[int, set[str]] = {}
    for checkpoint in checkpoints:
        roots.setdefault(checkpoint.size, set()).add(checkpoint.root.hex())
    for size, found in sorted(roots.items()):
        if len(found) > 1:
            outcome.add(
                f"checkpoint {size}",
                False,
                f"the log forked: the operator signed {len(found)} checkpoints of {size} "
                f"events with different roots ({', '.join(sorted(found))}), two histories "
                "of one log",
            )


def _check_consistency(
    checkpoints: list[Checkpoint], consistencies: list[_ConsistencyProof], outcome: Outcome
) -> None:
    """Without an export: each older checkpoint must be shown a prefix of the newest."""
    ordered = sorted(checkpoints, key=lambda c: c.size)
    if not ordered:
        return
    newest = ordered[-1]
    for older in ordered:
        if older.size == newest.size:
            continue  # the newest itself, or a fork of it (reported on its own)
        subject = f"checkpoints {older.size} and {newest.size}"
        proof = _consistency_proof(consistencies, older.size, newest.size)
        if proof is None:
            outcome.add(
                subject,
                False,
                f"nothing shows that checkpoint {newest.size} extends checkpoint {older.size}: "
                f"give the export, or the consistency proof "
                f"(GET /api/v1/proofs/consistency?from={older.size}&to={newest.size})",
            )
        elif verify_consistency(older.size, newest.size, older.root, newest.root, proof.path):
            outcome.add(
                subject,
                True,
                f"a consistency proof shows checkpoint {newest.size} extends checkpoint "
                f"{older.size}",
            )
        else:
            outcome.add(
                subject,
                False,
                f"the consistency proof does not show that checkpoint {newest.size} extends "
                f"checkpoint {older.size}: the log was rewritten between them",
            )


# ---- the export ----------------------------------------------------------------------------


@dataclass
class _Log:
    """What an export's events give, recomputed from their bytes."""

    events: int
    head_position: int
    chain_head: str | None
    root: bytes
    reports: int
    roots: dict[int, bytes]  # tree size -> root, for the checkpoints' sizes
    # position -> (tree size, root, chain head) of the log up to that position
    at_position: dict[int, tuple[int, bytes, str | None]]
    leaves: dict[int, tuple[int, bytes]]  # position -> (leaf index, leaf hash)

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "head_position": self.head_position,
            "chain_head": self.chain_head,
            "tree_size": self.events,
            "root_hash": self.root.hex(),
            "reports": self.reports,
        }

    def summary(self) -> str:
        return (
            f"the export's {self.events} events give its chain head and tree root "
            f"({self.root.hex()}), and its end line says the same"
        )


def _read_export(lines: Iterable[str | bytes], sizes: set[int], positions: set[int]) -> _Log:
    """Replay the export line by line (domain/export_file.py checks each). Raises
    Unreadable at the first line that is wrong. Remembers the root at each of `sizes` and
    the log as it stood at each of `positions`."""
    reader = ExportReader(lines)
    roots: dict[int, bytes] = {}
    at_position: dict[int, tuple[int, bytes, str | None]] = {}
    leaves: dict[int, tuple[int, bytes]] = {}
    waiting = sorted(positions)  # positions whose state is not yet taken
    for line in reader:
        if not isinstance(line, EventLine):
            # Reports are checked by the reader; the server's own copy of its checkpoints
            # is not trusted: only those given to the verifier, held outside the server.
            continue
        if reader.size in sizes:
            roots[reader.size] = reader.root()
        while waiting and waiting[0] < line.position:
            at_position[waiting.pop(0)] = (reader.size, reader.root(), reader.chain_head)
        if line.position in positions:
            leaves[line.position] = (reader.size, line.leaf_hash)
    if reader.size in sizes:
        roots[reader.size] = reader.root()
    for position in waiting:
        at_position[position] = (reader.size, reader.root(), reader.chain_head)
    return _Log(
        reader.size,
        reader.head_position,
        reader.chain_head,
        reader.root(),
        reader.reports,
        roots,
        at_position,
        leaves,
    )


def _check_export_against(
    checkpoints: list[Checkpoint], log: _Log, outcome: Outcome
) -> list[Checkpoint]:
    """Each checkpoint against the export: the checkpoints whose root it gives."""
    matched: list[Checkpoint] = []
    for checkpoint in sorted(checkpoints, key=lambda c: c.size):
        name, size = f"checkpoint {checkpoint.size}", checkpoint.size
        if size > log.events:
            outcome.add(
                name,
                False,
                f"the log was truncated: the export holds {log.events} events, but {name} "
                f"was signed over {size}; its newest {size - log.events} events are missing",
            )
        elif log.roots[size] != checkpoint.root:
            outcome.add(
                name,
                False,
                f"the log was rewritten: the first {size} events of the export give the root "
                f"{log.roots[size].hex()}, not the {checkpoint.root.hex()} that {name} signed",
            )
        else:
            matched.append(checkpoint)
            outcome.add(
                name, True, f"the first {size} events of the export give the root {name} signed"
            )
    return matched


# ---- proofs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _InclusionProof:
    position: int
    leaf_index: int
    tree_size: int
    path: list[bytes]


@dataclass(frozen=True)
class _ConsistencyProof:
    first: int
    second: int
    path: list[bytes]


def _read_proofs(
    texts: Sequence[str | bytes], outcome: Outcome
) -> tuple[list[_InclusionProof], list[_ConsistencyProof]]:
    """The JSON bodies of GET /api/v1/proofs/inclusion and /proofs/consistency. Only the
    sizes, indexes and path are read; the roots they state are not trusted."""
    inclusions: list[_InclusionProof] = []
    consistencies: list[_ConsistencyProof] = []
    for number, text in enumerate(texts, start=1):
        try:
            body = json.loads(text)
            nodes = body["path"] if "path" in body else body["proof"]
            path = [bytes.fromhex(node) for node in nodes]
            if "leaf_index" in body:
                position, index, size = body["position"], body["leaf_index"], body["tree_size"]
                if not (_is_int(position) and _is_int(index) and _is_int(size)):
                    raise ValueError
                inclusions.append(_InclusionProof(position, index, size, path))
            else:
                first, second = body["from"], body["to"]
                if not (_is_int(first) and _is_int(second)):
                    raise ValueError
                consistencies.append(_ConsistencyProof(first, second, path))
        except (KeyError, TypeError, ValueError, RecursionError):
            outcome.add(
                f"proof #{number}",
                False,
                f"proof #{number} is not the JSON of an inclusion or consistency proof "
                "(GET /api/v1/proofs/inclusion or /proofs/consistency)",
            )
    return inclusions, consistencies


def _consistency_proof(
    proofs: list[_ConsistencyProof], first: int, second: int
) -> _ConsistencyProof | None:
    return next((p for p in proofs if (p.first, p.second) == (first, second)), None)


# ---- a report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportHead:
    """What a report's footer says about the log it was made from."""

    format: str
    log_position: int
    chain_head: str | None
    tree_size: int | None  # None: a format version 1 report, which records no tree
    root: bytes | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "log_position": self.log_position,
            "chain_head": self.chain_head,
            "tree_size": self.tree_size,
            "root_hash": None if self.root is None else self.root.hex(),
        }


def _check_report(
    head: ReportHead,
    checkpoints: list[Checkpoint],
    log: _Log | None,
    matched: list[Checkpoint],
    consistencies: list[_ConsistencyProof],
    outcome: Outcome,
) -> None:
    if log is not None:
        _check_report_by_export(head, log, matched, outcome)
        return
    if head.tree_size is None or head.root is None:
        outcome.add(
            "report",
            False,
            "the report records no tree head (format version 1): only an export can check it",
        )
        return
    size, root = head.tree_size, head.root
    covering = sorted((c for c in checkpoints if c.size >= size), key=lambda c: c.size)
    if not covering:
        outcome.add(
            "report", False, f"no checkpoint given covers the report's tree of {size} events"
        )
        return
    for checkpoint in covering:
        if checkpoint.size == size:
            passed = checkpoint.root == root
        else:
            proof = _consistency_proof(consistencies, size, checkpoint.size)
            if proof is None:
                continue
            passed = verify_consistency(size, checkpoint.size, root, checkpoint.root, proof.path)
        tree = f"the report's tree head ({size} events, root {root.hex()})"
        relation = "is that of" if checkpoint.size == size else "is a prefix of"
        outcome.add(
            "report",
            passed,
            f"{tree} {relation} checkpoint {checkpoint.size}"
            if passed
            else f"{tree} is not a prefix of checkpoint {checkpoint.size}: the footer was "
            "altered, or the log was rewritten since the report was made",
        )
        return
    outcome.add(
        "report",
        False,
        f"nothing shows the report's tree of {size} events is a prefix of a checkpoint: give "
        f"the export, or the consistency proof "
        f"(GET /api/v1/proofs/consistency?from={size}&to={covering[0].size})",
    )


def _check_report_by_export(
    head: ReportHead, log: _Log, matched: list[Checkpoint], outcome: Outcome
) -> None:
    position = head.log_position
    if position > log.head_position:
        outcome.add(
            "report",
            False,
            f"the report is of log position {position}, after the export's last event "
            f"(position {log.head_position}): the export lacks events the report was made from",
        )
        return
    size, root, chain = log.at_position[position]
    if head.chain_head != chain:
        outcome.add(
            "report",
            False,
            f"the report's chain head {head.chain_head} is not the export's at log position "
            f"{position} ({chain}): the footer was altered, or the log was rewritten",
        )
        return
    if head.tree_size is not None and (head.tree_size, head.root) != (size, root):
        stated = f"{head.tree_size} events, root {head.root.hex() if head.root else None}"
        outcome.add(
            "report",
            False,
            f"the report's tree head ({stated}) is not the export's at log position "
            f"{position} ({size} events, root {root.hex()}): the footer was altered, or the "
            "log was rewritten",
        )
        return
    covering = [c for c in matched if c.size >= size]
    if not covering:
        outcome.add(
            "report",
            False,
            f"no checkpoint given covers the report's tree of {size} events (and matches the "
            "export)",
        )
        return
    outcome.add(
        "report",
        True,
        f"the report's footer is the export's log at position {position} ({size} events), "
        f"which checkpoint {covering[0].size} covers",
    )


def read_report_head(content: bytes) -> ReportHead:
    """The log position, chain head and tree head a report's footer records, whatever its
    format (how adapters/reports/render.py writes them)."""
    if content.startswith(b"PK"):
        return _xlsx_head(content)
    text = content.decode("utf-8", errors="replace")
    if text.lstrip().startswith("{"):
        try:
            footer = json.loads(text)["footer"]
            values = [footer[key] for key in ("log_position", "chain_head")]
            values += [footer.get("tree_size"), footer.get("root_hash")]
        except (ValueError, KeyError, TypeError, RecursionError):
            raise Unreadable("the file is JSON, but not a report with a footer") from None
        return _report_head("json", *values)
    if text.startswith("code,"):
        return _csv_head(text)
    fmt = "html" if text.lstrip().lower().startswith(("<!doctype", "<html")) else "md"
    matches = list(_TEXT_FOOTER.finditer(html.unescape(text) if fmt == "html" else text))
    if not matches:
        raise Unreadable("no report footer (log position, chain head, tree size and root)")
    return _report_head(fmt, *matches[-1].groups())  # the footer is the last such line


# The Markdown and HTML footers: "... · log position N · chain head HEX · tree size N ·
# tree root HEX · ..." (the tree since format version 2).
_TEXT_FOOTER = re.compile(
    r"log position (\d+) · chain head ([0-9a-f]{64}|None)"
    r"(?: · tree size (\d+) · tree root ([0-9a-f]{64}))?"
)
_HEX_HASH = re.compile(r"[0-9a-f]{64}")


def _report_head(fmt: str, position: Any, chain: Any, size: Any, root: Any) -> ReportHead:
    """Check and convert the footer's values (as text or JSON values)."""
    try:
        log_position = int(position)
        tree_size = None if size in (None, "") else int(size)
        if log_position < 0 or (tree_size is not None and tree_size < 0):
            raise ValueError
    except (TypeError, ValueError):
        raise Unreadable(f"the {fmt} report's log position or tree size is not a number") from None
    chain = None if chain in (None, "", "None") else chain
    root = None if root in (None, "") else root
    for value, what in ((chain, "chain head"), (root, "tree root")):
        if value is not None and not (isinstance(value, str) and _HEX_HASH.fullmatch(value)):
            raise Unreadable(f"the {fmt} report's {what} is not a SHA-256 hash in hex")
    if (tree_size is None) != (root is None):
        raise Unreadable(f"the {fmt} report gives a tree size without a root, or the reverse")
    return ReportHead(fmt, log_position, chain, tree_size, bytes.fromhex(root) if root else None)


def _csv_head(text: str) -> ReportHead:
    """From report format 4, the CSV's last line is its footer ("# As of ..."); before, every
    row repeated the footer in columns, and they must all agree."""
    lines = text.splitlines()
    if lines and lines[-1].startswith("# "):
        match = _TEXT_FOOTER.search(lines[-1])
        if match is None:
            raise Unreadable("the CSV's last line is not a report footer")
        return _report_head("csv", *match.groups())
    columns = ("log_position", "chain_head", "tree_size", "root_hash")
    try:
        footers = {tuple(row.get(c) for c in columns) for row in csv.DictReader(io.StringIO(text))}
    except csv.Error:
        raise Unreadable("the CSV cannot be parsed") from None
    if len(footers) != 1:
        raise Unreadable("the CSV has no rows, or rows that record different logs")
    return _report_head("csv", *footers.pop())


# SpreadsheetML (ECMA-376) names: the workbook, its relationships and its sheets.
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELATIONSHIP = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_PACKAGE = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"


def _xlsx_head(content: bytes) -> ReportHead:
    """The Summary sheet's "Log position", "Chain head", "Tree size", "Tree root" rows."""
    values = _xlsx_summary(content)
    if "Log position" not in values:
        raise Unreadable("the workbook's Summary sheet records no log position")
    labels = ("Log position", "Chain head", "Tree size", "Tree root")
    return _report_head("xlsx", *(values.get(label) for label in labels))


def _xlsx_summary(content: bytes) -> dict[str, str]:
    """Column A -> column B of the sheet named Summary (report format 3 and before), else of
    the first sheet (from format 4 its name is in the report's language), as text."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as book:
            workbook = _xml_part(book, "xl/workbook.xml")
            relationships = _xml_part(book, "xl/_rels/workbook.xml.rels")
            sheets = list(workbook.iter(f"{_MAIN}sheet"))
            named = [sheet for sheet in sheets if sheet.get("name") == "Summary"]
            sheet_id = (named or sheets[:1])[0].get(_RELATIONSHIP)
            target = next(
                str(r.get("Target"))
                for r in relationships.iter(_PACKAGE)
                if r.get("Id") == sheet_id
            )
            shared: list[str] = []
            if "xl/sharedStrings.xml" in book.namelist():
                strings = _xml_part(book, "xl/sharedStrings.xml")
                shared = [_text(item) for item in strings.iter(f"{_MAIN}si")]
            sheet = _xml_part(book, target[1:] if target.startswith("/") else f"xl/{target}")
    except (
        zipfile.BadZipFile,
        KeyError,
        StopIteration,
        IndexError,
        ElementTree.ParseError,
        ValueError,
    ):
        raise Unreadable("the file is not a workbook with a Summary sheet") from None
    values: dict[str, str] = {}
    for row in sheet.iter(f"{_MAIN}row"):
        cells: dict[str, str] = {}
        for cell in row.iter(f"{_MAIN}c"):
            column = re.match(r"[A-Z]+", cell.get("r", ""))
            if column is not None:
                cells[column.group()] = _cell_value(cell, shared)
        if "A" in cells and "B" in cells:
            values.setdefault(cells["A"], cells["B"])
    return values


def _xml_part(book: zipfile.ZipFile, name: str) -> ElementTree.Element:
    if book.getinfo(name).file_size > MAX_XLSX_PART:
        raise ValueError(f"{name} is too large")
    data = book.read(name)
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:  # no entity expansion, ever
        raise ValueError(f"{name} declares a document type")
    return ElementTree.fromstring(data)


def _cell_value(cell: ElementTree.Element, shared: list[str]) -> str:
    kind = cell.get("t")
    if kind == "inlineStr":
        inline = cell.find(f"{_MAIN}is")
        return "" if inline is None else _text(inline)
    value = cell.findtext(f"{_MAIN}v") or ""
    return shared[int(value)] if kind == "s" else value


def _text(element: ElementTree.Element) -> str:
    return "".join(t.text or "" for t in element.iter(f"{_MAIN}t"))


# ---- one event -----------------------------------------------------------------------------


def _check_event(
    event: EventLine,
    checkpoints: list[Checkpoint],
    log: _Log | None,
    matched: list[Checkpoint],
    inclusions: list[_InclusionProof],
    outcome: Outcome,
) -> None:
    subject, position = f"event {event.position}", event.position
    proof = next((p for p in inclusions if p.position == position), None)
    if proof is not None:
        checkpoint = next((c for c in checkpoints if c.size == proof.tree_size), None)
        if event.leaf is not None and event.leaf != proof.leaf_index:
            outcome.add(
                subject,
                False,
                f"the event line gives leaf index {event.leaf}, the proof {proof.leaf_index}",
            )
        elif checkpoint is None:
            outcome.add(
                subject,
                False,
                f"the inclusion proof is for a tree of {proof.tree_size} events, and no "
                "checkpoint given has that size: ask for the proof with tree_size= the "
                "size of your checkpoint",
            )
        elif verify_inclusion(
            event.leaf_hash, proof.leaf_index, checkpoint.size, proof.path, checkpoint.root
        ):
            outcome.add(
                subject,
                True,
                f"the event at position {position} is leaf {proof.leaf_index} of checkpoint "
                f"{checkpoint.size}, byte for byte",
            )
        else:
            outcome.add(
                subject,
                False,
                f"the event at position {position}, as given, is not leaf {proof.leaf_index} "
                f"of checkpoint {checkpoint.size}: its bytes are not the ones logged, or the "
                "proof is false",
            )
        return
    if log is not None and position in log.leaves:
        index, leaf = log.leaves[position]
        covering = [c for c in matched if c.size > index]
        if leaf != event.leaf_hash:
            outcome.add(
                subject,
                False,
                f"the event at position {position}, as given, differs from the export's",
            )
        elif not covering:
            outcome.add(subject, False, f"no checkpoint given covers leaf {index}, the event's")
        else:
            outcome.add(
                subject,
                True,
                f"the event at position {position} is leaf {index} of the export, which "
                f"checkpoint {covering[0].size} covers",
            )
        return
    outcome.add(
        subject,
        False,
        f"nothing shows the event at position {position} is in a checkpoint: give its "
        f"inclusion proof (GET /api/v1/proofs/inclusion?position={position}&tree_size=N, N "
        "the size of your checkpoint), or an export that holds it",
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
