"""Generating reports and archiving their artefacts, byte for byte, with their sha256."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from adapters.event_store import engine_of
from adapters.reports.data import ReportInputs, build_report, chain_head_at
from adapters.reports.render import MEDIA_TYPES, render
from adapters.tables import report_archive, report_artefacts
from domain.errors import InvalidValue, NotFound
from domain.schedule import check_formats
from domain.tracker import Tracker


@dataclass(frozen=True)
class Artefact:
    format: str
    media_type: str
    sha256: str
    content: bytes


def generate(tracker: Tracker, inputs: ReportInputs, formats: list[str]) -> list[Artefact]:
    data = build_report(tracker, inputs)
    artefacts = []
    for fmt in check_formats(formats):
        content = render(data, fmt)
        artefacts.append(
            Artefact(fmt, MEDIA_TYPES[fmt], hashlib.sha256(content).hexdigest(), content)
        )
    return artefacts


def archive(
    tracker: Tracker,
    inputs: ReportInputs,
    formats: list[str],
    *,
    generated_by: str,
    schedule: str | None = None,
    scheduled_for: datetime | None = None,
) -> dict[str, Any] | None:
    """Generate and store a report; None when this schedule tick is archived already."""
    artefacts = generate(tracker, inputs, formats)
    report_id = uuid.uuid4().hex
    row = {
        "id": report_id,
        "schedule": schedule,
        "scheduled_for": scheduled_for,
        "generated_at": datetime.now(UTC),
        "generated_by": generated_by,
        "as_of": inputs.as_of,
        "period_days": inputs.period_days,
        "log_position": inputs.at_position,
        "chain_head": chain_head_at(tracker, inputs.at_position),
        "formats": ",".join(a.format for a in artefacts),
    }
    try:
        with engine_of(tracker).begin() as connection:
            connection.execute(insert(report_archive).values(row))
            connection.execute(
                insert(report_artefacts),
                [
                    {
                        "report_id": report_id,
                        "format": a.format,
                        "media_type": a.media_type,
                        "sha256": a.sha256,
                        "content": a.content,
                    }
                    for a in artefacts
                ],
            )
    except IntegrityError:
        if schedule is not None:
            return None  # another scheduler archived this tick first
        raise
    return describe_row(row, {a.format: a.sha256 for a in artefacts})


def describe_row(row: Any, sha256: dict[str, str]) -> dict[str, Any]:
    scheduled_for = row["scheduled_for"]
    return {
        "id": row["id"],
        "schedule": row["schedule"],
        "scheduled_for": _utc(scheduled_for).isoformat() if scheduled_for else None,
        "generated_at": _utc(row["generated_at"]).isoformat(),
        "generated_by": row["generated_by"],
        "as_of": row["as_of"].isoformat() if isinstance(row["as_of"], date) else row["as_of"],
        "period_days": row["period_days"],
        "log_position": row["log_position"],
        "chain_head": row["chain_head"],
        "formats": row["formats"].split(","),
        "sha256": sha256,
    }


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def list_reports(
    engine: Engine, *, limit: int = 50, cursor: str | None = None, schedule: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of archived reports, newest first, and the cursor of the next page."""
    query = select(report_archive).order_by(
        report_archive.c.generated_at.desc(), report_archive.c.id.desc()
    )
    if schedule is not None:
        query = query.where(report_archive.c.schedule == schedule)
    if cursor is not None:
        query = query.where(_older_than(engine, cursor))
    with engine.connect() as connection:
        rows = connection.execute(query.limit(limit + 1)).mappings().all()
        page = rows[:limit]
        ids = [r["id"] for r in page]
        hashes: dict[str, dict[str, str]] = {i: {} for i in ids}
        if ids:
            for a in connection.execute(
                select(
                    report_artefacts.c.report_id,
                    report_artefacts.c.format,
                    report_artefacts.c.sha256,
                ).where(report_artefacts.c.report_id.in_(ids))
            ):
                hashes[a.report_id][a.format] = a.sha256
    next_cursor = page[-1]["id"] if len(rows) > limit else None
    return [describe_row(r, hashes[r["id"]]) for r in page], next_cursor


def _older_than(engine: Engine, cursor: str) -> Any:
    """Reports after the one named by the cursor (its id) in newest-first order."""
    with engine.connect() as connection:
        anchor = connection.execute(
            select(report_archive.c.generated_at, report_archive.c.id).where(
                report_archive.c.id == cursor
            )
        ).first()
    if anchor is None:
        raise InvalidValue("cursor is not one this API gave out")
    return or_(
        report_archive.c.generated_at < anchor.generated_at,
        and_(
            report_archive.c.generated_at == anchor.generated_at,
            report_archive.c.id < anchor.id,
        ),
    )


def get_report(engine: Engine, report_id: str) -> dict[str, Any]:
    with engine.connect() as connection:
        row = (
            connection.execute(select(report_archive).where(report_archive.c.id == report_id))
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"no archived report {report_id!r}")
        hashes = {
            a.format: a.sha256
            for a in connection.execute(
                select(report_artefacts.c.format, report_artefacts.c.sha256).where(
                    report_artefacts.c.report_id == report_id
                )
            )
        }
    return describe_row(row, hashes)


def get_artefact(engine: Engine, report_id: str, fmt: str) -> Artefact:
    with engine.connect() as connection:
        row = connection.execute(
            select(report_artefacts).where(
                report_artefacts.c.report_id == report_id, report_artefacts.c.format == fmt
            )
        ).first()
    if row is None:
        get_report(engine, report_id)  # 404 for an unknown report first
        raise NotFound(f"report {report_id} was not archived as {fmt}")
    return Artefact(row.format, row.media_type, row.sha256, bytes(row.content))
