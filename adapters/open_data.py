"""Open data: the commitments as a Frictionless data package, and their events as
CloudEvents 1.0.

`commitments export --format datapackage --out DIR` writes `datapackage.json` (a
Frictionless Data Package: one tabular resource per CSV, each with its Table Schema:
field types, primary and foreign keys) and the CSVs: commitments, milestones,
indicators, measurements, progress updates and events. Everything comes from the log up
to one position (recorded in the package as `log_position`), so the files agree with one
another; the derived fields (overdue, missed) are judged on the export's day.

`--format cloudevents` writes one CloudEvent per line (JSON event format, built with
the CloudEvents SDK): `id` the log position, `source` the log's tag: URI (the Atom feeds'
too), `type` `commitments.<EventType>`, `subject` the commitment's code, `time` when it
was recorded, `data` the event as `GET /api/v1/events` gives it (plus the code). The
webhooks (adapters/webhooks.py) post the same bytes.

Only commitments' events are open data: token and schedule events stay inside.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from adapters.database import Database
from adapters.feeds import tag_authority
from adapters.history import commitment_events
from adapters.projection import log_head
from domain.tracker import Tracker
from domain.views import describe
from domain.vocabulary import Health, Pillar, Status

CLOUDEVENT_TYPE_PREFIX = "commitments."
CLOUDEVENTS_MEDIA_TYPE = JSONFormat.CONTENT_TYPE  # application/cloudevents+json
_BATCH = 1000
_FORMAT = JSONFormat()


def log_source(log_origin: str) -> str:
    """The CloudEvents `source` of this log's events: a tag: URI (RFC 4151)."""
    return f"tag:{tag_authority(log_origin)}"


def iter_commitment_events(
    database: Database, tracker: Tracker, *, after: int = 0, up_to: int | None = None
) -> Iterator[dict[str, Any]]:
    """Commitments' events in log order, as `GET /events` items with the commitment's
    `code` added, read in batches (constant memory)."""
    codes: dict[str, str] = {}
    while True:
        batch = commitment_events(database, tracker, after=after, limit=_BATCH, up_to=up_to)
        if not batch:
            return
        for entry in batch:
            yield entry | {"code": code_of(entry, tracker, codes)}
        after = batch[-1]["position"]


def code_of(entry: dict[str, Any], tracker: Tracker, codes: dict[str, str]) -> str:
    """The code of an event's commitment: from its Registered event, else looked up."""
    commitment_id = entry["commitment_id"]
    if commitment_id not in codes:
        if entry["type"] == "Registered":
            codes[commitment_id] = entry["data"]["code"]
        else:
            codes[commitment_id] = tracker.get(commitment_id).code
    return codes[commitment_id]


def cloudevent_bytes(entry: dict[str, Any], source: str) -> bytes:
    """One event (an `iter_commitment_events` item) in the CloudEvents JSON format."""
    event = CloudEvent(
        attributes={
            "specversion": "1.0",
            "id": str(entry["position"]),
            "source": source,
            "type": CLOUDEVENT_TYPE_PREFIX + entry["type"],
            "subject": entry["code"],
            "time": datetime.fromisoformat(entry["recorded_at"]),
            "datacontenttype": "application/json",
        },
        data={
            "position": entry["position"],
            "commitment_id": entry["commitment_id"],
            "code": entry["code"],
            "version": entry["version"],
            "type": entry["type"],
            "recorded_at": entry["recorded_at"],
            "actor": entry["actor"],
            "hash": entry["hash"],
            "data": json.loads(json.dumps(entry["data"], default=_number)),
        },
    )
    return _FORMAT.write(event)


def _number(value: Any) -> Any:
    """Decimals (exact values of measurements) as JSON numbers."""
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def write_cloudevents(
    database: Database, tracker: Tracker, out: IO[bytes], *, log_origin: str
) -> int:
    """Every commitment event up to the log's head, one CloudEvent a line; the count."""
    with database.reading() as connection:
        head = log_head(connection)
    source = log_source(log_origin)
    count = 0
    for entry in iter_commitment_events(database, tracker, up_to=head):
        out.write(cloudevent_bytes(entry, source) + b"\n")
        count += 1
    return count


