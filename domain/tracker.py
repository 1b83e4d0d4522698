"""The Tracker application: the use cases, and the time-travel queries over commitments.

Each write use case is load -> command -> save, as in the eventsourcing library's own
examples. What makes a write durable (the transaction, retrying a lost race, the
Idempotency-Key) is the unit of work's job (adapters/unit_of_work.py), which calls
`execute`; in memory (tests) the use cases run on their own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording

from domain import clock, time_travel
from domain.access import Principal
from domain.commands import (
    ChangeStatus,
    Command,
    CommitmentCommand,
    DefineSchedule,
    IssueToken,
    RegisterCommitment,
    RemoveSchedule,
    RevokeToken,
    Together,
)
from domain.commitment import Commitment, commitment_id, replay
from domain.errors import DuplicateCode, InvalidValue, NotFound, check_version
from domain.schedule import ReportSchedule, schedule_id
from domain.time_travel import Timeline
from domain.tokens import ApiToken
from domain.transcodings import register_all

# Every SNAPSHOT_INTERVAL versions the state is snapshotted, so a long-lived commitment
# (and any past version of it) loads from a snapshot plus about that many events (at
# most twice as many), even when one write recorded many more (Tracker.snapshots_due).
SNAPSHOT_INTERVAL = 100


@dataclass(frozen=True)
class Change:
    """What a write produced: the aggregate after it, the log position of its last event,
    how many events it recorded, what the command created (a milestone id, ...), and
    the events themselves."""

    aggregate: Any
    position: int
    events: int
    result: str | None = None
    recorded: tuple[Any, ...] = ()

    @property
    def commitment(self) -> Commitment:
        assert isinstance(self.aggregate, Commitment)
        return self.aggregate


class Tracker(Application[UUID]):
    """Use cases of the commitments tracker. Table names derive from `name`: keep it."""

    name = "Tracker"
    is_snapshotting_enabled = True
    # The index of each commitment's events that time travel reads (None: replay).
    timeline: Timeline | None = None
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "1000"}

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_all(transcoder)

    # ---- writes ---------------------------------------------------------------

    def execute(
        self,
        principal: Principal,
        command: Command,
        *,
        ref: str | None = None,
        expected_version: int | None = None,
    ) -> Change:
        """Run one write command as `principal`: the entry point of every write. With
        `expected_version` (HTTP If-Match), any other current version is a mismatch (a
        commitment or schedule that does not exist yet has none)."""
        if isinstance(command, RegisterCommitment):
            check_version(expected_version, 0)
            return self.register(principal, command)
        if isinstance(command, DefineSchedule):
            return self.define_schedule(principal, command, expected_version=expected_version)
        if isinstance(command, RemoveSchedule):
            return self.remove_schedule(principal, command, expected_version=expected_version)
        if isinstance(command, IssueToken):
            return self.issue_token(principal, command, expected_version=expected_version)
        if isinstance(command, RevokeToken):
            return self.revoke_token(principal, command, expected_version=expected_version)
        if ref is None:
            raise InvalidValue("a command on a commitment needs the commitment's code or id")
        return self.update(principal, ref, command, expected_version=expected_version)

    def register(self, principal: Principal, command: RegisterCommitment) -> Change:
        """Register a commitment, with its planned milestones, in one atomic save."""
        principal.require_write(command.parties)
        commitment = Commitment.register(command, actor=principal.actor, by=principal)
        duplicate = DuplicateCode(f"a commitment with code {command.code} is already registered")
        if self._load_for_write(commitment.id) is not None:
            raise duplicate
        try:
            return self._save(commitment)
        except IntegrityError:
            raise duplicate from None  # registered at the same moment elsewhere

    def update(
        self,
        principal: Principal,
        ref: str,
        command: CommitmentCommand,
        *,
        expected_version: int | None = None,
    ) -> Change:
        """Run a command on a commitment the principal may write to."""
        commitment = self._commitment(self._load_for_write(self._resolve(ref)), ref)
        principal.require_write(commitment.parties)
        check_version(expected_version, commitment.version)
        result = self._resolved(command).apply(commitment, principal.actor, principal)
        return self._save(commitment, result)

    def define_schedule(
        self, principal: Principal, command: DefineSchedule, *, expected_version: int | None = None
    ) -> Change:
        """Define a schedule, or redefine (and reactivate) the one with this name."""
        principal.require_admin()
        found = self._load_for_write(schedule_id(command.name))
        check_version(expected_version, found.version if found else 0, "schedule")
        if found is None:
            return self._save(ReportSchedule.define(command, actor=principal.actor))
        schedule = self._schedule(found, command.name)
        schedule.redefine(command, actor=principal.actor)
        return self._save(schedule)

    def remove_schedule(
        self, principal: Principal, command: RemoveSchedule, *, expected_version: int | None = None
    ) -> Change:
        principal.require_admin()
        schedule = self._schedule(self._load_for_write(schedule_id(command.name)), command.name)
        check_version(expected_version, schedule.version, "schedule")
        schedule.remove(actor=principal.actor)
        return self._save(schedule)

    def issue_token(
        self, principal: Principal, command: IssueToken, *, expected_version: int | None = None
    ) -> Change:
        """Record a token's issue. Its name must also be free: the token store checks
        that, in the same transaction (adapters/tokens.py)."""
        principal.require_admin()
        check_version(expected_version, 0, "token")
        return self._save(ApiToken.issue(command, actor=principal.actor))

    def revoke_token(
        self, principal: Principal, command: RevokeToken, *, expected_version: int | None = None
    ) -> Change:
        """Record a token's revocation; a token issued before issuing was recorded is
        recorded first, from what `command.earlier` says of it."""
        principal.require_admin()
        found = self._load_for_write(command.token_id)
        if found is None and command.earlier is not None:
            check_version(expected_version, 0, "token")
            token = ApiToken.recorded_late(command.token_id, command.earlier, actor=principal.actor)
        else:
            token = self._token(found, command.token_id)
            check_version(expected_version, token.version, "token")
        token.revoke(command, actor=principal.actor)
        return self._save(token)

    def target_of(self, command: Command, ref: str | None) -> UUID | None:
        """The aggregate a command writes to (None for a new commitment)."""
        if isinstance(command, DefineSchedule | RemoveSchedule):
            return schedule_id(command.name)
        if isinstance(command, RevokeToken):
            return command.token_id
        return None if ref is None else self._resolve(ref)

    def _load_for_write(self, aggregate_id: UUID) -> Aggregate | None:
        """The current aggregate to run a command on, or None. The SQL store overrides this
        to read its cache of committed aggregates (a stale one fails to save: the version
        is taken, and the unit of work retries on a fresh load)."""
        try:
            found: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found

    def _save(self, aggregate: Aggregate, result: str | None = None) -> Change:
        """Put the aggregate's new events in the event store. (What Application.save
        does for us, without its runtime protocol checks: every write passes here.)"""
        recordings = self.events.put(aggregate.collect_events())
        recorded = tuple(r.domain_event for r in recordings)
        return Change(aggregate, _last_position(recordings), len(recordings), result, recorded)

    def _resolved(self, command: CommitmentCommand) -> CommitmentCommand:
        """The command with `superseded_by` (a code or an id) checked against the
        registered commitments and written as the successor's code."""
        if isinstance(command, Together):
            return Together(tuple(self._resolved(c) for c in command.commands))
        if isinstance(command, ChangeStatus) and command.superseded_by is not None:
            return dataclasses.replace(
                command, superseded_by=self._successor(command.superseded_by)
            )
        return command

    def _successor(self, ref: str) -> str:
        """The code of the commitment named by `superseded_by` (a code or an id)."""
        try:
            return self.get(ref).code
        except NotFound:
            # The commitment written to exists; the body names one that does not (422).
            raise InvalidValue(f"superseded_by names no registered commitment: {ref}") from None

    # ---- reads ----------------------------------------------------------------

    def version_of(self, aggregate_id: UUID, version: int) -> Aggregate:
        """A commitment or schedule as one of its writes left it."""
        found: Aggregate = self.repository.get(aggregate_id, version=version)
        return found

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
        (recorded time) and/or as true on `as_of` (effective date): what `replay` gives,
        found from the timeline when there is one (domain/time_travel.py)."""
        if version is not None and (as_of is not None or known_at is not None):
            raise InvalidValue("give either version, or as_of and/or known_at, not both")
        aggregate_id = self._resolve(ref)
        if version is not None:
            if version < 1:
                raise InvalidValue("version must be 1 or more")
            found = self._commitment(self._at_version(aggregate_id, version, ref), ref)
            if found.version < version:
                raise NotFound(f"{ref} has no version {version}; it is at version {found.version}")
            return found
        if as_of is None and known_at is None:
            return self._load(aggregate_id, ref)
        if known_at is not None:
            known_at = clock.as_utc(known_at)
        if self.timeline is None:
            commitment = replay(self.events_of(ref), as_of=as_of, known_at=known_at)
        else:
            commitment = self._travel(aggregate_id, ref, as_of, known_at)
        if commitment is None:
            if aggregate_id in self.repository:
                raise NotFound(f"{ref} was not yet registered at {known_at}")
            raise NotFound(f"no commitment {ref}")
        return commitment

    def _travel(
        self, aggregate_id: UUID, ref: str, as_of: date | None, known_at: datetime | None
    ) -> Commitment | None:
        """What `replay` gives, from the timeline, a past version and the few events
        applied after it (domain/time_travel.py)."""
        assert self.timeline is not None
        cuts = self.timeline.cuts(aggregate_id, known_at=known_at, as_of=as_of)
        last = cuts.last
        indexed = 0 if last is None else last.version
        caught_up = cuts.logged is not None and cuts.logged <= indexed
        unindexed = [] if caught_up else self._events_between(aggregate_id, indexed)
        if last is None and unindexed and not isinstance(unindexed[0], Commitment.Event):
            raise NotFound(f"no commitment {ref}")
        found = time_travel.plan(
            self.timeline,
            aggregate_id,
            cuts,
            unindexed,  # type: ignore[arg-type]
            as_of=as_of,
            known_at=known_at,
        )
        if found.known == 0:
            return None
        commitment = self._commitment(self._at_version(aggregate_id, found.base, ref), ref)
        later = list(self._events_at(aggregate_id, found.versions)) + list(found.events)
        for event in later:
            commitment.version = event.originator_version - 1  # the skipped ones count
            event.mutate(commitment)
        commitment.version = found.known
        return commitment

    def _at_version(self, aggregate_id: UUID, version: int, ref: str) -> Aggregate:
        """The aggregate at `version` (or at its last version, if it has fewer): the
        latest snapshot up to there and the events after it. The SQL store reads them
        leaner (adapters/event_store.py)."""
        try:
            found: Aggregate = self.repository.get(
                aggregate_id, version=version, projector_func=fold
            )
        except AggregateNotFoundError:
            raise NotFound(f"no commitment {ref}") from None
        return found

    def _events_between(
        self, aggregate_id: UUID, after: int, up_to: int | None = None
    ) -> list[Aggregate.Event]:
        """The aggregate's events of the versions in (after, up_to], oldest first."""
        return list(self.events.get(aggregate_id, gt=after, lte=up_to))  # type: ignore[arg-type]

    def _events_at(self, aggregate_id: UUID, versions: Sequence[int]) -> list[Aggregate.Event]:
        """The aggregate's events of these versions, oldest first."""
        if not versions:
            return []
        wanted = set(versions)
        between = self._events_between(aggregate_id, min(versions) - 1, max(versions))
        return [e for e in between if e.originator_version in wanted]

    def events_of(self, ref: str) -> list[Commitment.Event]:
        """The commitment's events, oldest first."""
        aggregate_id = self._resolve(ref)
        events = list(self.events.get(aggregate_id))
        if not events or not isinstance(events[0], Commitment.Event):
            raise NotFound(f"no commitment {ref}")
        return events  # type: ignore[return-value]

    def exists(self, ref: str) -> bool:
        """Is a commitment registered under this code or id?"""
        try:
            self.get(ref)
        except NotFound:
            return False
        return True

    def snapshots_due(self, change: Change) -> list[Any]:
        """The snapshots to store with this change: of its last version, if it passed a
        multiple of SNAPSHOT_INTERVAL, and of the multiples it passed an interval or
        more before its last (a write of many events), so that no version is two
        intervals past a snapshot. Those are folded from the stored state before the
        change and the change's events; they are left out if the store does not hold
        that state yet (an earlier write of the same transaction, not yet flushed)."""
        if not snapshot_due(change):
            return []
        aggregate = change.aggregate
        last = type(aggregate).Snapshot.take(aggregate)
        start = aggregate.version - change.events
        first = (start // SNAPSHOT_INTERVAL + 1) * SNAPSHOT_INTERVAL
        passed = set(range(first, aggregate.version - SNAPSHOT_INTERVAL + 1, SNAPSHOT_INTERVAL))
        if not passed or len(change.recorded) != change.events:
            return [last]
        state: Any = None
        if start > 0:
            try:
                state = self._at_version(aggregate.id, start, str(aggregate.id))
            except NotFound:
                return [last]
            if state.version != start:
                return [last]
        taken = []
        for event in change.recorded:
            state = event.mutate(state)
            if state.version in passed:
                taken.append(type(state).Snapshot.take(state))
        return [*taken, last]

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
        return self._commitment(found, ref or str(aggregate_id))

    @staticmethod
    def _commitment(found: object, ref: str) -> Commitment:
        """Ids are shared with other aggregates (report schedules): only a commitment will do."""
        if not isinstance(found, Commitment):
            raise NotFound(f"no commitment {ref}")
        return found

    @staticmethod
    def _schedule(found: object, name: str) -> ReportSchedule:
        if not isinstance(found, ReportSchedule):
            raise NotFound(f"no schedule named {name!r}")
        return found

    @staticmethod
    def _token(found: object, token_id: UUID) -> ApiToken:
        if not isinstance(found, ApiToken):
            raise NotFound(f"no token with id {token_id.hex}")
        return found


def _last_position(recordings: list[Recording[UUID]]) -> int:
    return max(r.notification.id for r in recordings)


def fold(aggregate: Any, events: Iterable[Any]) -> Any:
    """Mutate the aggregate by each event in turn: the library's projector without its
    runtime protocol check of every event, which cost more than decoding it."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def snapshot_due(change: Change) -> bool:
    """Did this change pass a multiple of SNAPSHOT_INTERVAL versions?"""
    version = change.aggregate.version
    return bool(version // SNAPSHOT_INTERVAL > (version - change.events) // SNAPSHOT_INTERVAL)
