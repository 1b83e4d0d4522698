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
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from sqlalchemy import Connection, Table, and_, bindparam, func, select

from adapters.projection import projection_position
from adapters.tables import (
    STRUCTURAL_EVENTS,
    assessments,
    commitment_summaries,
    events,
    indicator_measurements,
    indicator_rows,
    progress_points,
)
from domain import clock
from domain.commitment import Commitment
from domain.progress_report import (
    CommitmentLog,
    HealthFact,
    MeasurementFact,
    ProgressFact,
    ReportRow,
    SeriesTotals,
    report_days,
    report_row,
    shown_positions,
    state_as_of,
)
from domain.vocabulary import Health

CHUNK = 1_000  # commitments loaded at a time
_IN_LIST = 1_000  # values in one IN (...) list


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
    only: Collection[str] | None = None,
) -> Iterator[ReportRow]:
    """Each commitment's row of the report at `at_position`, as of `as_of`, over the period
    from `start` (the caller checked `ready`); of the commitments `only` (ids), if given."""
    query = select(
        commitment_summaries.c.commitment_id,
        commitment_summaries.c.version,
        commitment_summaries.c.last_position,
    ).order_by(commitment_summaries.c.commitment_id)
    if only is None:
        summaries = connection.execute(query).all()
    else:
        summaries = [
            row
            for part in _parts(sorted(only))
            for row in connection.execute(
                query.where(commitment_summaries.c.commitment_id.in_(part))
            )
        ]
    for offset in range(0, len(summaries), CHUNK):
        chunk = summaries[offset : offset + CHUNK]
        logs = _logs(connection, mapper, chunk, at_position, as_of, start)
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


# Beyond this many new events, the kept rows are loaded afresh (as cheap, and no long
# scan of the log's positions).
KEPT_GAP = 10_000


@dataclass
class KeptRows:
    """The report's rows as last loaded (`rows`, by commitment id), with the position,
    dates and language they are of: the next load at a later position reloads only the
    commitments with events since (the portfolio's first view after a write reloads
    one commitment, not all). A commitment's row depends only on its own events up to
    the position, so a kept row stands until its commitment is written to."""

    rows: dict[str, ReportRow] = field(default_factory=dict)
    at_position: int | None = None
    of: tuple[date, date, str] | None = None  # as_of, start, language

    def load(
        self,
        connection: Connection,
        mapper: Mapper[UUID],
        *,
        at_position: int,
        as_of: date,
        start: date,
        language: str,
    ) -> list[ReportRow]:
        """The rows `rows` would give at `at_position` (the caller checked `ready`)."""
        of = (as_of, start, language)
        kept = self.at_position
        only: set[str] | None = None  # every commitment
        if kept is None or self.of != of or not kept <= at_position <= kept + KEPT_GAP:
            self.rows = {}
        elif at_position > kept:
            only = written(connection, kept, at_position)
            for key in only:
                self.rows.pop(key, None)  # one `rows` leaves out keeps no row either
        else:
            return list(self.rows.values())  # the same position
        self.at_position = None  # until loaded: if loading fails, all again next time
        loaded = rows(
            connection,
            mapper,
            at_position=at_position,
            as_of=as_of,
            start=start,
            language=language,
            only=only,
        )
        self.rows |= {str(row.now.id): row for row in loaded}
        self.at_position, self.of = at_position, of
        return list(self.rows.values())


def written(connection: Connection, after: int, up_to: int) -> set[str]:
    """The aggregates with events after position `after` up to `up_to` (ids)."""
    query = (
        select(events.c.originator_id).where(events.c.id > after, events.c.id <= up_to).distinct()
    )
    return {str(originator) for (originator,) in connection.execute(query)}


