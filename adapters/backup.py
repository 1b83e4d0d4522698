"""Export and import of the whole event log as JSON lines, with its hash chain and the
report archive.

The file is a header line, one line per event in log order (position, originator id,
version, topic, the stored state in base64, the chain entry and the Merkle leaf index),
one line per archived report (its inputs and its artefacts with their sha256), one line
per signed checkpoint (the operator's note and the witnesses' cosignatures), and a
trailer with the counts, the chain head and the Merkle tree's size and root. Both
directions stream: memory stays flat however long the log. An
import goes into an empty database only, checks every line (events against the chain,
artefacts against their sha256; domain/export_file.py, the offline verifier's reader
too) before writing anything, and then writes all of it in
one transaction, so a restored database serves and verifies every archived report.

Seals (adapters/seals.py) are not exported: they are under the exporting server's key.
An import seals the artefacts it loads with the importing server's key (when it has one),
once the reader has checked them against the sha256 the file lists them with; snapshots
are not exported at all (they are re-taken as the aggregates are written).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, insert, select, text, update

from adapters.database import Database
from adapters.ledger import (
    events_with_hashes,
    node_row,
    row_bytes,
)
from adapters.proofs import root_at
from adapters.seals import Sealer
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
from domain.errors import NotFound
from domain.export_file import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    CheckpointLine,
    EventLine,
    ExportReader,
    ReportLine,
    Unreadable,
)
from domain.merkle import Frontier, leaf_hash

_BATCH = 2_000


class ImportRefused(Exception):
    """The file or the target database is not fit for an import; nothing was written."""


ExportLine = EventLine | ReportLine | CheckpointLine


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
                "format": EXPORT_FORMAT,
                "format_version": EXPORT_VERSION,
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


def _lines(path: Path) -> Iterator[ExportLine]:
    """The file's lines, each checked by the export's reader (domain/export_file.py, the
    offline verifier's too); raises ImportRefused at the first bad one."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as error:
        raise ImportRefused(f"cannot read {path}: {error.strerror}") from None
    with handle:
        try:
            yield from ExportReader(handle)
        except (Unreadable, UnicodeDecodeError) as error:
            raise ImportRefused(str(error)) from None


def _report_rows(
    line: ReportLine, sealer: Sealer | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An archived report's row and its artefacts' rows (sealed, given a sealer: the
    reader checked their bytes against their sha256)."""
    try:
        row = {key: line.fields[key] for key in _REPORT_FIELDS}
        for key in ("scheduled_for", "generated_at"):
            row[key] = datetime.fromisoformat(row[key]) if row[key] is not None else None
        row["as_of"] = date.fromisoformat(row["as_of"])
    except (KeyError, TypeError, ValueError):
        raise ImportRefused(f"line {line.number} is not an archived report") from None
    artefacts = [
        {
            "report_id": row["id"],
            "format": a.format,
            "media_type": a.media_type,
            "sha256": a.sha256,
            "content": a.content,
            "seal": None if sealer is None else sealer.artefact(row["id"], a.format, a.content),
        }
        for a in line.artefacts
    ]
    return row, artefacts


def _checkpoint_rows(line: CheckpointLine) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A signed checkpoint's row and its cosignatures' rows."""
    size = line.checkpoint.size
    try:
        row = {
            "tree_size": size,
            "root_hash": line.checkpoint.root.hex(),
            "note": line.note,
            "signed_at": datetime.fromisoformat(line.signed_at),
        }
        cosignatures = [
            {
                "tree_size": size,
                "name": str(c["name"]),
                "key_id": str(c["key_id"]),
                "line": str(c["line"]),
                "timestamp": int(c["timestamp"]),
                "received_at": datetime.fromisoformat(c["received_at"]),
            }
            for c in line.cosignatures
        ]
    except (KeyError, TypeError, ValueError):
        raise ImportRefused(f"line {line.number} is not a signed checkpoint") from None
    return row, cosignatures


def import_log(database: Database, path: Path, sealer: Sealer | None = None) -> LogSummary:
    """Load an exported log into an empty database, positions and chain unchanged; the
    archived artefacts are sealed with `sealer` (this server's key), if given."""
    with database.reading() as connection:
        existing = connection.execute(select(func.count()).select_from(events)).scalar_one()
    if existing:
        raise ImportRefused(f"the target database is not empty: it has {existing} events")
    events_read = 0
    for line in _lines(path):  # first pass: refuse a bad file before writing anything
        if isinstance(line, ReportLine):
            _report_rows(line)
        elif isinstance(line, CheckpointLine):
            _checkpoint_rows(line)
            if line.checkpoint.size > events_read:
                raise ImportRefused(
                    f"line {line.number}: checkpoint {line.checkpoint.size} is of more events "
                    f"than the file's {events_read}"
                )
        else:
            events_read += 1
    count, head, last_hash, reports = 0, 0, None, 0
    signed: list[CheckpointLine] = []
    with database.writing() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"LOCK TABLE {EVENTS_TABLE} IN EXCLUSIVE MODE"))
        batch_events: list[dict[str, Any]] = []
        batch_chain: list[dict[str, Any]] = []
        batch_nodes: list[dict[str, Any]] = []
        frontier = Frontier()
        for line in _lines(path):
            if isinstance(line, CheckpointLine):
                signed.append(line)  # written once the whole tree is
                continue
            if isinstance(line, ReportLine):
                row, artefacts = _report_rows(line, sealer)
                connection.execute(insert(report_archive).values(row))
                connection.execute(insert(report_artefacts), artefacts)
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
            leaf = frontier.size  # the reader checked the line's own leaf and hash
            batch_chain.append({"position": line.position, "hash": line.hash, "leaf": leaf})
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
            size = checkpoint.checkpoint.size
            if root_at(connection, size) != checkpoint.checkpoint.root:
                raise ImportRefused(
                    f"checkpoint {size} was signed over another tree than the file's first "
                    f"{size} events: the log was rewritten after it was signed"
                )
            row, cosignatures = _checkpoint_rows(checkpoint)
            connection.execute(insert(checkpoints).values(row))
            if cosignatures:
                connection.execute(insert(checkpoint_cosignatures), cosignatures)
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
    database.analyze()
    return LogSummary(count, head, last_hash, reports, len(signed))
