"""Export and import of the whole event log as JSON lines, with its hash chain and the
report archive.

The file is a header line, one line per event in log order (position, originator id,
version, topic, the stored state in base64, the chain entry and the Merkle leaf index),
one line per archived report (its inputs and its artefacts with their sha256), one line
per signed checkpoint (the operator's note and the witnesses' cosignatures), and a
trailer with the counts, the chain head and the Merkle tree's size and root. Both
directions stream: memory stays flat however long the log. An
import goes into an empty database only, checks every line (events against the chain,
artefacts against their sha256) before writing anything, and then writes all of it in
one transaction, so a restored database serves and verifies every archived report.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from sqlalchemy import func, insert, select, text, update

from adapters.database import Database
from adapters.ledger import (
    GENESIS,
    canonical_bytes,
    chain_hash,
    events_with_hashes,
    node_row,
    row_bytes,
)
from adapters.proofs import root_at
from adapters.tables import (
    EVENTS_TABLE,
    checkpoint_cosignatures,
    checkpoints,
    event_chain,
    events,
    log_high_water,
    merkle_nodes,
    report_archive,
    report_artefacts,
)
from domain import clock
from domain.checkpoint import Checkpoint, Note, Signature
from domain.errors import NotFound
from domain.merkle import Frontier, leaf_hash

FORMAT = "commitments-event-log"
# 2: with the report archive, leaf indexes and the tree root; version 1 files still import.
FORMAT_VERSION = 2
_BATCH = 2_000


class ImportRefused(Exception):
    """The file or the target database is not fit for an import; nothing was written."""


@dataclass(frozen=True)
class LogSummary:
    events: int
    head_position: int
    chain_head: str | None
    reports: int = 0
    checkpoints: int = 0


def export_log(database: Database, out: IO[str]) -> LogSummary:
    """Write the whole log to `out`, streaming in position order."""
    out.write(
        json.dumps(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "exported_at": datetime.now(UTC).isoformat(),
            }
        )
        + "\n"
    )
    query = events_with_hashes()
    count, head, last_hash, frontier = 0, 0, None, Frontier()
    with database.reading() as connection:
        rows = connection.execute(query.execution_options(stream_results=True, yield_per=_BATCH))
        for row in rows:
            out.write(json.dumps(event_line(row), separators=(",", ":")) + "\n")
            count, head, last_hash = count + 1, row.id, row.hash
            frontier, _ = frontier.append(leaf_hash(row_bytes(row)))
        reports = 0
        for report in connection.execute(
            select(report_archive).order_by(report_archive.c.generated_at, report_archive.c.id)
        ).mappings():
            artefacts = connection.execute(
                select(report_artefacts)
                .where(report_artefacts.c.report_id == report["id"])
                .order_by(report_artefacts.c.format)
            ).mappings()
            out.write(json.dumps(_report_line(report, artefacts), separators=(",", ":")) + "\n")
            reports += 1
        signed = 0
        for checkpoint in connection.execute(
            select(checkpoints).order_by(checkpoints.c.tree_size)
        ).mappings():
            cosignatures = connection.execute(
                select(checkpoint_cosignatures)
                .where(checkpoint_cosignatures.c.tree_size == checkpoint["tree_size"])
                .order_by(checkpoint_cosignatures.c.name, checkpoint_cosignatures.c.key_id)
            ).mappings()
            line = _checkpoint_line(checkpoint, cosignatures)
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
            signed += 1
    trailer = {"end": True, "events": count, "head_position": head, "chain_head": last_hash}
    tree = {"tree_size": frontier.size, "root_hash": frontier.root().hex()}
    out.write(json.dumps(trailer | tree | {"reports": reports, "checkpoints": signed}) + "\n")
    return LogSummary(count, head, last_hash, reports, signed)


def event_line(row: Any) -> dict[str, Any]:
    """An event as the export writes it: its stored bytes, chain entry and leaf index
    (a row of `events_with_hashes()`)."""
    return {
        "position": row.id,
        "originator_id": str(row.originator_id),
        "originator_version": row.originator_version,
        "topic": row.topic,
        "state": base64.b64encode(bytes(row.state)).decode("ascii"),
        "hash": row.hash,
        "leaf": row.leaf,
    }


def stored_event(database: Database, position: int) -> dict[str, Any]:
    """One event's export line (GET /events/{position}/stored), for checking it alone."""
    with database.reading() as connection:
        row = connection.execute(events_with_hashes().where(events.c.id == position)).one_or_none()
    if row is None:
        raise NotFound(f"no event at position {position}")
    return event_line(row)


