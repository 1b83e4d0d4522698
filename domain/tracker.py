"""The Tracker application: the use cases, and the time-travel queries over commitments."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from threading import Lock
from typing import Any, ClassVar, TypedDict, Unpack
from uuid import UUID
from weakref import WeakValueDictionary

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from domain.commitment import Commitment, commitment_id, replay
from domain.errors import (
    DuplicateCode,
    InvalidValue,
    NotFound,
    StateConflict,
    VersionMismatch,
)
from domain.schedule import ReportSchedule, schedule_id
from domain.transcodings import register_all
from domain.vocabulary import Evidence, Health, Pillar, Source, Status

# A write that loses a race with another process is retried this many times.
MAX_ATTEMPTS = 30

# Every SNAPSHOT_INTERVAL versions the state is snapshotted, so a long-lived commitment
# (and any past version of it) loads from a snapshot plus at most that many events.
SNAPSHOT_INTERVAL = 100


# Called inside the write's unit of work (with what it yields) after the events are saved.
SavedHook = Callable[[Any, "Change"], None]


class WriteOptions(TypedDict, total=False):
    expected_version: int | None  # the caller's If-Match: a stale version is a mismatch
    on_saved: SavedHook | None


@dataclass(frozen=True)
class Change:
    """What a write produced: the commitment after it and the log position it reached."""

    commitment: Commitment
    position: int
    result: Any = None


class Tracker(Application[UUID]):
    """Use cases of the commitments tracker. Table names derive from `name`: keep it."""

    name = "Tracker"
    is_snapshotting_enabled = True
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "1000"}

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        # Adapters replace this with a database transaction, so that rows written by
        # `on_saved` hooks commit or roll back together with the events.
        self.unit_of_work: Callable[[], AbstractContextManager[Any]] = nullcontext
        self._write_locks: WeakValueDictionary[UUID, Lock] = WeakValueDictionary()
        self._write_locks_guard = Lock()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_all(transcoder)

    # ---- writes ---------------------------------------------------------------

    def register(
        self,
        *,
        actor: str,
        code: str,
        title: str,
        pillar: Pillar | str,
        sectors: list[str],
        parties: list[str],
        lead_party: str,
        description: str = "",
        agencies: dict[str, list[str]] | None = None,
        start_date: date | None = None,
        target_date: date | None = None,
        source: Source | None = None,
        milestones: Sequence[tuple[str, date]] = (),
        on_saved: SavedHook | None = None,
    ) -> Change:
        """Register a commitment, with its planned milestones, in one atomic save."""
        commitment = Commitment.register(
            actor=actor,
            code=code,
            title=title,
            pillar=pillar,
            sectors=sectors,
            parties=parties,
            lead_party=lead_party,
            description=description,
            agencies=agencies,
            start_date=start_date,
            target_date=target_date,
            source=source,
        )
        for title, due_date in milestones:
            commitment.add_milestone(actor=actor, title=title, due_date=due_date)
        if commitment.id in self.repository:
            raise DuplicateCode(f"a commitment with code {code} is already registered")
        try:
            with self.unit_of_work() as work:
                change = Change(commitment, _last_position(self.save(commitment)))
                if on_saved is not None:
                    on_saved(work, change)
        except IntegrityError:
            raise DuplicateCode(f"a commitment with code {code} is already registered") from None
        return change

    def revise_details(
        self,
        ref: str,
        *,
        actor: str,
        changes: dict[str, Any],
        reason: str,
        **write: Unpack[WriteOptions],
    ) -> Change:
        return self._update(
            ref,
            lambda c: c.revise_details(actor=actor, changes=changes, reason=reason),
            **write,
        )

    def log_progress(
        self,
        ref: str,
        *,
        actor: str,
        percent: int,
        as_of: date,
        note: str,
        confidence: int | None = None,
        evidence: list[Evidence] | None = None,
        **write: Unpack[WriteOptions],
    ) -> Change:
        return self._update(
            ref,
            lambda c: c.log_progress(
                actor=actor,
                percent=percent,
                as_of=as_of,
                note=note,
                confidence=confidence,
                evidence=evidence or [],
            ),
            **write,
        )

    def change_status(
        self,
        ref: str,
        *,
        actor: str,
        status: Status | str,
        reason: str,
        as_of: date | None = None,
        superseded_by: str | None = None,
        **write: Unpack[WriteOptions],
    ) -> Change:
        if superseded_by is not None:
            successor = self._resolve(superseded_by)
            if successor not in self.repository:
                raise NotFound(f"superseded_by names no registered commitment: {superseded_by}")
            superseded_by = self.repository.get(successor).code
        return self._update(
            ref,
            lambda c: c.change_status(
                actor=actor, status=status, reason=reason, as_of=as_of, superseded_by=superseded_by
            ),
            **write,
        )

    def rate_health(
        self,
        ref: str,
        *,
        actor: str,
        rating: Health | str,
        rationale: str,
        as_of: date | None = None,
        **write: Unpack[WriteOptions],
    ) -> Change:
        return self._update(
            ref,
            lambda c: c.rate_health(actor=actor, rating=rating, rationale=rationale, as_of=as_of),
            **write,
        )

    def add_milestone(
        self,
        ref: str,
        *,
        actor: str,
        title: str,
        due_date: date,
        **write: Unpack[WriteOptions],
    ) -> Change:
        return self._update(
            ref,
            lambda c: c.add_milestone(actor=actor, title=title, due_date=due_date),
            **write,
        )

    def reschedule_milestone(
        self,
        ref: str,
        milestone_id: str,
        *,
        actor: str,
        due_date: date,
        reason: str,
        **write: Unpack[WriteOptions],
    ) -> Change:
        return self._update(
            ref,
            lambda c: c.reschedule_milestone(
                actor=actor, milestone_id=milestone_id, due_date=due_date, reason=reason
            ),
            **write,
        )

    def retitle_milestone(
        self,
        ref: str,
        milestone_id: str,
        *,
        actor: str,
        title: str,
        **write: Unpack[WriteOptions],
    ) -> Change:
        return self._update(
            ref,
            lambda c: c.retitle_milestone(actor=actor, milestone_id=milestone_id, title=title),
            **write,
        )

    def complete_milestone(
        self,
        ref: str,
        milestone_id: str,
        *,
        actor: str,
        completed_on: date,
        note: str | None = None,
        **write: Unpack[WriteOptions],
    ) -> Change:
        return self._update(
            ref,
            lambda c: c.complete_milestone(
                actor=actor, milestone_id=milestone_id, completed_on=completed_on, note=note
            ),
            **write,
        )

    def define_indicator(
        self,
        ref: str,
        *,
        actor: str,
        name: str,
        unit: str,
        baseline: Decimal | int | float | str,
        target: Decimal | int | float | str,
        **write: Unpack[WriteOptions],
    ) -> Change:
        return self._update(
            ref,
            lambda c: c.define_indicator(
                actor=actor, name=name, unit=unit, baseline=baseline, target=target
            ),
            **write,
        )

    def record_measurement(
        self,
        ref: str,
        indicator_id: str,
        *,
        actor: str,
        value: Decimal | int | float | str,
        as_of: date,
        note: str | None = None,
        **write: Unpack[WriteOptions],
    ) -> Change:
        return self._update(
            ref,
            lambda c: c.record_measurement(
                actor=actor, indicator_id=indicator_id, value=value, as_of=as_of, note=note
            ),
            **write,
        )

    def attach_evidence(
        self,
        ref: str,
        *,
        actor: str,
        evidence: Evidence,
        **write: Unpack[WriteOptions],
    ) -> Change:
        return self._update(
            ref, lambda c: c.attach_evidence(actor=actor, evidence=evidence), **write
        )

    def apply_script(
        self, ref: str, script: Callable[[Commitment], Any], **write: Unpack[WriteOptions]
    ) -> Change:
        """Run several commands on one commitment and save their events atomically."""
        return self._update(ref, script, **write)

    # ---- report schedules -----------------------------------------------------

    def define_schedule(
        self,
        *,
        actor: str,
        name: str,
        cron: str,
        formats: list[str],
        timezone: str = "UTC",
        period_days: int = 30,
    ) -> tuple[ReportSchedule, int]:
        """Define a schedule, or redefine (and reactivate) the one with this name.
        Returns it with the log position of the change."""
        try:
            schedule: ReportSchedule = self.repository.get(schedule_id(name))
        except AggregateNotFoundError:
            schedule = ReportSchedule.define(
                actor=actor,
                name=name,
                cron=cron,
                formats=formats,
                timezone=timezone,
                period_days=period_days,
            )
        else:
            schedule.redefine(
                actor=actor, cron=cron, formats=formats, timezone=timezone, period_days=period_days
            )
        return schedule, self._save_schedule(schedule)

    def remove_schedule(self, name: str, *, actor: str) -> tuple[ReportSchedule, int]:
        try:
            schedule: ReportSchedule = self.repository.get(schedule_id(name))
        except AggregateNotFoundError:
            raise NotFound(f"no schedule named {name!r}") from None
        schedule.remove(actor=actor)
        return schedule, self._save_schedule(schedule)

    def _save_schedule(self, schedule: ReportSchedule) -> int:
        try:
            return _last_position(self.save(schedule))
        except IntegrityError:
            raise StateConflict(
                f"schedule {schedule.name} was changed concurrently; try again"
            ) from None

    # ---- reads ----------------------------------------------------------------

    def get(self, ref: str) -> Commitment:
        """The current state, from the event store (always up to date)."""
        return self._load(self._resolve(ref), ref)

    def state(
        self,
        ref: str,
        *,
        version: int | None = None,
        as_of: date | None = None,
        known_at: datetime | None = None,
    ) -> Commitment:
        """The commitment as it was: at a `version`; or as recorded by `known_at`
        (recorded time) and/or as true on `as_of` (effective date)."""
        if version is not None and (as_of is not None or known_at is not None):
            raise InvalidValue("give either version, or as_of and/or known_at, not both")
        aggregate_id = self._resolve(ref)
        if version is not None:
            if version < 1:
                raise InvalidValue("version must be 1 or more")
            current = self._load(aggregate_id, ref)
            if version > current.version:
                raise NotFound(
                    f"{ref} has no version {version}; it is at version {current.version}"
                )
            return _commitment(self.repository.get(aggregate_id, version=version), ref)
        if as_of is None and known_at is None:
            return self._load(aggregate_id, ref)
        if known_at is not None and known_at.tzinfo is None:
            known_at = known_at.replace(tzinfo=UTC)  # Recorded times are kept in UTC.
        events = self.events_of(ref)
        commitment = replay(events, as_of=as_of, known_at=known_at)
        if commitment is None:
            if aggregate_id in self.repository:
                raise NotFound(f"{ref} was not yet registered at {known_at}")
            raise NotFound(f"no commitment {ref}")
        return commitment

    def events_of(self, ref: str) -> list[Commitment.Event]:
        """The commitment's events, oldest first."""
        aggregate_id = self._resolve(ref)
        events = list(self.events.get(aggregate_id))
        if not events or not isinstance(events[0], Commitment.Event):
            raise NotFound(f"no commitment {ref}")
        return events  # type: ignore[return-value]

    def exists(self, ref: str) -> bool:
        return self._resolve(ref) in self.repository

    # ---- internals ------------------------------------------------------------

    def _resolve(self, ref: str) -> UUID:
        """A commitment's UUID from its UUID or its code."""
        try:
            return UUID(ref)
        except ValueError:
            pass
        try:
            return commitment_id(ref)
        except InvalidValue:
            raise NotFound(f"no commitment {ref!r}: give its code or its UUID") from None

    def _load(self, aggregate_id: UUID, ref: str | None = None) -> Commitment:
        try:
            found: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"no commitment {ref or aggregate_id}") from None
        return _commitment(found, ref or str(aggregate_id))

    def _update(
        self,
        ref: str,
        command: Callable[[Commitment], Any],
        expected_version: int | None = None,
        on_saved: SavedHook | None = None,
    ) -> Change:
        """Load, run the command, save. A save that loses a race with another writer
        is retried on the new state (with jittered back-off), unless the caller asked
        for a precise version: then the race is the caller's VersionMismatch."""
        aggregate_id = self._resolve(ref)
        retrying = Retrying(
            retry=retry_if_exception_type(_LostRace),
            stop=stop_after_attempt(MAX_ATTEMPTS),
            wait=wait_random_exponential(multiplier=0.005, max=0.25),
            reraise=True,
        )
        try:
            with self._write_lock(aggregate_id):
                change: Change = retrying(
                    self._attempt, ref, aggregate_id, command, expected_version, on_saved
                )
        except _LostRace:
            raise StateConflict(f"{ref} is being changed by others right now; try again") from None
        return change

    def _attempt(
        self,
        ref: str,
        aggregate_id: UUID,
        command: Callable[[Commitment], Any],
        expected_version: int | None,
        on_saved: SavedHook | None,
    ) -> Change:
        try:
            with self.unit_of_work() as work:
                commitment = self._load(aggregate_id, ref)
                if expected_version is not None and commitment.version != expected_version:
                    raise VersionMismatch(expected_version, commitment.version)
                before = commitment.version
                result = command(commitment)
                change = Change(commitment, _last_position(self.save(commitment)), result)
                if on_saved is not None:
                    on_saved(work, change)
        except IntegrityError:
            # Someone else saved this commitment first; the loaded object is spent.
            if expected_version is not None:
                raise VersionMismatch(expected_version, self._load(aggregate_id).version) from None
            raise _LostRace from None
        self._snapshot_if_due(commitment, before)
        return change

    def _write_lock(self, aggregate_id: UUID) -> Lock:
        """One writer per commitment inside this process, so threads do not race."""
        with self._write_locks_guard:
            return self._write_locks.setdefault(aggregate_id, Lock())

    def _snapshot_if_due(self, commitment: Commitment, version_before: int) -> None:
        if commitment.version // SNAPSHOT_INTERVAL > version_before // SNAPSHOT_INTERVAL:
            assert self.snapshots is not None
            # Another process may have stored the snapshot of this version already.
            with suppress(IntegrityError):
                self.snapshots.put([Commitment.Snapshot.take(commitment)])


def _commitment(found: object, ref: str) -> Commitment:
    """Ids are shared with other aggregates (report schedules): only a commitment will do."""
    if not isinstance(found, Commitment):
        raise NotFound(f"no commitment {ref}")
    return found


class _LostRace(Exception):
    """Another writer saved the same commitment between our load and our save."""


def _last_position(recordings: list[Recording[UUID]]) -> int:
    return max(r.notification.id for r in recordings)
