"""Reading an export of the log (`commitments export`) line by line, checking every line.

One reader for both of its users: `commitments import` (adapters/backup.py), which loads
what it yields into an empty database, and the offline verifier
(domain/offline_verifier.py), which trusts nothing the file states. Whoever iterates an
`ExportReader` gets only lines that passed these checks, and the iteration ends with an
`Unreadable` error naming the first line that did not:

- line 1 is the header of a known format version;
- events come first, in increasing position; each one's canonical bytes
  (domain/log_bytes.py) must give the chain hash the line states, and the leaf index it
  states (version 2) must be its index in the file. The `hash` and `leaf` fields are
  compared with what the bytes give, never used in their place;
- then the archived reports, each of a position in the log and each artefact with the
  sha256 it is listed with;
- then the server's signed checkpoints, each stating in its note the size and root its
  line gives (whether the file's first N events give that root is for the reader's user
  to check);
- the end line last, stating what the lines before it give: counts, chain head and (since
  version 2) the tree's size and root.

Standard library, domain/log_bytes.py, domain/merkle.py and domain/checkpoint.py only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.checkpoint import Checkpoint, Note, Signature
from domain.log_bytes import GENESIS, canonical_bytes, chain_hash
from domain.merkle import Frontier, leaf_hash

EXPORT_FORMAT = "commitments-event-log"  # the header line's "format"
# 2: with the report archive, leaf indexes and the tree root; version 1 files still read.
EXPORT_VERSION = 2
EXPORT_VERSIONS = (1, EXPORT_VERSION)


class Unreadable(ValueError):
    """An input is not what it should be; the message says which line or field."""


@dataclass(frozen=True)
class EventLine:
    """An event as the export writes it; `canonical` is what the chain and the tree hash."""

    position: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes
    canonical: bytes
    hash: str | None  # the chain entry the line claims (checked, never used)
    leaf: int | None  # the leaf index the line claims (checked, never used)

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash(self.canonical)

    def as_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "leaf_index": self.leaf,
            "leaf_hash": self.leaf_hash.hex(),
        }


@dataclass(frozen=True)
class Artefact:
    format: str
    media_type: str
    sha256: str
    content: bytes


@dataclass(frozen=True)
class ReportLine:
    """An archived report: its fields as written (the archive's columns) and its files."""

    number: int  # the line's number in the file, for the user's own messages
    fields: dict[str, Any]
    artefacts: list[Artefact]


@dataclass(frozen=True)
class CheckpointLine:
    """The server's copy of a signed checkpoint, with the cosignatures it received."""

    number: int
    checkpoint: Checkpoint  # what its note states
    note: str
    signed_at: str
    cosignatures: list[dict[str, Any]]  # as written; each `line` parses as a signature


def read_event_line(text: str | bytes) -> EventLine:
    """One event line of an export (a JSON object). A history or feed entry will not do:
    it shows the event decoded, not the bytes that were hashed."""
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise Unreadable("it is not JSON: give the event's line from an export") from None
    return _event_line(record, "it")


class ExportReader:
    """Iterate over the checked lines of an export. While an event is being looked at,
    `size`, `root()` and `chain_head` describe the log before it; once the iteration has
    ended, the whole file's."""

    def __init__(self, lines: Iterable[str | bytes]):
        self._lines = lines
        self.frontier = Frontier()
        self.chain = GENESIS
        self.head_position = 0
        self.reports = 0
        self.checkpoints = 0

    @property
    def size(self) -> int:
        """Events read so far."""
        return self.frontier.size

    def root(self) -> bytes:
        return self.frontier.root()

    @property
    def chain_head(self) -> str | None:
        """The chain head as exports and reports write it: None before the first event."""
        return None if self.chain == GENESIS else self.chain

    def __iter__(self) -> Iterator[EventLine | ReportLine | CheckpointLine]:
        trailer: dict[str, Any] | None = None
        number = 0
        for number, raw in enumerate(self._lines, start=1):
            try:
                record = json.loads(raw)
            except (ValueError, RecursionError):
                raise Unreadable(f"line {number} is not JSON") from None
            if number == 1:
                _check_header(record)
                continue
            if trailer is not None:
                raise Unreadable(f"line {number} comes after the end line")
            if not isinstance(record, dict):
                raise Unreadable(f"line {number} is not a JSON object")
            if record.get("end") is True:
                trailer = record
            elif "checkpoint" in record:
                self.checkpoints += 1
                yield _checkpoint_line(record, number)
            elif "report" in record:
                if self.checkpoints:
                    raise Unreadable(f"line {number}: an archived report after the checkpoints")
                self.reports += 1
                yield _report_line(record, number, self.head_position)
            elif self.reports or self.checkpoints:
                raise Unreadable(f"line {number}: an event after the archived reports")
            else:
                event = self._checked_event(record, number)
                yield event  # seen while the reader still describes the log before it
                self.chain = chain_hash(self.chain, event.canonical)
                self.frontier, _ = self.frontier.append(event.leaf_hash)
                self.head_position = event.position
        if number == 0:
            raise Unreadable("the file is empty")
        if trailer is None:
            raise Unreadable("the file has no end line: it is cut short")
        self._check_trailer(trailer)

    def _checked_event(self, record: dict[str, Any], number: int) -> EventLine:
        event = _event_line(record, f"line {number}")
        if event.position <= self.head_position:
            raise Unreadable(f"line {number}: position {event.position} is out of order")
        if event.leaf is not None and event.leaf != self.size:
            raise Unreadable(
                f"line {number}: leaf index {event.leaf}, but it is event {self.size} "
                "of the file (counting from 0)"
            )
        if event.hash != chain_hash(self.chain, event.canonical):
            raise Unreadable(
                f"line {number}: the event at position {event.position} does not give the "
                "chain hash the line states: the event or the chain was altered"
            )
        return event

    def _check_trailer(self, trailer: dict[str, Any]) -> None:
        """The end line must state what the lines before it give."""
        expected: dict[str, Any] = {
            "events": self.size,
            "head_position": self.head_position,
            "chain_head": self.chain_head,
            "reports": self.reports,
            "checkpoints": self.checkpoints,
        }
        if "root_hash" in trailer or "tree_size" in trailer:  # format version 2
            expected |= {"tree_size": self.size, "root_hash": self.root().hex()}
        for key, value in expected.items():
            stated = trailer.get(key, 0 if key in ("reports", "checkpoints") else None)
            if stated != value or type(stated) is not type(value):
                raise Unreadable(
                    f"the end line states {key} {stated!r}, but the lines before it give {value!r}"
                )


def _check_header(record: Any) -> None:
    if not isinstance(record, dict) or record.get("format") != EXPORT_FORMAT:
        raise Unreadable(f"line 1 is not the header of a {EXPORT_FORMAT} file")
    if record.get("format_version") not in EXPORT_VERSIONS:
        raise Unreadable(f"line 1: unknown format_version {record.get('format_version')!r}")


def _event_line(record: Any, where: str) -> EventLine:
    try:
        position, version = record["position"], record["originator_version"]
        if not (_is_int(position) and position > 0 and _is_int(version)):
            raise ValueError
        originator = UUID(record["originator_id"])
        topic = record["topic"]
        if not isinstance(topic, str):
            raise ValueError
        state = base64.b64decode(record["state"], validate=True)
        claimed_hash, leaf = record.get("hash"), record.get("leaf")
        if not (claimed_hash is None or isinstance(claimed_hash, str)):
            raise ValueError
        if not (leaf is None or _is_int(leaf)):
            raise ValueError
        canonical = canonical_bytes(position, originator, version, topic, state)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, binascii.Error):
        raise Unreadable(
            f"{where} is not an event line of an export (position, originator_id, "
            "originator_version, topic, base64 state)"
        ) from None
    return EventLine(position, originator, version, topic, state, canonical, claimed_hash, leaf)