def _logs(
    connection: Connection,
    mapper: Mapper[UUID],
    chunk: Sequence[Any],
    at_position: int,
    as_of: date,
    start: date,
) -> list[CommitmentLog]:
    """The logs of a chunk of commitments: structural events decoded; of the series facts
    only those the report reads, found by the indexes on (commitment, effective date),
    with their totals on the period's start and the report's date (CommitmentLog)."""
    keys = [row.commitment_id for row in chunk]
    structural: dict[str, list[tuple[int, Commitment.Event]]] = defaultdict(list)
    # The position is compared here, not in the query: given `id <= :position` too,
    # PostgreSQL ANDs the commitment's index with a scan of the primary key up to the
    # position, which grows with the log (35 ms at a million events, for 3 rows).
    for row in connection.execute(
        select(*_STORED)
        .where(events.c.originator_id.in_([UUID(key) for key in keys]), STRUCTURAL_EVENTS)
        .order_by(events.c.id)
    ):
        if row.id > at_position:
            continue
        event = _event(mapper, row)
        structural[str(event.originator_id)].append((row.id, event))
    keys = [key for key in keys if structural[key]]  # the others came after the position
    days = report_days(as_of, start)
    wanted: dict[str, set[int]] = {"progress": set(), "health": set(), "measurements": set()}
    for day in days:
        wanted["progress"] |= _in_effect(connection, _PROGRESS, keys, day, at_position)
    for day in (start, as_of):
        wanted["health"] |= _in_effect(connection, _HEALTH, keys, day, at_position)
        wanted["measurements"] |= _in_effect(connection, _MEASURED, keys, day, at_position)
    for series in (_PROGRESS, _HEALTH):
        wanted[series.name] |= _period(connection, series, keys, start, as_of, at_position)
    totals, last = _totals(connection, keys, (start, as_of), at_position)
    for name, position in last:
        wanted[name].add(position)
    facts, recorded = _facts(connection, wanted)
    versions = {row.commitment_id: row.version for row in chunk}
    behind = [UUID(r.commitment_id) for r in chunk if r.last_position > at_position]
    versions |= _versions_at(connection, behind, at_position)
    logs = []
    for key in keys:
        log = CommitmentLog(
            structural[key],
            sorted(facts["progress"][key], key=lambda f: f.position),
            sorted(facts["health"][key], key=lambda f: f.position),
            sorted(facts["measurements"][key], key=lambda f: f.position),
            versions[key],
        )
        for day in (start, as_of):
            evidence, measured, newest = totals[(key, day)]
            log.totals[day] = SeriesTotals(
                evidence, measured, None if newest is None else (newest, recorded[newest])
            )
        logs.append(log)
    return logs


@dataclass(frozen=True)
class _Series:
    """A read-model table of series facts, and which of its rows are facts of that kind."""

    name: str
    table: Table
    kind: str | None = None  # assessments: "health" (status changes are structural events)
    by_indicator: bool = False

    def where(self, table: Any) -> list[Any]:
        return [] if self.kind is None else [table.c.kind == self.kind]


_PROGRESS = _Series("progress", progress_points)
_HEALTH = _Series("health", assessments, kind="health")
_MEASURED = _Series("measurements", indicator_measurements, by_indicator=True)


def _latest_first(q: Any) -> tuple[Any, Any]:
    # As the aggregate keeps them: the latest by effective date, the later recorded first.
    return q.c.as_of.desc(), q.c.position.desc()


def _in_effect(
    connection: Connection, series: _Series, keys: list[str], day: date, at_position: int
) -> set[int]:
    """The position of the fact in effect on `day` of each commitment (of each of its
    indicators, for measurements): one index lookup each."""
    query = _in_effect_query(series)
    found: set[int] = set()
    for part in _parts(keys):
        found |= {
            position
            for (position,) in connection.execute(
                query, {"keys": list(part), "day": day, "at_position": at_position}
            )
            if position is not None
        }
    return found


@cache
def _in_effect_query(series: _Series) -> Any:
    """`_in_effect`'s statement, built once (an alias and its columns cost more to build
    than the lookup costs to run: the report asks it for each of its month ends)."""
    q = series.table.alias("q")
    outer: Any = indicator_rows if series.by_indicator else commitment_summaries
    matches = [q.c.commitment_id == outer.c.commitment_id, q.c.as_of <= bindparam("day")]
    if series.by_indicator:
        matches.append(q.c.indicator_id == outer.c.indicator_id)
    winner = (
        select(q.c.position)
        .where(*matches, q.c.position <= bindparam("at_position"), *series.where(q))
        .order_by(*_latest_first(q))
        .limit(1)
        .scalar_subquery()
    )
    return select(winner).where(outer.c.commitment_id.in_(bindparam("keys", expanding=True)))


