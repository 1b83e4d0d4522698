"""The report's rows from the read models, without replaying the log.

Most of a log is series facts (ProgressLogged, HealthRated, IndicatorMeasured), which the
projection keeps as rows with their log position, effective date and recorded time
(progress_points, assessments, indicator_measurements). Here a report reads those rows up
to its position (and, of them, only the ones in effect by its date), decodes the few other
events of each commitment (registration, milestones, details, status, closures,
evidence, translations) and, of the series events, only those whose words it prints
(the period's, and each commitment's latest progress note). domain/progress_report.py
turns them into the same rows a replay gives; tests compare the bytes of both on
scripted and generated histories.

Used only when the read models are caught up to the report's position (`ready`), else
the report replays the log (adapters/reports/data.py), which stays the reference:
`commitments verify --report` and archived reproductions always replay, so verifying a
report never trusts the read models. Commitments are loaded a chunk at a time, so memory
holds a chunk's facts, not the log.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic
from sqlalchemy import Connection, and_, func, select

from adapters.projection import projection_position
from adapters.tables import (
    assessments,
    commitment_summaries,
    events,
    indicator_measurements,
    progress_points,
)
from domain import clock
from domain.commitment import Commitment
from domain.progress_report import (
    SERIES_EVENTS,
    CommitmentLog,
    HealthFact,
    MeasurementFact,
    ProgressFact,
    ReportRow,
    report_row,
    shown_positions,
    state_as_of,
)
from domain.vocabulary import Health

CHUNK = 500  # commitments loaded at a time
_IN_LIST = 1_000  # values in one IN (...) list
SERIES_TOPICS = tuple(get_topic(cls) for cls in SERIES_EVENTS)


def ready(connection: Connection, at_position: int) -> bool:
    """Whether the read models hold every series fact up to `at_position`: projected that
    far, and with the evidence counts of progress points (rows projected before migration
    0017 have none, until `commitments project --rebuild`; they are the oldest, so the
    first row tells)."""
    if projection_position(connection) < at_position:
        return False
    first = connection.execute(
        select(progress_points.c.evidence).order_by(progress_points.c.position).limit(1)
    ).first()
    return first is None or first.evidence is not None


def rows(
    connection: Connection,
    mapper: Mapper[UUID],
    *,
    at_position: int,
    as_of: date,
    start: date,
    language: str,
) -> Iterator[ReportRow]:
    """Each commitment's row of the report at `at_position`, as of `as_of`, over the period
    from `start` (the caller checked `ready`)."""
    summaries = connection.execute(
        select(
            commitment_summaries.c.commitment_id,
            commitment_summaries.c.version,
            commitment_summaries.c.last_position,
        ).order_by(commitment_summaries.c.commitment_id)
    ).all()
    for offset in range(0, len(summaries), CHUNK):
        chunk = summaries[offset : offset + CHUNK]
        logs = _logs(connection, mapper, chunk, at_position, as_of)
        folded = []
        wanted: set[int] = set()
        for log in logs:
            now = state_as_of(log, as_of)
            then = state_as_of(log, start)
            if now is None or then is None:
                continue  # registered after the report's position
            folded.append((log, now, then[0]))
            wanted |= shown_positions(log, as_of, start)
        shown: dict[UUID, dict[int, Commitment.Event]] = defaultdict(dict)
        for position, event in _decoded(connection, mapper, sorted(wanted)).items():
            shown[event.originator_id][position] = event
        for log, now, before in folded:
            log.shown = shown[now[0].id]
            yield report_row(log, now, before, start=start, as_of=as_of, language=language)


def _logs(
    connection: Connection,
    mapper: Mapper[UUID],
    chunk: Sequence[Any],
    at_position: int,
    as_of: date,
) -> list[CommitmentLog]:
    """The logs of a chunk of commitments: structural events decoded, series facts in
    effect by `as_of` from the read models, each commitment's version at the position."""
    keys = [row.commitment_id for row in chunk]
    uuids = [UUID(key) for key in keys]
    structural: dict[str, list[tuple[int, Commitment.Event]]] = defaultdict(list)
    for row in connection.execute(
        select(*_STORED)
        .where(
            events.c.originator_id.in_(uuids),
            events.c.id <= at_position,
            events.c.topic.not_in(SERIES_TOPICS),
        )
        .order_by(events.c.id)
    ):
        event = _event(mapper, row)
        structural[str(event.originator_id)].append((row.id, event))
    progress: dict[str, list[ProgressFact]] = defaultdict(list)
    p = progress_points.c
    for row in connection.execute(
        select(p.commitment_id, p.position, p.as_of, p.percent, p.confidence, p.evidence)
        .add_columns(p.recorded_at)
        .where(p.commitment_id.in_(keys), p.position <= at_position, p.as_of <= as_of)
        .order_by(p.position)
    ):
        progress[row.commitment_id].append(
            ProgressFact(
                row.position,
                row.as_of,
                row.percent,
                row.confidence,
                row.evidence,
                clock.as_utc(row.recorded_at),
            )
        )
    health: dict[str, list[HealthFact]] = defaultdict(list)
    a = assessments.c
    for row in connection.execute(
        select(a.commitment_id, a.position, a.as_of, a.value, a.reason, a.recorded_at)
        .where(
            a.commitment_id.in_(keys),
            a.kind == "health",
            a.position <= at_position,
            a.as_of <= as_of,
        )
        .order_by(a.position)
    ):
        health[row.commitment_id].append(
            HealthFact(
                row.position,
                row.as_of,
                Health(row.value),
                row.reason,
                clock.as_utc(row.recorded_at),
            )
        )
    measured: dict[str, list[MeasurementFact]] = defaultdict(list)
    m = indicator_measurements.c
    for row in connection.execute(
        select(m.commitment_id, m.position, m.indicator_id, m.as_of, m.value, m.recorded_at)
        .where(m.commitment_id.in_(keys), m.position <= at_position, m.as_of <= as_of)
        .order_by(m.position)
    ):
        measured[row.commitment_id].append(
            MeasurementFact(
                row.position,
                row.indicator_id,
                row.as_of,
                Decimal(row.value),
                clock.as_utc(row.recorded_at),
            )
        )
    versions = {row.commitment_id: row.version for row in chunk}
    behind = [UUID(r.commitment_id) for r in chunk if r.last_position > at_position]
    versions |= _versions_at(connection, behind, at_position)
    return [
        CommitmentLog(
            structural[key], progress[key], health[key], measured[key], versions.get(key, 0)
        )
        for key in keys
        if structural[key]
    ]