def _report_line(record: dict[str, Any], number: int, head: int) -> ReportLine:
    """An archived report: of a position in the log, each artefact's content with the
    sha256 it is listed with."""
    try:
        fields = record["report"]
        report_id, position = fields["id"], fields["log_position"]
        if not _is_int(position):
            raise ValueError
        artefacts = [
            Artefact(
                str(a["format"]),
                str(a["media_type"]),
                str(a["sha256"]),
                base64.b64decode(a["content"], validate=True),
            )
            for a in record["artefacts"]
        ]
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise Unreadable(f"line {number} is not an archived report") from None
    if position > head:
        raise Unreadable(
            f"line {number}: archived report {report_id} is of position {position}, after the "
            f"export's last event at {head}: the log was truncated"
        )
    for artefact in artefacts:
        if hashlib.sha256(artefact.content).hexdigest() != artefact.sha256:
            raise Unreadable(
                f"line {number}: archived report {report_id} as {artefact.format} does not "
                "have the sha256 it is listed with"
            )
    return ReportLine(number, fields, artefacts)


def _checkpoint_line(record: dict[str, Any], number: int) -> CheckpointLine:
    """A signed checkpoint: its note must state the size and root the line gives. (Whether
    the file holds that tree is for the reader's user: the offline verifier reports a
    truncated log by the checkpoints it trusts, the import refuses to store it.)"""
    try:
        line = record["checkpoint"]
        size, root, note = line["tree_size"], line["root_hash"], line["note"]
        signed_at = line["signed_at"]
        if not (_is_int(size) and isinstance(root, str) and isinstance(note, str)):
            raise ValueError
        if not isinstance(signed_at, str):
            raise ValueError
        stated = Checkpoint.parse(Note.parse(note).body)
        cosignatures = list(record["cosignatures"])
        for cosignature in cosignatures:
            Signature.parse(cosignature["line"])
    except (KeyError, TypeError, ValueError):  # NoteError is a ValueError
        raise Unreadable(f"line {number} is not a signed checkpoint") from None
    if (stated.size, stated.root.hex()) != (size, root):
        raise Unreadable(f"line {number}: the checkpoint's note states another tree head")
    return CheckpointLine(number, stated, note, signed_at, cosignatures)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