def _period(
    connection: Connection,
    series: _Series,
    keys: list[str],
    start: date,
    end: date,
    at_position: int,
) -> set[int]:
    """The facts dated in the period (start, end], and for each the one in effect on its
    date among those recorded before it (what the change was from)."""
    f = series.table.alias("f")
    q = series.table.alias("q")
    before = (
        select(q.c.position)
        .where(
            q.c.commitment_id == f.c.commitment_id,
            q.c.as_of <= f.c.as_of,
            q.c.position < f.c.position,
            *series.where(q),
        )
        .order_by(*_latest_first(q))
        .limit(1)
        .scalar_subquery()
    )
    found: set[int] = set()
    for part in _parts(keys):
        query = select(f.c.position, before).where(
            f.c.commitment_id.in_(part),
            f.c.position <= at_position,
            f.c.as_of > start,
            f.c.as_of <= end,
            *series.where(f),
        )
        for position, previous in connection.execute(query):
            found.add(position)
            if previous is not None:
                found.add(previous)
    return found


_Totals = dict[tuple[str, date], tuple[int, dict[str, int], int | None]]


def _totals(
    connection: Connection, keys: list[str], days: Iterable[date], at_position: int
) -> tuple[_Totals, list[tuple[str, int]]]:
    """Per commitment and day: its evidence documents, measurements by indicator and last
    series fact (position) in effect then; and which series each last fact is of."""
    totals: _Totals = {}
    last: list[tuple[str, int]] = []
    p, a, m = progress_points.c, assessments.c, indicator_measurements.c
    for day in days:
        evidence: dict[str, int] = {}
        latest: dict[str, list[tuple[int, str]]] = defaultdict(list)
        measured: dict[str, dict[str, int]] = defaultdict(dict)
        for part in _parts(keys):
            for key, documents, position in connection.execute(
                select(p.commitment_id, func.sum(p.evidence), func.max(p.position))
                .where(p.commitment_id.in_(part), p.position <= at_position, p.as_of <= day)
                .group_by(p.commitment_id)
            ):
                evidence[key] = int(documents)
                latest[key].append((position, "progress"))
            for key, position in connection.execute(
                select(a.commitment_id, func.max(a.position))
                .where(
                    a.commitment_id.in_(part),
                    a.kind == "health",
                    a.position <= at_position,
                    a.as_of <= day,
                )
                .group_by(a.commitment_id)
            ):
                latest[key].append((position, "health"))
            for key, indicator, count, position in connection.execute(
                select(m.commitment_id, m.indicator_id, func.count(), func.max(m.position))
                .where(m.commitment_id.in_(part), m.position <= at_position, m.as_of <= day)
                .group_by(m.commitment_id, m.indicator_id)
            ):
                measured[key][indicator] = count
                latest[key].append((position, "measurements"))
        for key in keys:
            newest = max(latest[key], default=None)
            totals[(key, day)] = (
                evidence.get(key, 0),
                measured[key],
                None if newest is None else newest[0],
            )
            if newest is not None:
                last.append((newest[1], newest[0]))
    return totals, last


_Facts = dict[str, dict[str, list[Any]]]


def _facts(
    connection: Connection, wanted: dict[str, set[int]]
) -> tuple[_Facts, dict[int, datetime]]:
    """The series facts at the wanted positions, by series and commitment, and when each
    was recorded."""
    facts: _Facts = {name: defaultdict(list) for name in wanted}
    recorded: dict[int, datetime] = {}
    p, a, m = progress_points.c, assessments.c, indicator_measurements.c
    columns = {
        "progress": (p, (p.percent, p.confidence, p.evidence)),
        "health": (a, (a.value, a.reason)),
        "measurements": (m, (m.indicator_id, m.value)),
    }
    for name, positions in wanted.items():
        c, fields = columns[name]
        for part in _parts(sorted(positions)):
            query = select(c.position, c.commitment_id, c.as_of, c.recorded_at, *fields)
            for row in connection.execute(query.where(c.position.in_(part))):
                recorded[row.position] = clock.as_utc(row.recorded_at)
                facts[name][row.commitment_id].append(_fact(name, row))
    return facts, recorded


def _fact(name: str, row: Any) -> ProgressFact | HealthFact | MeasurementFact:
    if name == "progress":
        return ProgressFact(row.position, row.as_of, row.percent, row.confidence, row.evidence)
    if name == "health":
        return HealthFact(row.position, row.as_of, Health(row.value), row.reason)
    return MeasurementFact(row.position, row.indicator_id, row.as_of, Decimal(row.value))


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
