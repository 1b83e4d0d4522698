"""Reports: built from the log, rendered, and archived byte for byte with their sha256 and,
in a process with the operator's signing key, their seal (adapters/seals.py): an HMAC of
(report id, format, bytes) under a key the database does not hold, so bytes edited with
their sha256 are still refused. Serving with the key: a wrong seal is a 409 like a wrong
sha256; an artefact without a seal (archived before seals existed, or by a process
without the key) is served on its sha256 alone and marked unsealed (Artefact.sealed).
Without the key: sha256 only."""

from __future__ import annotations

import builtins
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from cachetools import LRUCache
from sqlalchemy import Connection, and_, insert, or_, select
from sqlalchemy.exc import IntegrityError

from adapters import idempotency
from adapters.checkpoints import CheckpointRefused, Checkpoints, Covering
from adapters.database import Database
from adapters.i18n import DEFAULT_LANGUAGE, LANGUAGES
from adapters.idempotency import IdempotencyKey, KeyReused
from adapters.leases import Lease
from adapters.ledger import Verification
from adapters.metrics import Metrics
from adapters.projection import log_head
from adapters.proofs import tree_head_at
from adapters.reports import fast
from adapters.reports.data import (
    DEFAULT_PERIOD_DAYS,
    REGENERATED_VERSIONS,
    REPORT_FORMAT_VERSION,
    Positions,
    ReportInputs,
    commitment_events,
    commitment_histories,
    compose,
    compose_rows,
    languages_of,
    replayed_rows,
)
from adapters.reports.render import MEDIA_TYPES, render
from adapters.reports.verification import Recorded, check_footer, differences, read_recorded
from adapters.seals import Sealer, artefact_problem
from adapters.tables import event_chain, idempotency_records, report_archive, report_artefacts
from domain import clock
from domain.errors import InvalidValue, NotFound, StateConflict
from domain.progress_report import ReportRow
from domain.schedule import MAX_PERIOD_DAYS, check_formats
from domain.tracker import Tracker
from domain.vocabulary import EARLIEST_DATE, LATEST_DATE

log = logging.getLogger(__name__)


class ReproductionFailed(Exception):
    """An archived report no longer regenerates to its archived bytes."""


class DamagedArtefact(StateConflict):
    """An archived artefact's bytes no longer have the sha256 recorded with them, or (with
    the signing key) not their seal: never served as the report (HTTP 409)."""


# What an Idempotency-Key record of a report request holds as its result.
REPORT = "report"


@dataclass(frozen=True)
class Artefact:
    format: str
    media_type: str
    sha256: str
    content: bytes
    # Served with its seal checked (True), without a seal to check (False: archived before
    # seals or by a process without the key), or by a process without the key (None).
    sealed: bool | None = None


SERVED_BYTES = 64 * 1024 * 1024  # live reports kept per process