def _checkpoint_line(checkpoint: Any, cosignatures: Any) -> dict[str, Any]:
    return {
        "checkpoint": {
            "tree_size": checkpoint["tree_size"],
            "root_hash": checkpoint["root_hash"],
            "note": checkpoint["note"],
            "signed_at": clock.as_utc(checkpoint["signed_at"]).isoformat(),
        },
        "cosignatures": [
            {
                "name": c["name"],
                "key_id": c["key_id"],
                "line": c["line"],
                "timestamp": c["timestamp"],
                "received_at": clock.as_utc(c["received_at"]).isoformat(),
            }
            for c in cosignatures
        ],
    }


def _report_line(report: Any, artefacts: Any) -> dict[str, Any]:
    row = {key: report[key] for key in _REPORT_FIELDS}
    for key in ("scheduled_for", "generated_at"):
        row[key] = clock.as_utc(row[key]).isoformat() if row[key] is not None else None
    row["as_of"] = row["as_of"].isoformat()
    return {
        "report": row,
        "artefacts": [
            {
                "format": a["format"],
                "media_type": a["media_type"],
                "sha256": a["sha256"],
                "content": base64.b64encode(bytes(a["content"])).decode("ascii"),
            }
            for a in artefacts
        ],
    }


_REPORT_FIELDS = [c.name for c in report_archive.c]


@dataclass(frozen=True)
class _Line:
    position: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes
    hash: str
    leaf: int
    canonical: bytes  # what the chain and the Merkle leaf hash

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash(self.canonical)


@dataclass(frozen=True)
class _Checkpoint:
    row: dict[str, Any]
    cosignatures: list[dict[str, Any]]


@dataclass(frozen=True)
class _Report:
    row: dict[str, Any]
    artefacts: list[dict[str, Any]]


