"""The read-model projection: events in log order -> rows, each event applied exactly once.

A batch of events is folded onto in-memory Commitment aggregates (the domain's own
`apply` code, so the read models cannot disagree with the event store), and the rows of
every commitment it touched are rewritten in ONE transaction together with the new
tracked position. The position is advanced by compare-and-set, so two workers racing on
the same batch cannot both commit it; on PostgreSQL an advisory lock (ProjectionFollower)
also keeps all but one worker idle.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification
from sqlalchemy import Connection, Table, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from adapters.event_store import engine_of
from adapters.tables import (
    READ_MODEL_TABLES,
    assessments,
    commitment_summaries,
    events,
    indicator_measurements,
    indicator_rows,
    milestone_rows,
    progress_points,
    projection_positions,
    report_schedules,
)
from domain.commitment import Commitment
from domain.schedule import ReportSchedule
from domain.tracker import Tracker

log = logging.getLogger(__name__)

PROJECTION_NAME = "read_models"
DEFAULT_BATCH_SIZE = 5_000
# Commitments kept folded in memory between batches (each is small).
AGGREGATE_CACHE_SIZE = 20_000
# Rows of one IN (...) list, well under SQLite's limit on bound parameters.
_CHUNK = 500


class ProjectionConflict(Exception):
    """Another worker (or a rebuild) moved the tracked position first; nothing was written."""


@dataclass
class _Rows:
    """What one batch writes."""

    summaries: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    milestones: dict[UUID, list[dict[str, Any]]] = field(default_factory=dict)
    indicators: dict[UUID, list[dict[str, Any]]] = field(default_factory=dict)
    progress: list[dict[str, Any]] = field(default_factory=list)
    measurements: list[dict[str, Any]] = field(default_factory=list)
    assessments: list[dict[str, Any]] = field(default_factory=list)
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)


class ReadModelProjection:
    """Keeps the read-model tables of adapters/tables.py up to date with the event log."""

    def __init__(
        self,
        tracker: Tracker,
        *,
        name: str = PROJECTION_NAME,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.tracker = tracker
        self.name = name
        self.batch_size = batch_size
        self.engine: Engine = engine_of(tracker)
        self._aggregates: OrderedDict[UUID, Commitment | ReportSchedule] = OrderedDict()
        self._ensure_position_row()

    # ---- positions ----------------------------------------------------------------

    def position(self) -> int:
        with self.engine.connect() as connection:
            return _position(connection, self.name)

    def head(self) -> int:
        """Position of the last event in the log."""
        with self.engine.connect() as connection:
            return int(
                connection.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one()
            )

    def lag(self) -> int:
        return max(0, self.head() - self.position())

    # ---- work -----------------------------------------------------------------------

    def catch_up(self, *, max_batches: int | None = None) -> int:
        """Apply every event recorded so far; returns how many were applied."""
        applied = 0
        batches = 0
        while max_batches is None or batches < max_batches:
            try:
                count = self.run_batch()
            except ProjectionConflict:
                continue  # the position moved under us: start again from where it is now
            if count == 0:
                break
            applied += count
            batches += 1
        return applied

    def run_batch(self) -> int:
        """Apply the next batch of events after the tracked position, atomically."""
        start = self.position()
        notifications = self.tracker.recorder.select_notifications(
            start, self.batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0
        try:
            rows = self._fold(notifications)
            with self.engine.begin() as connection:
                self._advance(connection, start, notifications[-1].id)
                self._write(connection, rows)
        except BaseException:
            # The folded aggregates are ahead of what was committed: forget them.
            self._aggregates.clear()
            raise
        return len(notifications)

    def rebuild(self) -> None:
        """Wipe the read models and reset the position: the next batches replay the log.

        The position row is updated first, so a worker in the middle of a batch fails
        its compare-and-set (or waits for this transaction) instead of writing stale rows.
        """
        with self.engine.begin() as connection:
            connection.execute(
                update(projection_positions)
                .where(projection_positions.c.name == self.name)
                .values(position=0, updated_at=datetime.now(UTC))
            )
            for table in READ_MODEL_TABLES:
                connection.execute(delete(table))
        self._aggregates.clear()

    # ---- folding --------------------------------------------------------------------

    def _fold(self, notifications: Sequence[Notification]) -> _Rows:
        rows = _Rows()
        touched: dict[UUID, tuple[Commitment, int]] = {}
        for notification in notifications:
            event: Any = self.tracker.mapper.to_domain_event(notification)
            aggregate = event.mutate(self._aggregate_before(event))
            assert aggregate is not None
            self._remember(aggregate)
            if isinstance(aggregate, ReportSchedule):
                rows.schedules[aggregate.name] = _schedule_row(aggregate)
                continue
            touched[aggregate.id] = (aggregate, notification.id)
            _event_rows(rows, notification.id, event)
        for aggregate_id, (aggregate, position) in touched.items():
            rows.summaries[aggregate_id] = _summary_row(aggregate, position)
            rows.milestones[aggregate_id] = _milestone_rows(aggregate)
            rows.indicators[aggregate_id] = _indicator_rows(aggregate)
        return rows

    def _aggregate_before(self, event: Any) -> Any:
        if event.originator_version == 1:
            return None
        cached = self._aggregates.get(event.originator_id)
        if cached is not None and cached.version == event.originator_version - 1:
            return cached
        # Not folded here yet (a restart, or evicted): load it as it was before this event.
        return self.tracker.repository.get(
            event.originator_id, version=event.originator_version - 1
        )

    def _remember(self, aggregate: Commitment | ReportSchedule) -> None:
        self._aggregates[aggregate.id] = aggregate
        self._aggregates.move_to_end(aggregate.id)
        while len(self._aggregates) > AGGREGATE_CACHE_SIZE:
            self._aggregates.popitem(last=False)

    # ---- writing --------------------------------------------------------------------

    def _ensure_position_row(self) -> None:
        with self.engine.begin() as connection:
            values = {"name": self.name, "position": 0, "updated_at": datetime.now(UTC)}
            if connection.dialect.name == "postgresql":
                statement: Any = pg_insert(projection_positions).values(values)
            else:
                statement = sqlite_insert(projection_positions).values(values)
            connection.execute(statement.on_conflict_do_nothing(index_elements=["name"]))

    def _advance(self, connection: Connection, expected: int, new: int) -> None:
        result = connection.execute(
            update(projection_positions)
            .where(
                projection_positions.c.name == self.name,
                projection_positions.c.position == expected,
            )
            .values(position=new, updated_at=datetime.now(UTC))
        )
        if result.rowcount != 1:
            raise ProjectionConflict(f"{self.name} is no longer at position {expected}")

    def _write(self, connection: Connection, rows: _Rows) -> None:
        names = list(rows.schedules)
        for start in range(0, len(names), _CHUNK):
            connection.execute(
                delete(report_schedules).where(
                    report_schedules.c.name.in_(names[start : start + _CHUNK])
                )
            )
        _insert(connection, report_schedules, list(rows.schedules.values()))
        ids = [str(i) for i in rows.summaries]
        _delete_for(connection, commitment_summaries, ids)
        _delete_for(connection, milestone_rows, ids)
        _delete_for(connection, indicator_rows, ids)
        _insert(connection, commitment_summaries, list(rows.summaries.values()))
        _insert(connection, milestone_rows, [r for rs in rows.milestones.values() for r in rs])
        _insert(connection, indicator_rows, [r for rs in rows.indicators.values() for r in rs])
        _insert(connection, progress_points, rows.progress)
        _insert(connection, indicator_measurements, rows.measurements)
        _insert(connection, assessments, rows.assessments)


def _position(connection: Connection, name: str) -> int:
    value = connection.execute(
        select(projection_positions.c.position).where(projection_positions.c.name == name)
    ).scalar_one_or_none()
    return int(value or 0)


def projection_position(engine: Engine, name: str = PROJECTION_NAME) -> int:
    with engine.connect() as connection:
        return _position(connection, name)


def projection_position_on(connection: Connection, name: str = PROJECTION_NAME) -> int:
    return _position(connection, name)


def _delete_for(connection: Connection, table: Table, ids: list[str]) -> None:
    for start in range(0, len(ids), _CHUNK):
        connection.execute(
            delete(table).where(table.c.commitment_id.in_(ids[start : start + _CHUNK]))
        )


def _insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(table), rows)


def _event_rows(rows: _Rows, position: int, event: Commitment.Event) -> None:
    common = {
        "position": position,
        "commitment_id": str(event.originator_id),
        "recorded_at": event.timestamp.astimezone(UTC),
        "actor": event.actor,
    }
    if isinstance(event, Commitment.ProgressLogged):
        rows.progress.append(
            common
            | {
                "version": event.originator_version,
                "percent": event.percent,
                "as_of": event.as_of,
                "confidence": event.confidence,
            }
        )
    elif isinstance(event, Commitment.IndicatorMeasured):
        rows.measurements.append(
            common
            | {"indicator_id": event.indicator_id, "value": str(event.value), "as_of": event.as_of}
        )
    elif isinstance(event, Commitment.StatusChanged):
        rows.assessments.append(
            common
            | {
                "kind": "status",
                "value": event.status.value,
                "reason": event.reason,
                "as_of": event.as_of,
            }
        )
    elif isinstance(event, Commitment.HealthRated):
        rows.assessments.append(
            common
            | {
                "kind": "health",
                "value": event.rating.value,
                "reason": event.rationale,
                "as_of": event.as_of,
            }
        )


def _joined(values: Iterable[str]) -> str:
    """'|a|b|': a LIKE '%|a|%' finds one value on SQLite and PostgreSQL alike."""
    return "|" + "|".join(values) + "|"


def split_joined(value: str) -> list[str]:
    return [v for v in value.split("|") if v]


def _summary_row(c: Commitment, position: int) -> dict[str, Any]:
    open_milestones = sorted(
        (m for m in c.milestones.values() if m.completed_on is None),
        key=lambda m: (m.due_date, m.id),
    )
    upcoming = open_milestones[0] if open_milestones else None
    return {
        "commitment_id": str(c.id),
        "code": c.code,
        "title": c.title,
        "description": c.description,
        "pillar": c.pillar.value,
        "sectors": _joined(c.sectors),
        "parties": _joined(c.parties),
        "lead_party": c.lead_party,
        "status": c.status.value,
        "status_as_of": c.status_as_of,
        "health": c.health.value if c.health else None,
        "health_rationale": c.health_rationale,
        "health_as_of": c.health_as_of,
        "progress": c.progress,
        "progress_as_of": c.progress_as_of,
        "confidence": c.confidence,
        "start_date": c.start_date,
        "target_date": c.target_date,
        "next_milestone_id": upcoming.id if upcoming else None,
        "next_milestone_title": upcoming.title if upcoming else None,
        "next_milestone_due": upcoming.due_date if upcoming else None,
        "milestones_total": len(c.milestones),
        "milestones_completed": sum(1 for m in c.milestones.values() if m.completed_on),
        "indicators_total": len(c.indicators),
        "evidence_total": len(c.evidence),
        "version": c.version,
        "registered_at": c.created_on.astimezone(UTC),
        "updated_at": c.modified_on.astimezone(UTC),
        "last_position": position,
    }


def _schedule_row(schedule: ReportSchedule) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "cron": schedule.cron,
        "formats": ",".join(schedule.formats),
        "timezone": schedule.timezone,
        "period_days": schedule.period_days,
        "active": schedule.active,
        "defined_by": schedule.changed_by,
        "defined_at": schedule.modified_on.astimezone(UTC),
        "version": schedule.version,
    }


def _milestone_rows(c: Commitment) -> list[dict[str, Any]]:
    return [
        {
            "commitment_id": str(c.id),
            "milestone_id": m.id,
            "title": m.title,
            "due_date": m.due_date,
            "original_due_date": m.original_due_date,
            "times_rescheduled": m.times_rescheduled,
            "completed_on": m.completed_on,
        }
        for m in c.milestones.values()
    ]


def _indicator_rows(c: Commitment) -> list[dict[str, Any]]:
    return [
        {
            "commitment_id": str(c.id),
            "indicator_id": i.id,
            "name": i.name,
            "unit": i.unit,
            "baseline": str(i.baseline),
            "target": str(i.target),
            "latest_value": None if i.latest_value is None else str(i.latest_value),
            "latest_as_of": i.latest_as_of,
            "measurements": i.measurements,
        }
        for i in c.indicators.values()
    ]


def advisory_lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock, derived from the projection name."""
    digest = hashlib.sha256(f"commitments:projection:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