def _versions_at(connection: Connection, ids: list[UUID], at_position: int) -> dict[str, int]:
    """The version of commitments written to after the position, as it was there."""
    found: dict[str, int] = {}
    for part in _parts(ids):
        query = (
            select(events.c.originator_id, func.max(events.c.originator_version).label("v"))
            .where(and_(events.c.originator_id.in_(part), events.c.id <= at_position))
            .group_by(events.c.originator_id)
        )
        found |= {str(row.originator_id): row.v for row in connection.execute(query)}
    return found


def _decoded(
    connection: Connection, mapper: Mapper[UUID], positions: list[int]
) -> dict[int, Commitment.Event]:
    """The events at these positions, decoded."""
    decoded: dict[int, Commitment.Event] = {}
    for part in _parts(positions):
        for row in connection.execute(select(*_STORED).where(events.c.id.in_(part))):
            decoded[row.id] = _event(mapper, row)
    return decoded


_STORED = (
    events.c.id,
    events.c.originator_id,
    events.c.originator_version,
    events.c.topic,
    events.c.state,
)


def _event(mapper: Mapper[UUID], row: Any) -> Commitment.Event:
    stored = StoredEvent(row.originator_id, row.originator_version, row.topic, bytes(row.state))
    event: Commitment.Event = mapper.to_domain_event(stored)  # type: ignore[assignment]
    return event


T = TypeVar("T")


def _parts(values: Sequence[T]) -> Iterable[Sequence[T]]:
    for offset in range(0, len(values), _IN_LIST):
        yield values[offset : offset + _IN_LIST]