def _read(path: Path) -> Iterator[_Line | _Report | _Checkpoint]:
    """Every event and report line, checked (events against the chain, artefacts against
    their sha256); raises ImportRefused at the first bad one."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as error:
        raise ImportRefused(f"cannot read {path}: {error.strerror}") from None
    with handle:
        previous, last_position, reports, frontier = GENESIS, 0, 0, Frontier()
        signed = 0
        trailer: dict[str, Any] | None = None
        for number, raw in enumerate(handle, start=1):
            try:
                record = json.loads(raw)
            except json.JSONDecodeError:
                raise ImportRefused(f"line {number}: not JSON") from None
            if number == 1:
                if not isinstance(record, dict) or record.get("format") != FORMAT:
                    raise ImportRefused(f"line 1: not a {FORMAT} file")
                if record.get("format_version") not in (1, FORMAT_VERSION):
                    raise ImportRefused(f"line 1: format_version {record.get('format_version')!r}")
                continue
            if trailer is not None:
                raise ImportRefused(f"line {number}: data after the end line")
            if isinstance(record, dict) and record.get("end") is True:
                trailer = record
                continue
            if isinstance(record, dict) and "checkpoint" in record:
                signed += 1
                yield _parse_checkpoint(record, number, frontier.size)
                continue
            if isinstance(record, dict) and "report" in record:
                if signed:
                    raise ImportRefused(f"line {number}: a report after the checkpoints")
                report = _parse_report(record, number, last_position)
                reports += 1
                yield report
                continue
            if reports or signed:
                raise ImportRefused(f"line {number}: an event after the reports")
            line = _parse(record, number, frontier.size)
            if line.position <= last_position:
                raise ImportRefused(f"line {number}: position {line.position} is out of order")
            if line.leaf != frontier.size:
                raise ImportRefused(
                    f"line {number}: leaf index {line.leaf}, expected {frontier.size}"
                )
            expected = chain_hash(previous, line.canonical)
            if expected != line.hash:
                raise ImportRefused(
                    f"line {number}: position {line.position} does not match its chain hash"
                )
            previous, last_position = expected, line.position
            frontier, _ = frontier.append(line.leaf_hash)
            yield line
        if trailer is None:
            raise ImportRefused("the file has no end line: it is truncated")
        count = frontier.size
        if trailer.get("events") != count or (count and trailer.get("chain_head") != previous):
            raise ImportRefused("the end line does not match the events in the file")
        if "root_hash" in trailer and (
            trailer.get("tree_size") != count or trailer["root_hash"] != frontier.root().hex()
        ):
            raise ImportRefused("the end line's tree root does not match the events in the file")
        if trailer.get("reports", 0) != reports:
            raise ImportRefused("the end line does not match the reports in the file")
        if trailer.get("checkpoints", 0) != signed:
            raise ImportRefused("the end line does not match the checkpoints in the file")


def _parse_checkpoint(record: dict[str, Any], number: int, events: int) -> _Checkpoint:
    """A signed checkpoint: its note must state the size and root the line gives, of a
    tree no larger than the log in the file (its root is checked once the tree is built)."""
    try:
        line = record["checkpoint"]
        row: dict[str, Any] = {
            "tree_size": int(line["tree_size"]),
            "root_hash": str(line["root_hash"]),
            "note": str(line["note"]),
            "signed_at": datetime.fromisoformat(line["signed_at"]),
        }
        cosignatures: list[dict[str, Any]] = [
            {
                "tree_size": row["tree_size"],
                "name": str(c["name"]),
                "key_id": str(c["key_id"]),
                "line": str(c["line"]),
                "timestamp": int(c["timestamp"]),
                "received_at": datetime.fromisoformat(c["received_at"]),
            }
            for c in record["cosignatures"]
        ]
        stated = Checkpoint.parse(Note.parse(row["note"]).body)
        for cosignature in cosignatures:
            Signature.parse(cosignature["line"])
    except (KeyError, TypeError, ValueError):  # NoteError is a ValueError
        raise ImportRefused(f"line {number}: not a checkpoint line") from None
    if (stated.size, stated.root.hex()) != (row["tree_size"], row["root_hash"]):
        raise ImportRefused(f"line {number}: the checkpoint's note states another tree head")
    if stated.size > events:
        raise ImportRefused(
            f"line {number}: checkpoint {stated.size} is of more events than the file's {events}"
        )
    return _Checkpoint(row, cosignatures)


def _parse_report(record: dict[str, Any], number: int, last_position: int) -> _Report:
    try:
        row = {key: record["report"][key] for key in _REPORT_FIELDS}
        for key in ("scheduled_for", "generated_at"):
            row[key] = datetime.fromisoformat(row[key]) if row[key] is not None else None
        row["as_of"] = date.fromisoformat(row["as_of"])
        artefacts = [
            {
                "report_id": row["id"],
                "format": str(a["format"]),
                "media_type": str(a["media_type"]),
                "sha256": str(a["sha256"]),
                "content": base64.b64decode(a["content"], validate=True),
            }
            for a in record["artefacts"]
        ]
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise ImportRefused(f"line {number}: not a report line") from None
    if int(row["log_position"]) > last_position:
        raise ImportRefused(f"line {number}: report {row['id']} is of a position after the log")
    for artefact in artefacts:
        if hashlib.sha256(artefact["content"]).hexdigest() != artefact["sha256"]:
            raise ImportRefused(
                f"line {number}: report {row['id']} as {artefact['format']} "
                "does not match its sha256"
            )
    return _Report(row, artefacts)


def _parse(record: Any, number: int, leaf: int) -> _Line:
    """An event line; `leaf` is its index in the file (version 1 lines do not say it)."""
    try:
        position = int(record["position"])
        originator_id = UUID(record["originator_id"])
        version = int(record["originator_version"])
        topic = str(record["topic"])
        state = base64.b64decode(record["state"], validate=True)
        return _Line(
            position=position,
            originator_id=originator_id,
            originator_version=version,
            topic=topic,
            state=state,
            hash=str(record["hash"]),
            leaf=int(record.get("leaf", leaf)),
            canonical=canonical_bytes(position, originator_id, version, topic, state),
        )
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise ImportRefused(f"line {number}: not an event line") from None


def import_log(database: Database, path: Path) -> LogSummary:
    """Load an exported log into an empty database, positions and chain unchanged."""
    with database.reading() as connection:
        existing = connection.execute(select(func.count()).select_from(events)).scalar_one()
    if existing:
        raise ImportRefused(f"the target database is not empty: it has {existing} events")
    for _ in _read(path):  # first pass: refuse a bad file before writing anything
        pass
    count, head, last_hash, reports = 0, 0, None, 0
    signed: list[_Checkpoint] = []
    with database.writing() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"LOCK TABLE {EVENTS_TABLE} IN EXCLUSIVE MODE"))
        batch_events: list[dict[str, Any]] = []
        batch_chain: list[dict[str, Any]] = []
        batch_nodes: list[dict[str, Any]] = []
        frontier = Frontier()
        for line in _read(path):
            if isinstance(line, _Checkpoint):
                signed.append(line)  # written once the whole tree is
                continue
            if isinstance(line, _Report):
                connection.execute(insert(report_archive).values(line.row))
                connection.execute(insert(report_artefacts), line.artefacts)
                reports += 1
                continue
            batch_events.append(
                {
                    "id": line.position,
                    "originator_id": line.originator_id,
                    "originator_version": line.originator_version,
                    "topic": line.topic,
                    "state": line.state,
                }
            )
            batch_chain.append({"position": line.position, "hash": line.hash, "leaf": line.leaf})
            frontier, completed = frontier.append(line.leaf_hash)
            batch_nodes.extend(node_row(node, value) for node, value in completed)
            count, head, last_hash = count + 1, line.position, line.hash
            if len(batch_events) >= _BATCH:
                connection.execute(insert(events), batch_events)
                connection.execute(insert(event_chain), batch_chain)
                connection.execute(insert(merkle_nodes), batch_nodes)
                batch_events, batch_chain, batch_nodes = [], [], []
        if batch_events:
            connection.execute(insert(events), batch_events)
            connection.execute(insert(event_chain), batch_chain)
            connection.execute(insert(merkle_nodes), batch_nodes)
        for checkpoint in signed:
            size, root = checkpoint.row["tree_size"], checkpoint.row["root_hash"]
            if root_at(connection, size).hex() != root:
                raise ImportRefused(
                    f"checkpoint {size} was signed over another tree than the file's first "
                    f"{size} events: the log was rewritten after it was signed"
                )
            connection.execute(insert(checkpoints).values(checkpoint.row))
            if checkpoint.cosignatures:
                connection.execute(insert(checkpoint_cosignatures), checkpoint.cosignatures)
        if count:
            # New positions come after the imported ones (adapters/log_guard.py).
            connection.execute(
                update(log_high_water).where(log_high_water.c.id == 1).values(position=head)
            )
        if connection.dialect.name == "postgresql" and count:
            # New events must continue after the imported positions.
            connection.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{EVENTS_TABLE}', 'id'), :head)"),
                {"head": head},
            )
    return LogSummary(count, head, last_hash, reports, len(signed))