class ReportArchive:
    """Generates reports from the log and keeps the archived ones."""

    def __init__(
        self,
        database: Database,
        tracker: Tracker,
        checkpoints: Checkpoints | None = None,
        *,
        metrics: Metrics | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        self.database = database
        # Seals artefacts as they are archived and checks them as they are served.
        self.sealer = sealer
        self.tracker = tracker
        self.metrics = metrics
        # Signs a checkpoint covering each archived report, and checks reports against them.
        self.checkpoints = checkpoints
        # Live reports served lately, by their inputs, format and the chain head at their
        # position: the same three give the same bytes, so a repeated read (or a 304)
        # does not build the report again. Bounded by bytes, least recently used first.
        self._served: LRUCache[tuple[ReportInputs, str, str | None], Artefact] = LRUCache(
            SERVED_BYTES, getsizeof=lambda artefact: len(artefact.content)
        )
        self._served_lock = threading.Lock()

    # ---- inputs -------------------------------------------------------------------------

    def inputs(
        self,
        *,
        at_position: int | None,
        as_of: date | None,
        period_days: int | None,
        today: date,
        language: str = DEFAULT_LANGUAGE,
    ) -> ReportInputs:
        """The report's inputs, checked: the log up to `at_position` (default: all of it),
        as of `as_of` (default: today), over `period_days` (default 30). Nothing else counts,
        whatever was archived before (an archived report is reproduced by its id)."""
        with self.database.reading() as connection:
            head = log_head(connection)
        position = head if at_position is None else at_position
        if position < 0 or position > head:
            raise InvalidValue(f"at_position must be from 0 to {head} (the last event)")
        if as_of is not None and not EARLIEST_DATE <= as_of <= LATEST_DATE:
            raise InvalidValue(f"as_of must be from {EARLIEST_DATE} to {LATEST_DATE}")
        period = DEFAULT_PERIOD_DAYS if period_days is None else period_days
        if not 1 <= period <= MAX_PERIOD_DAYS:
            raise InvalidValue(f"period_days must be from 1 to {MAX_PERIOD_DAYS}")
        if language not in LANGUAGES:
            raise InvalidValue(f"lang must be one of {', '.join(LANGUAGES)}")
        return ReportInputs(position, as_of or today, period, language)

    def head(self) -> int:
        with self.database.reading() as connection:
            return log_head(connection)

    def chain_head_at(self, position: int) -> str | None:
        with self.database.reading() as connection:
            return chain_head_at(connection, position)

    # ---- building ------------------------------------------------------------------------

    def served(self, inputs: ReportInputs, fmt: str) -> Artefact:
        """A live report in one format: generated, or the same bytes generated lately for
        the same inputs while the log up to their position is the same (its chain head)."""
        key = (inputs, fmt, self.chain_head_at(inputs.at_position))
        with self._served_lock:
            kept = self._served.get(key)
        if kept is not None:
            return kept
        [artefact] = self.generate(inputs, [fmt])
        if len(artefact.content) <= SERVED_BYTES:
            with self._served_lock:
                self._served[key] = artefact
        return artefact

    def build(self, inputs: ReportInputs, *, replay: bool = False) -> dict[str, Any]:
        """The report's data (JSON is the source of every format): from the read models
        when they are caught up to the report's position (adapters/reports/fast.py), else,
        or with `replay` (checking a report), by replaying the log up to it. Both give the
        same bytes; replaying keeps a check independent of the read models."""
        with self.database.reading() as connection:
            chain_head = chain_head_at(connection, inputs.at_position)
            tree_size, root_hash = tree_head_at(connection, inputs.at_position)
            if inputs.format_version == REPORT_FORMAT_VERSION:
                start = inputs.as_of - timedelta(days=inputs.period_days)
                rows: Iterable[ReportRow]
                if not replay and fast.ready(connection, inputs.at_position):
                    rows = fast.rows(
                        connection,
                        self.tracker.mapper,
                        at_position=inputs.at_position,
                        as_of=inputs.as_of,
                        start=start,
                        language=inputs.language,
                    )
                else:  # one commitment's events at a time, folded into its row
                    rows = replayed_rows(
                        commitment_histories(connection, self.tracker.mapper, inputs.at_position),
                        as_of=inputs.as_of,
                        start=start,
                        language=inputs.language,
                    )
                return compose_rows(
                    rows, inputs, chain_head=chain_head, tree_size=tree_size, root_hash=root_hash
                )
            positions: Positions = {}
            histories = commitment_events(
                connection, self.tracker.mapper, inputs.at_position, positions
            )
        return compose(
            histories.values(),
            inputs,
            chain_head=chain_head,
            tree_size=tree_size,
            root_hash=root_hash,
            positions=positions,
        )

    def build_kept(self, inputs: ReportInputs, kept: fast.KeptRows) -> dict[str, Any]:
        """`build`'s answer, the same bytes, with the rows `kept` from an earlier build at
        an earlier position: only the commitments written to since are loaded again (the
        portfolio, at each new position). Without the read models caught up, `build`."""
        with self.database.reading() as connection:
            if inputs.format_version == REPORT_FORMAT_VERSION and fast.ready(
                connection, inputs.at_position
            ):
                chain_head = chain_head_at(connection, inputs.at_position)
                tree_size, root_hash = tree_head_at(connection, inputs.at_position)
                rows = kept.load(
                    connection,
                    self.tracker.mapper,
                    at_position=inputs.at_position,
                    as_of=inputs.as_of,
                    start=inputs.as_of - timedelta(days=inputs.period_days),
                    language=inputs.language,
                )
                return compose_rows(
                    rows, inputs, chain_head=chain_head, tree_size=tree_size, root_hash=root_hash
                )
        return self.build(inputs)

    def generate(
        self, inputs: ReportInputs, formats: list[str], *, replay: bool = False
    ) -> list[Artefact]:
        data = self.build(inputs, replay=replay)
        artefacts = []
        for fmt in check_formats(formats):
            content = render(data, fmt)
            artefacts.append(
                Artefact(fmt, MEDIA_TYPES[fmt], hashlib.sha256(content).hexdigest(), content)
            )
        return artefacts

    def archive(
        self,
        inputs: ReportInputs,
        formats: list[str],
        *,
        generated_by: str,
        schedule: str | None = None,
        scheduled_for: datetime | None = None,
        request: IdempotencyKey | None = None,
        fence: Lease | None = None,
    ) -> dict[str, Any] | None:
        """`_archive`, counted and timed in the metrics (runs by trigger and outcome)."""
        trigger = "schedule" if schedule is not None else "request"
        started = time.perf_counter()
        outcome = "failed"
        try:
            stored = self._archive(
                inputs,
                formats,
                generated_by=generated_by,
                schedule=schedule,
                scheduled_for=scheduled_for,
                request=request,
                fence=fence,
            )
            outcome = "duplicate" if stored is None else "archived"
            return stored
        finally:
            if self.metrics is not None:
                self.metrics.report_runs.labels(trigger, outcome).inc()
                self.metrics.report_duration.labels(trigger).observe(time.perf_counter() - started)

    def _archive(
        self,
        inputs: ReportInputs,
        formats: list[str],
        *,
        generated_by: str,
        schedule: str | None = None,
        scheduled_for: datetime | None = None,
        request: IdempotencyKey | None = None,
        fence: Lease | None = None,
    ) -> dict[str, Any] | None:
        """Generate and store a report; None when this schedule tick is archived already,
        or an earlier request with this Idempotency-Key did it (see `answered`). The
        key's record is stored with the report. `fence`: the lease of the scheduler that
        archives it, checked in the same transaction (LeaseLost: nothing stored)."""
        artefacts = self.generate(inputs, formats)
        report_id = uuid.uuid4().hex
        row = {
            "id": report_id,
            "schedule": schedule,
            "scheduled_for": scheduled_for,
            "generated_at": clock.now(),
            "generated_by": generated_by,
            "as_of": inputs.as_of,
            "period_days": inputs.period_days,
            "log_position": inputs.at_position,
            "chain_head": self.chain_head_at(inputs.at_position),
            "formats": ",".join(a.format for a in artefacts),
            "format_version": inputs.format_version,
            "language": inputs.language,
        }
        # Sealed before the write transaction: hashing a workbook need not hold the lock.
        stored = [
            {
                "report_id": report_id,
                "format": a.format,
                "media_type": a.media_type,
                "sha256": a.sha256,
                "content": a.content,
                "seal": self._seal(report_id, a),
            }
            for a in artefacts
        ]
        try:
            with self.database.writing() as connection:
                if fence is not None:
                    fence.fence(connection)
                if request is not None:
                    answer = idempotency.Record(
                        request.request_hash, uuid.UUID(report_id), 0, inputs.at_position, REPORT
                    )
                    connection.execute(
                        insert(idempotency_records).values(
                            idempotency.row(generated_by, request.key, answer)
                        )
                    )
                connection.execute(insert(report_archive).values(row))
                connection.execute(insert(report_artefacts), stored)
        except IntegrityError:
            if schedule is not None or request is not None:
                return None  # another scheduler archived this tick first, or this key
            raise
        self._sign_checkpoint(fence)
        return describe_row(row, {a.format: a.sha256 for a in artefacts})

    def _seal(self, report_id: str, artefact: Artefact) -> str | None:
        if self.sealer is None:
            return None
        return self.sealer.artefact(report_id, artefact.format, artefact.content)

    def _sign_checkpoint(self, fence: Lease | None) -> None:
        """A checkpoint that covers the report just archived, so it verifies at once."""
        if self.checkpoints is None or self.checkpoints.signer is None:
            return
        try:
            self.checkpoints.sign(fence=fence)
        except CheckpointRefused as error:  # the log is damaged: verify says so, loudly
            log.error("no checkpoint signed after archiving a report: %s", error)
            self.checkpoints.failed_in_background()

    # ---- the archive -------------------------------------------------------------------

    def list(
        self, *, limit: int = 50, cursor: str | None = None, schedule: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of archived reports, newest first, and the cursor of the next page."""
        query = select(report_archive).order_by(
            report_archive.c.generated_at.desc(), report_archive.c.id.desc()
        )
        if schedule is not None:
            query = query.where(report_archive.c.schedule == schedule)
        with self.database.reading() as connection:
            if cursor is not None:
                query = query.where(_older_than(connection, cursor))
            rows = connection.execute(query.limit(limit + 1)).mappings().all()
            page = rows[:limit]
            hashes = _hashes(connection, [r["id"] for r in page])
        next_cursor = page[-1]["id"] if len(rows) > limit else None
        return [describe_row(r, hashes[r["id"]]) for r in page], next_cursor

    def answered(self, actor: str, request: IdempotencyKey) -> dict[str, Any] | None:
        """The report an earlier request of `actor` with this Idempotency-Key archived."""
        with self.database.reading() as connection:
            found = idempotency.find(connection, actor, request.key)
        if found is None:
            return None
        if found.request_hash != request.request_hash or found.result != REPORT:
            raise KeyReused("this Idempotency-Key was used for a different request; use a new key")
        return self.get(found.aggregate_id.hex)

    def get(self, report_id: str) -> dict[str, Any]:
        with self.database.reading() as connection:
            row = (
                connection.execute(select(report_archive).where(report_archive.c.id == report_id))
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound(f"no archived report {report_id!r}")
            return describe_row(row, _hashes(connection, [report_id])[report_id])

    def artefact(self, report_id: str, fmt: str) -> Artefact:
        with self.database.reading() as connection:
            row = connection.execute(
                select(report_artefacts).where(
                    report_artefacts.c.report_id == report_id, report_artefacts.c.format == fmt
                )
            ).first()
        if row is None:
            self.get(report_id)  # 404 for an unknown report first
            raise NotFound(f"report {report_id} was not archived as {fmt}")
        content = bytes(row.content)
        problem = artefact_problem(self.sealer, report_id, fmt, content, row.sha256, row.seal)
        if problem is not None:
            log.warning("%s", problem)
            raise DamagedArtefact(problem)
        sealed = None if self.sealer is None else row.seal is not None
        return Artefact(row.format, row.media_type, row.sha256, content, sealed)

    # ---- checking and reproducing ---------------------------------------------------------

    def check(self, content: bytes, chain: Verification | None = None) -> dict[str, Any]:
        """Regenerate the report a file records the inputs of, compare it with the file,
        and check its chain head against the log (`chain`: a verification of the whole log,
        when the caller made one). UnreadableReport when the file records no inputs."""
        recorded = read_recorded(content)
        sha256 = hashlib.sha256(content).hexdigest()
        head = self.head()
        found: builtins.list[str] | None
        if recorded.log_position > head:
            found = [f"the log ends at position {head}, before the report's position"]
        elif recorded.format_version not in REGENERATED_VERSIONS:
            found = None  # this version cannot regenerate it: the archive may know its bytes
        elif recorded.language not in languages_of(recorded.format_version):
            written = ", ".join(languages_of(recorded.format_version))
            found = [
                f"the report says its language is {recorded.language!r}, but format version "
                f"{recorded.format_version} is written in {written} only: the footer was edited"
            ]
        else:
            [expected] = self.generate(recorded.inputs(), [recorded.format], replay=True)
            found = differences(expected.content, content, recorded.format)
        problem = check_footer(recorded, chain, self.chain_head_at(recorded.log_position))
        archived = self._archived_as(sha256)
        same = found == [] if found is not None else bool(archived)
        covering, checkpoint_problem = self._covering(recorded)
        return {
            "format": recorded.format,
            "recorded": recorded.as_dict(),
            "sha256": sha256,
            "regenerated": found is not None,
            "matches_content": same,
            "differences": found or [],
            "matches_log": problem is None,
            "problem": problem,
            "archived_as": archived,
            "checkpoint": covering.as_dict() if covering is not None else None,
            "checkpoint_problem": checkpoint_problem,
            "verified": same and problem is None and checkpoint_problem is None,
        }

    def _covering(self, recorded: Recorded) -> tuple[Covering | None, str | None]:
        """The signed checkpoint that includes the report's tree, and what is wrong with
        it (None: nothing). Without an operator key nothing can be checked, and nothing
        is claimed: `checkpoint` is then null."""
        if self.checkpoints is None or self.checkpoints.operator is None:
            return None, None
        size, root = recorded.tree_size, recorded.root_hash
        if size is None or root is None:
            with self.database.reading() as connection:
                size, root = tree_head_at(connection, recorded.log_position)
        if size == 0:
            return None, "the report is of an empty log: no checkpoint can include it"
        covering = self.checkpoints.covering(size, root)
        if covering is None:
            return None, (
                f"no signed checkpoint includes the report's tree (size {size}) yet: "
                "run `commitments checkpoint`"
            )
        if not covering.signed_by:
            return covering, (
                f"checkpoint {covering.checkpoint.size} is not signed by the operator key "
                f"{self.checkpoints.operator.name}"
            )
        if not covering.consistent:
            return covering, (
                f"the report's tree (size {size}, root {root}) is not a prefix of the signed "
                f"checkpoint {covering.checkpoint.size}: the log was rewritten"
            )
        return covering, None

    def reproduce(self, report_id: str, fmt: str) -> Artefact:
        """Regenerate an archived report from the inputs archived with it; its bytes are
        the archived ones (else the archive or the log changed: an error says which)."""
        described = self.get(report_id)
        archived = self.artefact(report_id, fmt)
        if described["format_version"] not in REGENERATED_VERSIONS:
            versions = ", ".join(str(v) for v in REGENERATED_VERSIONS)
            raise InvalidValue(
                f"report {report_id} has format version {described['format_version']}; this "
                f"release regenerates versions {versions}: fetch the archived bytes"
            )
        inputs = ReportInputs(
            described["log_position"],
            date.fromisoformat(described["as_of"]),
            described["period_days"],
            described["language"],
            described["format_version"],
        )
        [artefact] = self.generate(inputs, [fmt], replay=True)
        if artefact.sha256 != archived.sha256:
            raise ReproductionFailed(
                f"report {report_id} as {fmt} regenerates with sha256 {artefact.sha256}, not the "
                f"archived {archived.sha256}: the log or the archive was changed"
            )
        return artefact

    def _archived_as(self, sha256: str) -> builtins.list[str]:
        """The archived reports with an artefact of these bytes (as served: with the
        signing key, one whose seal is wrong does not count)."""
        with self.database.reading() as connection:
            rows = connection.execute(
                select(report_artefacts).where(report_artefacts.c.sha256 == sha256)
            ).all()
        return sorted(
            {
                str(r.report_id)
                for r in rows
                if artefact_problem(
                    self.sealer, r.report_id, r.format, bytes(r.content), r.sha256, r.seal
                )
                is None
            }
        )

    def last_scheduled(self, schedule: str) -> datetime | None:
        """The tick of the newest report archived for a schedule."""
        with self.database.reading() as connection:
            done = connection.execute(
                select(report_archive.c.scheduled_for)
                .where(report_archive.c.schedule == schedule)
                .order_by(report_archive.c.scheduled_for.desc())
                .limit(1)
            ).scalar_one_or_none()
        return None if done is None else clock.as_utc(done)


def chain_head_at(connection: Connection, position: int) -> str | None:
    """The chain entry of the last event at or before `position`."""
    value = connection.execute(
        select(event_chain.c.hash)
        .where(event_chain.c.position <= position)
        .order_by(event_chain.c.position.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if value is None else str(value)


def _hashes(connection: Connection, ids: list[str]) -> dict[str, dict[str, str]]:
    hashes: dict[str, dict[str, str]] = {i: {} for i in ids}
    if ids:
        for a in connection.execute(
            select(
                report_artefacts.c.report_id, report_artefacts.c.format, report_artefacts.c.sha256
            ).where(report_artefacts.c.report_id.in_(ids))
        ):
            hashes[a.report_id][a.format] = a.sha256
    return hashes


def describe_row(row: Any, sha256: dict[str, str]) -> dict[str, Any]:
    scheduled_for = row["scheduled_for"]
    return {
        "id": row["id"],
        "schedule": row["schedule"],
        "scheduled_for": clock.as_utc(scheduled_for).isoformat() if scheduled_for else None,
        "generated_at": clock.as_utc(row["generated_at"]).isoformat(),
        "generated_by": row["generated_by"],
        "as_of": row["as_of"].isoformat() if isinstance(row["as_of"], date) else row["as_of"],
        "period_days": row["period_days"],
        "log_position": row["log_position"],
        "chain_head": row["chain_head"],
        "formats": row["formats"].split(","),
        "format_version": row["format_version"],
        "language": row["language"],
        "sha256": sha256,
    }


def _older_than(connection: Connection, cursor: str) -> Any:
    """Reports after the one named by the cursor (its id) in newest-first order."""
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