# ---- the data package ---------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    description: str
    required: bool = False
    enum: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None

    def descriptor(self) -> dict[str, Any]:
        field: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "description": self.description,
        }
        if self.type == "datetime":
            field["format"] = "any"
        constraints: dict[str, Any] = {}
        if self.required:
            constraints["required"] = True
        if self.enum is not None:
            constraints["enum"] = list(self.enum)
        if self.minimum is not None:
            constraints["minimum"] = self.minimum
        if self.maximum is not None:
            constraints["maximum"] = self.maximum
        if constraints:
            field["constraints"] = constraints
        return field


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    description: str
    fields: tuple[Field, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[tuple[tuple[str, ...], str, tuple[str, ...]], ...] = ()

    def descriptor(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "path": f"{self.name}.csv",
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "schema": {
                "fields": [field.descriptor() for field in self.fields],
                "primaryKey": list(self.primary_key),
                "foreignKeys": [
                    {
                        "fields": list(fields),
                        "reference": {"resource": resource, "fields": list(target)},
                    }
                    for fields, resource, target in self.foreign_keys
                ],
                "missingValues": [""],
            },
        }


_CODE = Field("commitment_code", "string", "The commitment's code", required=True)
_TO_COMMITMENT = ((("commitment_code",), "commitments", ("code",)),)
_RECORDED = Field("recorded_at", "datetime", "When the system recorded it (UTC)", required=True)
_ACTOR = Field("actor", "string", "Who recorded it (token name#id)", required=True)
_POSITION = Field("position", "integer", "The event's position in the log", required=True)

TABLES = (
    Table(
        "commitments",
        "Commitments",
        "One row per commitment, as it stands at the package's log position.",
        (
            Field("id", "string", "Stable id (UUID)", required=True),
            Field("code", "string", "The commitment's code", required=True),
            Field("title", "string", "Title", required=True),
            Field("description", "string", "Description"),
            Field("pillar", "string", "Action Plan pillar", True, tuple(p.value for p in Pillar)),
            Field("sectors", "string", "Sectors, separated by ';'"),
            Field("parties", "string", "Parties (ISO 3166 alpha-2), separated by ';'", True),
            Field("lead_party", "string", "Leading party, or 'joint'", required=True),
            Field("start_date", "date", "Start date"),
            Field("target_date", "date", "Target date"),
            Field("status", "string", "Lifecycle status", True, tuple(s.value for s in Status)),
            Field("status_as_of", "date", "Effective date of the status"),
            Field("health", "string", "Delivery confidence", enum=tuple(h.value for h in Health)),
            Field("health_rationale", "string", "Why that health rating"),
            Field("health_as_of", "date", "Effective date of the health rating"),
            Field("progress", "integer", "Latest logged percent", minimum=0, maximum=100),
            Field("progress_as_of", "date", "Effective date of that percent"),
            Field("confidence", "integer", "Confidence in it (0-10)", minimum=0, maximum=10),
            Field("overdue", "boolean", "Target date passed and not completed", required=True),
            Field("milestones_total", "integer", "Milestones", required=True),
            Field("milestones_completed", "integer", "Milestones completed", required=True),
            Field("milestones_missed", "integer", "Milestones past due, not completed", True),
            Field("source_title", "string", "Where the commitment was made"),
            Field("source_url", "string", "Link to the source"),
            Field("version", "integer", "Number of events of the commitment", required=True),
            Field("registered_at", "datetime", "When it was registered (UTC)", required=True),
            Field("updated_at", "datetime", "When it last changed (UTC)", required=True),
        ),
        ("code",),
    ),
    Table(
        "milestones",
        "Milestones",
        "Milestones of each commitment, with their status on the export's day.",
        (
            _CODE,
            Field("milestone_id", "string", "Id within the commitment", required=True),
            Field("title", "string", "Title", required=True),
            Field("due_date", "date", "Due date", required=True),
            Field("original_due_date", "date", "Due date when first planned", required=True),
            Field("times_rescheduled", "integer", "Times rescheduled", required=True),
            Field(
                "status",
                "string",
                "planned, completed or missed",
                True,
                ("planned", "completed", "missed"),
            ),
            Field("completed_on", "date", "Completion date"),
        ),
        ("commitment_code", "milestone_id"),
        _TO_COMMITMENT,
    ),
    Table(
        "indicators",
        "Indicators",
        "Indicators of each commitment, with their latest measurement.",
        (
            _CODE,
            Field("indicator_id", "string", "Id within the commitment", required=True),
            Field("name", "string", "Name", required=True),
            Field("unit", "string", "Unit", required=True),
            Field("baseline", "number", "Baseline value", required=True),
            Field("target", "number", "Target value", required=True),
            Field("latest_value", "number", "Latest measured value (by effective date)"),
            Field("latest_as_of", "date", "Effective date of the latest value"),
            Field("measurements", "integer", "Number of measurements", required=True),
        ),
        ("commitment_code", "indicator_id"),
        _TO_COMMITMENT,
    ),
    Table(
        "measurements",
        "Indicator measurements",
        "Every measurement recorded, in log order.",
        (
            _POSITION,
            _CODE,
            Field("indicator_id", "string", "The indicator", required=True),
            Field("value", "number", "Measured value", required=True),
            Field("as_of", "date", "Effective date", required=True),
            Field("note", "string", "Note"),
            _RECORDED,
            _ACTOR,
        ),
        ("position",),
        (
            (
                ("commitment_code", "indicator_id"),
                "indicators",
                ("commitment_code", "indicator_id"),
            ),
            *_TO_COMMITMENT,
        ),
    ),
    Table(
        "progress_updates",
        "Progress updates",
        "Every progress update logged, in log order.",
        (
            _POSITION,
            _CODE,
            Field("percent", "integer", "Percent complete", True, minimum=0, maximum=100),
            Field("as_of", "date", "Effective date", required=True),
            Field("confidence", "integer", "Confidence (0-10)", minimum=0, maximum=10),
            Field("note", "string", "Note", required=True),
            Field("evidence_urls", "string", "Evidence attached with it, separated by ' '"),
            _RECORDED,
            _ACTOR,
        ),
        ("position",),
        _TO_COMMITMENT,
    ),
    Table(
        "events",
        "Events",
        "Every event of every commitment, in log order: the full history.",
        (
            _POSITION,
            _CODE,
            Field("version", "integer", "The commitment's version after it", required=True),
            Field("type", "string", "Event type (ProgressLogged, ...)", required=True),
            _RECORDED,
            _ACTOR,
            Field("hash", "string", "Its entry in the log's hash chain (hex)"),
            Field("data", "object", "The event's facts (JSON)", required=True),
        ),
        ("position",),
        _TO_COMMITMENT,
    ),
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def write_datapackage(
    database: Database,
    tracker: Tracker,
    folder: Path,
    *,
    log_origin: str,
    today: date,
    now: Callable[[], datetime],
) -> dict[str, int]:
    """Write the package into `folder` (made if missing); rows per table."""
    folder.mkdir(parents=True, exist_ok=True)
    with database.reading() as connection:
        head = log_head(connection)
    versions: dict[str, tuple[str, int]] = {}  # commitment id -> (code, last version)
    with _Writers(folder, TABLES) as write:
        for entry in iter_commitment_events(database, tracker, up_to=head):
            code, data = entry["code"], entry["data"]
            versions[entry["commitment_id"]] = (code, entry["version"])
            common = {"position": entry["position"], "commitment_code": code}
            who = {"recorded_at": entry["recorded_at"], "actor": entry["actor"]}
            write(
                "events",
                common
                | {
                    "version": entry["version"],
                    "type": entry["type"],
                    "hash": entry["hash"],
                    "data": json.dumps(data, ensure_ascii=False, sort_keys=True, default=_number),
                }
                | who,
            )
            if entry["type"] == "ProgressLogged":
                write(
                    "progress_updates",
                    common
                    | {
                        "percent": data["percent"],
                        "as_of": data["as_of"],
                        "confidence": data["confidence"],
                        "note": data["note"],
                        "evidence_urls": " ".join(e["url"] for e in data["evidence"]),
                    }
                    | who,
                )
            elif entry["type"] == "IndicatorMeasured":
                write(
                    "measurements",
                    common
                    | {
                        "indicator_id": data["indicator_id"],
                        "value": data["value"],
                        "as_of": data["as_of"],
                        "note": data["note"],
                    }
                    | who,
                )
        for commitment_id, (code, version) in sorted(versions.items(), key=lambda i: i[1][0]):
            c = describe(tracker.state(commitment_id, version=version), today)
            source: dict[str, Any] = dict(c["source"] or {})
            write(
                "commitments",
                {
                    **{k: v for k, v in c.items() if not isinstance(v, list | dict)},
                    "sectors": ";".join(c["sectors"]),
                    "parties": ";".join(c["parties"]),
                    "source_title": source.get("title"),
                    "source_url": source.get("url"),
                },
            )
            for m in c["milestones"]:
                write("milestones", {"commitment_code": code, "milestone_id": m["id"], **m})
            for i in c["indicators"]:
                latest: dict[str, Any] = dict(i["latest"] or {})
                write(
                    "indicators",
                    {
                        "commitment_code": code,
                        "indicator_id": i["id"],
                        **i,
                        "latest_value": latest.get("value"),
                        "latest_as_of": latest.get("as_of"),
                    },
                )
        rows = write.counts
    package = {
        "profile": "tabular-data-package",
        "name": "canada-mexico-commitments",
        "title": "Canada-Mexico Action Plan 2025-2028: commitments and their history",
        "description": (
            "The commitments tracked, their milestones, indicators, measurements, progress "
            "updates and every recorded event, from the tracker's event log up to "
            f"position {head}. Derived fields (overdue, missed) are judged on {today}."
        ),
        "id": f"{log_source(log_origin)}/open-data/{head}",
        "created": now().isoformat(),
        "log_position": head,
        "as_of": today.isoformat(),
        "licenses": [
            {
                "name": "OGL-Canada-2.0",
                "title": "Open Government Licence - Canada",
                "path": "https://open.canada.ca/en/open-government-licence-canada",
            }
        ],
        "resources": [table.descriptor() for table in TABLES],
    }
    (folder / "datapackage.json").write_text(
        json.dumps(package, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return rows


class _Writers:
    """One CSV writer per table, with its header; `write(table, row)` keeps the schema's
    columns (and only those), in order."""

    def __init__(self, folder: Path, tables: tuple[Table, ...]) -> None:
        self.folder = folder
        self.tables = {table.name: table for table in tables}
        self.counts: dict[str, int] = dict.fromkeys(self.tables, 0)
        self._files: dict[str, IO[str]] = {}
        self._writers: dict[str, Any] = {}

    def __enter__(self) -> _Writers:
        for name, table in self.tables.items():
            handle = (self.folder / f"{name}.csv").open("w", encoding="utf-8", newline="")
            self._files[name] = handle
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow([field.name for field in table.fields])
            self._writers[name] = writer
        return self

    def __call__(self, name: str, row: dict[str, Any]) -> None:
        fields = self.tables[name].fields
        self._writers[name].writerow([_cell(row.get(field.name)) for field in fields])
        self.counts[name] += 1

    def __exit__(self, *_: object) -> None:
        for handle in self._files.values():
            handle.close()
