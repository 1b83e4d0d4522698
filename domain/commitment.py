"""The Commitment aggregate: one bilateral commitment and everything learned about it.

Each command method checks its rule and then triggers one event. Event class names and
this module's path are stored in the event log as topics: never rename them; evolve an
event with `class_version` and an `upcast_vN_vN+1` method instead.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain import clock, commands
from domain.access import Principal, Role
from domain.errors import Forbidden, InvalidValue, NotFound, StateConflict
from domain.translations import (
    DESCRIPTION,
    ORIGINAL_LANGUAGE,
    TITLE,
    check_text_language,
    check_translation_language,
    indicator_path,
    milestone_path,
)
from domain.vocabulary import (
    ALLOWED_TRANSITIONS,
    MAX_TITLE,
    Evidence,
    Health,
    Pillar,
    Source,
    Status,
    check_agencies,
    check_code,
    check_date,
    check_decimal,
    check_evidence,
    check_lead_party,
    check_parties,
    check_past_date,
    check_sectors,
    check_source,
    check_text,
    parse_enum,
    url_key,
)

# Ids are derived from codes, so the same code always names the same commitment.
COMMITMENT_NAMESPACE = uuid5(NAMESPACE_URL, "urn:commitments-tracker:commitment")

MilestoneStatus = Literal["planned", "completed", "missed"]


def is_past(since: date | None, today: date) -> bool:
    """A derived state that starts on `since` (None: never) holds on `today`."""
    return since is not None and since <= today


@lru_cache(maxsize=4096)
def commitment_id(code: str) -> UUID:
    return uuid5(COMMITMENT_NAMESPACE, check_code(code))


@dataclass
class Milestone:
    id: str
    title: str
    due_date: date
    original_due_date: date
    completed_on: date | None = None
    completion_note: str | None = None
    times_rescheduled: int = 0

    def missed_since(self) -> date | None:
        """Derived, never stored: a milestone not completed is missed from the day after
        its due date (the one definition of 'missed')."""
        return None if self.completed_on is not None else self.due_date + timedelta(days=1)

    def status(self, today: date) -> MilestoneStatus:
        """completed, missed or planned, judged on `today`."""
        if self.completed_on is not None:
            return "completed"
        return "missed" if is_past(self.missed_since(), today) else "planned"


@dataclass
class Indicator:
    id: str
    name: str
    unit: str
    baseline: Decimal
    target: Decimal
    latest_value: Decimal | None = None
    latest_as_of: date | None = None
    measurements: int = 0


@dataclass(frozen=True)
class PendingClosure:
    """A closing status change (completed, cancelled, superseded) proposed by an editor of
    one party of a commitment of several, awaiting an editor of another party (or an admin)
    to confirm or reject it. `version` is the commitment's version the proposal made."""

    status: Status
    reason: str
    as_of: date
    superseded_by: str | None
    proposed_by: str
    proposed_by_party: str
    proposed_at: datetime
    version: int
    # A completion that achieved only part of the commitment (see StatusChanged.partial).
    partial: bool = False


def _check_percent(percent: int) -> int:
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        raise InvalidValue(f"percent must be a whole number from 0 to 100; got {percent!r}")
    return percent


def _check_confidence(confidence: int | None) -> int | None:
    if confidence is None:
        return None
    if isinstance(confidence, bool) or not isinstance(confidence, int) or not 0 <= confidence <= 10:
        raise InvalidValue(f"confidence must be a whole number from 0 to 10; got {confidence!r}")
    return confidence


class Commitment(Aggregate):
    """A commitment of the Action Plan, with its assessed status, health and progress."""

    class Event(Aggregate.Event):
        actor: str

        @staticmethod
        def create_timestamp() -> datetime:
            return clock.now()

        def effective_on(self) -> date | None:
            """The date the fact refers to; None for facts about the plan itself
            (registration, revisions, milestone and indicator definitions), which
            hold whatever `as_of` date is asked for."""
            return None

    class Registered(Aggregate.Created, Event):
        """`language` (version 2 on): the language the title and description are written
        in; every commitment registered before was written in English."""

        class_version = 2

        code: str
        title: str
        description: str
        pillar: Pillar
        sectors: list[str]
        parties: list[str]
        lead_party: str
        agencies: dict[str, list[str]]
        start_date: date | None
        target_date: date | None
        source: Source | None
        language: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["language"] = ORIGINAL_LANGUAGE

        def apply(self, aggregate: Commitment) -> None:
            aggregate.written_in({TITLE, DESCRIPTION}, self.language)
            aggregate.code = self.code
            aggregate.title = self.title
            aggregate.description = self.description
            aggregate.pillar = self.pillar
            aggregate.sectors = list(self.sectors)
            aggregate.parties = list(self.parties)
            aggregate.lead_party = self.lead_party
            aggregate.agencies = {k: list(v) for k, v in self.agencies.items()}
            aggregate.start_date = self.start_date
            aggregate.target_date = self.target_date
            aggregate.source = self.source

    class DetailsRevised(Event):
        """`language` (version 2 on): the language a revised title or description is
        written in (English before)."""

        class_version = 2

        changes: dict[str, Any]
        reason: str
        language: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["language"] = ORIGINAL_LANGUAGE

        def apply(self, aggregate: Commitment) -> None:
            for name, value in self.changes.items():
                setattr(aggregate, name, value)
            aggregate.written_in({TITLE, DESCRIPTION} & set(self.changes), self.language)
            # A translation is of the text as it stood: a revised one is untranslated.
            aggregate.drop_translations({TITLE, DESCRIPTION} & set(self.changes))

    class ProgressLogged(Event):
        percent: int
        as_of: date
        note: str
        confidence: int | None
        evidence: list[Evidence]

        def effective_on(self) -> date | None:
            return self.as_of

        def apply(self, aggregate: Commitment) -> None:
            # Progress is the latest logged percent by effective date; a late report
            # about an earlier date is kept in the history but does not replace it.
            if aggregate.progress_as_of is None or self.as_of >= aggregate.progress_as_of:
                aggregate.progress = self.percent
                aggregate.progress_as_of = self.as_of
                aggregate.confidence = self.confidence
            aggregate.evidence.extend(self.evidence)

    class StatusChanged(Event):
        """`partial` (version 2 on): a move to completed that achieved only part of the
        commitment; it then counts its last logged percent in headlines, not 100."""

        class_version = 2

        status: Status
        reason: str
        as_of: date
        superseded_by: str | None
        partial: bool

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["partial"] = False  # before version 2 every completion was in full

        def effective_on(self) -> date | None:
            return self.as_of

        def apply(self, aggregate: Commitment) -> None:
            aggregate.status = self.status
            aggregate.status_reason = self.reason
            aggregate.status_as_of = self.as_of
            aggregate.superseded_by = self.superseded_by
            aggregate.completion_partial = self.status is Status.COMPLETED and self.partial

    class ClosureProposed(Event):
        """An editor of one party of a commitment of several proposed to close it; the
        status changes only when another party confirms (ClosureConfirmed)."""

        class_version = 2

        status: Status
        reason: str
        as_of: date
        superseded_by: str | None
        party: str
        partial: bool

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["partial"] = False

        def effective_on(self) -> date | None:
            # A proposed status change, dated like the change it proposes.
            return self.as_of

        def apply(self, aggregate: Commitment) -> None:
            aggregate.pending_closure = PendingClosure(
                status=self.status,
                reason=self.reason,
                as_of=self.as_of,
                superseded_by=self.superseded_by,
                proposed_by=self.actor,
                proposed_by_party=self.party,
                proposed_at=self.timestamp,
                version=self.originator_version,
                partial=self.partial,
            )

    class ClosureConfirmed(Event):
        """A closure decided: a pending proposal confirmed by another party's editor, or by
        an admin (`alone`: no editor of a second party agreed; with no proposer, the admin
        closed it directly). A StatusChanged follows in the same write."""

        status: Status
        party: str | None
        alone: bool
        proposed_by: str | None
        proposed_by_party: str | None
        note: str | None

        def apply(self, aggregate: Commitment) -> None:
            aggregate.pending_closure = None

    class ClosureRejected(Event):
        """A pending closure proposal rejected (or withdrawn by its own party), with a reason;
        the status stays as it is."""

        status: Status
        reason: str
        party: str | None
        proposed_by: str
        proposed_by_party: str

        def apply(self, aggregate: Commitment) -> None:
            aggregate.pending_closure = None

    class HealthRated(Event):
        rating: Health
        rationale: str
        as_of: date

        def effective_on(self) -> date | None:
            return self.as_of

        def apply(self, aggregate: Commitment) -> None:
            if aggregate.health_as_of is None or self.as_of >= aggregate.health_as_of:
                aggregate.health = self.rating
                aggregate.health_rationale = self.rationale
                aggregate.health_as_of = self.as_of

    class MilestoneAdded(Event):
        """`language` (version 2 on): the language of its title (English before)."""

        class_version = 2

        milestone_id: str
        title: str
        due_date: date
        language: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["language"] = ORIGINAL_LANGUAGE

        def apply(self, aggregate: Commitment) -> None:
            aggregate.written_in({milestone_path(self.milestone_id)}, self.language)
            aggregate.milestones[self.milestone_id] = Milestone(
                id=self.milestone_id,
                title=self.title,
                due_date=self.due_date,
                original_due_date=self.due_date,
            )

    class MilestoneRescheduled(Event):
        milestone_id: str
        due_date: date
        reason: str

        def apply(self, aggregate: Commitment) -> None:
            milestone = aggregate.milestones[self.milestone_id]
            milestone.due_date = self.due_date
            milestone.times_rescheduled += 1

    class MilestoneRetitled(Event):
        """`language` (version 2 on): the language of the new title (English before)."""

        class_version = 2

        milestone_id: str
        title: str
        language: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["language"] = ORIGINAL_LANGUAGE

        def apply(self, aggregate: Commitment) -> None:
            aggregate.written_in({milestone_path(self.milestone_id)}, self.language)
            aggregate.milestones[self.milestone_id].title = self.title
            aggregate.drop_translations({milestone_path(self.milestone_id)})

    class MilestoneCompleted(Event):
        milestone_id: str
        completed_on: date
        note: str | None

        def effective_on(self) -> date | None:
            return self.completed_on

        def apply(self, aggregate: Commitment) -> None:
            milestone = aggregate.milestones[self.milestone_id]
            milestone.completed_on = self.completed_on
            milestone.completion_note = self.note

    class IndicatorDefined(Event):
        """`language` (version 2 on): the language of its name (English before)."""

        class_version = 2

        indicator_id: str
        name: str
        unit: str
        baseline: Decimal
        target: Decimal
        language: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["language"] = ORIGINAL_LANGUAGE

        def apply(self, aggregate: Commitment) -> None:
            aggregate.written_in({indicator_path(self.indicator_id)}, self.language)
            aggregate.indicators[self.indicator_id] = Indicator(
                id=self.indicator_id,
                name=self.name,
                unit=self.unit,
                baseline=self.baseline,
                target=self.target,
            )

    class IndicatorMeasured(Event):
        indicator_id: str
        value: Decimal
        as_of: date
        note: str | None

        def effective_on(self) -> date | None:
            return self.as_of

        def apply(self, aggregate: Commitment) -> None:
            indicator = aggregate.indicators[self.indicator_id]
            indicator.measurements += 1
            if indicator.latest_as_of is None or self.as_of >= indicator.latest_as_of:
                indicator.latest_value = self.value
                indicator.latest_as_of = self.as_of

    class EvidenceAttached(Event):
        evidence: Evidence

        def effective_on(self) -> date | None:
            return self.evidence.published_on

        def apply(self, aggregate: Commitment) -> None:
            aggregate.evidence.append(self.evidence)

    class TextTranslated(Event):
        """Translations of the commitment's text into one `language` (not its original):
        any of its title, description, milestone titles (by id) and indicator names (by
        id). A text given replaces an earlier translation of it; others stay."""

        language: str
        title: str | None
        description: str | None
        milestones: dict[str, str]
        indicators: dict[str, str]

        def apply(self, aggregate: Commitment) -> None:
            texts = dict(aggregate.translations.get(self.language, {}))
            for path, text in self.texts().items():
                texts[path] = text
            # Replaced, never changed in place (the class default is shared).
            aggregate.translations = {**aggregate.translations, self.language: texts}

        def texts(self) -> dict[str, str]:
            """The texts this event translates, by path (domain/translations.py)."""
            found = {TITLE: self.title, DESCRIPTION: self.description}
            texts = {path: text for path, text in found.items() if text is not None}
            texts |= {milestone_path(k): v for k, v in self.milestones.items()}
            texts |= {indicator_path(k): v for k, v in self.indicators.items()}
            return texts

    def __init__(self) -> None:
        # Only defaults here; Registered.apply sets the rest.
        self.status = Status.NOT_STARTED
        self.status_reason: str | None = None
        self.status_as_of: date | None = None
        self.superseded_by: str | None = None
        self.health: Health | None = None
        self.health_rationale: str | None = None
        self.health_as_of: date | None = None
        self.progress: int | None = None
        self.progress_as_of: date | None = None
        self.confidence: int | None = None
        self.milestones: dict[str, Milestone] = {}
        self.indicators: dict[str, Indicator] = {}
        self.evidence: list[Evidence] = []
        self.pending_closure = None
        self.translations: dict[str, dict[str, str]] = {}
        self.text_languages: dict[str, str] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> Commitment:
        """Every write runs on a copy (adapters/event_store.py), so copying is quick: the
        containers are copied and the immutable values in them shared. A test checks that
        no mutable attribute is left shared."""
        clone = copy.copy(self)
        clone.sectors = list(self.sectors)
        clone.parties = list(self.parties)
        clone.agencies = {party: list(names) for party, names in self.agencies.items()}
        clone.milestones = {k: copy.copy(m) for k, m in self.milestones.items()}
        clone.indicators = {k: copy.copy(i) for k, i in self.indicators.items()}
        clone.evidence = list(self.evidence)
        clone.translations = {language: dict(t) for language, t in self.translations.items()}
        clone.text_languages = dict(self.text_languages)
        clone._pending_events = list(self._pending_events)
        return clone

    # Attributes set by Registered.apply (declared for type checkers).
    code: str
    title: str
    description: str
    pillar: Pillar
    sectors: list[str]
    parties: list[str]
    lead_party: str
    agencies: dict[str, list[str]]
    start_date: date | None
    target_date: date | None
    source: Source | None
    # None when no closure is proposed. A class default too: snapshots taken before
    # closures could be proposed do not carry the attribute.
    pending_closure: PendingClosure | None = None
    # Completed in part only (StatusChanged.partial); a class default for older snapshots.
    completion_partial: bool = False

    # ---- commands -------------------------------------------------------------

    @classmethod
    def register(
        cls, command: commands.RegisterCommitment, *, actor: str, by: Principal
    ) -> Commitment:
        parties = check_parties(command.parties)
        agencies = check_agencies(command.agencies, parties)
        _require_agency_scope(by, {}, agencies)
        start_date, target_date = command.start_date, command.target_date
        if start_date is not None:
            check_date(start_date, "start_date")
        if target_date is not None:
            check_date(target_date, "target_date")
        if start_date and target_date and target_date < start_date:
            raise InvalidValue("target_date must not be before start_date")
        titles = [planned.title.strip().casefold() for planned in command.milestones]
        if len(set(titles)) != len(titles):
            raise InvalidValue("milestones must have different titles")
        commitment = cls._create(
            cls.Registered,
            id=commitment_id(command.code),
            actor=_check_actor(actor),
            code=command.code,
            title=check_text(command.title, "title", required=True, limit=MAX_TITLE),
            description=check_text(command.description, "description", required=False),
            pillar=parse_enum(Pillar, command.pillar, "pillar"),
            sectors=check_sectors(command.sectors),
            parties=parties,
            lead_party=check_lead_party(command.lead_party, parties),
            agencies=agencies,
            start_date=start_date,
            target_date=target_date,
            source=check_source(command.source) if command.source is not None else None,
            language=check_text_language(command.language),
        )
        for planned in command.milestones:
            commitment._add_milestone(
                planned.title, planned.due_date, actor, planned.language or command.language
            )
        return commitment

    def revise_details(self, command: commands.ReviseDetails, *, actor: str, by: Principal) -> None:
        self._require_open("revising details")
        checked: dict[str, Any] = {}
        for name, value in command.changes().items():
            if name == "title":
                value = check_text(value, "title", required=True, limit=MAX_TITLE)
            elif name == "description":
                value = check_text(value, "description", required=False)
            elif name == "target_date":
                if value is not None:
                    check_date(value, "target_date")
                    if self.start_date and value < self.start_date:
                        raise InvalidValue("target_date must not be before start_date")
            elif name == "agencies":
                value = check_agencies(value, self.parties)
                _require_agency_scope(by, self.agencies, value)
            elif name == "sectors":
                value = check_sectors(value)
            if getattr(self, name) != value:
                checked[name] = value
        language = check_text_language(command.language)
        for name in (TITLE, DESCRIPTION):
            # The same words in another language are a new text (a corrected language).
            if name in command.changes() and self.text_language(name) != language:
                checked[name] = getattr(self, name) if name not in checked else checked[name]
        if not checked:
            raise InvalidValue("the revision changes nothing")
        self.trigger_event(
            self.DetailsRevised,
            actor=_check_actor(actor),
            changes=checked,
            reason=check_text(command.reason, "reason", required=True),
            language=language,
        )

    def translate(self, command: commands.TranslateText, *, actor: str) -> None:
        """Record translations of any of the commitment's texts into one language. Its
        status does not matter: a closed commitment is still read in both countries."""
        language = check_translation_language(command.language)
        current = self.translations.get(language, {})
        paths = [TITLE] if command.title is not None else []
        paths += [DESCRIPTION] if command.description is not None else []
        paths += [milestone_path(k) for k in command.milestones if k in self.milestones]
        paths += [indicator_path(k) for k in command.indicators if k in self.indicators]
        for path in paths:
            check_translation_language(language, self.text_language(path), path)
        given: dict[str, str] = {}
        if command.title is not None:
            given[TITLE] = check_text(command.title, "title", required=True, limit=MAX_TITLE)
        if command.description is not None:
            if not self.description:
                raise InvalidValue(f"commitment {self.code} has no description to translate")
            given[DESCRIPTION] = check_text(command.description, "description", required=True)
        milestones: dict[str, str] = {}
        for milestone_id, title in command.milestones.items():
            if milestone_id not in self.milestones:
                raise InvalidValue(f"commitment {self.code} has no milestone {milestone_id!r}")
            milestones[milestone_id] = check_text(
                title, f"milestones.{milestone_id}", required=True, limit=MAX_TITLE
            )
        indicators: dict[str, str] = {}
        for indicator_id, name in command.indicators.items():
            if indicator_id not in self.indicators:
                raise InvalidValue(f"commitment {self.code} has no indicator {indicator_id!r}")
            indicators[indicator_id] = check_text(
                name, f"indicators.{indicator_id}", required=True, limit=MAX_TITLE
            )
        if not (given or milestones or indicators):
            raise InvalidValue(
                "give at least one text to translate: title, description, milestones or indicators"
            )
        # Only what changes is recorded; a translation the same as before is no news.
        given = {path: text for path, text in given.items() if current.get(path) != text}
        milestones = {k: v for k, v in milestones.items() if current.get(milestone_path(k)) != v}
        indicators = {k: v for k, v in indicators.items() if current.get(indicator_path(k)) != v}
        if not (given or milestones or indicators):
            raise InvalidValue(f"the translation into {language} changes nothing")
        self.trigger_event(
            self.TextTranslated,
            actor=_check_actor(actor),
            language=language,
            title=given.get(TITLE),
            description=given.get(DESCRIPTION),
            milestones=milestones,
            indicators=indicators,
        )

    def text_language(self, path: str) -> str:
        """The language the text at `path` (domain/translations.py) is written in."""
        return self.text_languages.get(path, ORIGINAL_LANGUAGE)

    def written_in(self, paths: set[str], language: str) -> None:
        """Note the language of texts just written (an event's apply calls this); only
        those not in English are kept, so the map stays small."""
        if not paths or (language == ORIGINAL_LANGUAGE and not paths & set(self.text_languages)):
            return
        languages = {p: lang for p, lang in self.text_languages.items() if p not in paths}
        if language != ORIGINAL_LANGUAGE:
            languages |= dict.fromkeys(paths, language)
        self.text_languages = languages  # replaced, never changed in place

    def drop_translations(self, paths: set[str]) -> None:
        """Forget the translations of texts that changed (an event's apply calls this)."""
        if not paths or not self.translations:
            return
        self.translations = {
            language: {p: t for p, t in texts.items() if p not in paths}
            for language, texts in self.translations.items()
        }

    def log_progress(self, command: commands.LogProgress, *, actor: str) -> None:
        self._require_open("logging progress")
        today = _today()
        evidence = [check_evidence(e, today) for e in command.evidence]
        urls = [e.url for e in evidence]
        if len({url_key(u) for u in urls}) != len(urls):
            raise InvalidValue("the same evidence url is given twice")
        for url in urls:
            self._require_new_evidence(url)
        as_of = self._since_start(check_past_date(command.as_of, "as_of", today), "as_of")
        self.trigger_event(
            self.ProgressLogged,
            actor=_check_actor(actor),
            percent=_check_percent(command.percent),
            as_of=as_of,
            note=check_text(command.note, "note", required=True),
            confidence=_check_confidence(command.confidence),
            evidence=evidence,
        )
        if self.status is Status.NOT_STARTED:
            # Progress on a not_started commitment moves it to in_progress.
            self.trigger_event(
                self.StatusChanged,
                actor=actor,
                status=Status.IN_PROGRESS,
                reason="progress logged",
                as_of=max(as_of, self.status_as_of or as_of),
                superseded_by=None,
                partial=False,
            )

    def change_status(self, command: commands.ChangeStatus, *, actor: str, by: Principal) -> None:
        """`superseded_by` must already name a registered commitment (the Tracker checks).

        Closing (completed, cancelled, superseded) a commitment of several parties takes
        two of them: an editor's change is a proposal (ClosureProposed) until an editor of
        another party confirms it (`confirm_closure`). An admin closes alone, and the
        ClosureConfirmed before the StatusChanged says so."""
        new = parse_enum(Status, command.status, "status")
        if new.is_terminal:
            self._require_no_pending_closure()
        superseded_by, effective = self._check_status_change(
            new, command.superseded_by, command.as_of
        )
        partial = bool(command.partial)
        if partial and new is not Status.COMPLETED:
            raise InvalidValue("partial is only for status completed")
        actor = _check_actor(actor)
        reason = check_text(command.reason, "reason", required=True)
        if new.is_terminal and len(self.parties) > 1:
            if by.role is not Role.ADMIN:
                self.trigger_event(
                    self.ClosureProposed,
                    actor=actor,
                    status=new,
                    reason=reason,
                    as_of=effective,
                    superseded_by=superseded_by,
                    party=_party_of(by),
                    partial=partial,
                )
                return
            self.trigger_event(
                self.ClosureConfirmed,
                actor=actor,
                status=new,
                party=by.party,
                alone=True,
                proposed_by=None,
                proposed_by_party=None,
                note=None,
            )
        self.trigger_event(
            self.StatusChanged,
            actor=actor,
            status=new,
            reason=reason,
            as_of=effective,
            superseded_by=superseded_by,
            partial=partial,
        )

    def _check_status_change(
        self, new: Status, superseded_by: str | None, as_of: date | None
    ) -> tuple[str | None, date]:
        """The rules of a status change: an allowed transition, `superseded_by` for (and
        only for) superseded, effective dates in order. The successor and the date."""
        if new is self.status:
            raise StateConflict(f"commitment {self.code} is already {new.value}")
        if new not in ALLOWED_TRANSITIONS[self.status]:
            allowed = ", ".join(sorted(s.value for s in ALLOWED_TRANSITIONS[self.status]))
            raise StateConflict(
                f"cannot change status from {self.status.value} to {new.value}; allowed: {allowed}"
            )
        if new is Status.SUPERSEDED:
            if not superseded_by:
                raise InvalidValue("superseded_by must name the commitment that replaces this one")
            if check_code(superseded_by) == self.code:
                raise InvalidValue("a commitment cannot supersede itself")
        elif superseded_by is not None:
            raise InvalidValue("superseded_by is only for status superseded")
        today = _today()
        effective = self._since_start(check_past_date(as_of or today, "as_of", today), "as_of")
        if self.status_as_of is not None and effective < self.status_as_of:
            raise InvalidValue(
                f"as_of {effective.isoformat()} is before the current status's date "
                f"{self.status_as_of.isoformat()}; status changes follow each other in time"
            )
        return superseded_by, effective

    def confirm_closure(
        self, command: commands.ConfirmClosure, *, actor: str, by: Principal
    ) -> None:
        """An editor of another party than the proposer's (or an admin) confirms the
        pending closure: ClosureConfirmed, then the StatusChanged it proposed."""
        pending = self._pending_closure("confirm")
        admin = by.role is Role.ADMIN
        if not admin and by.party == pending.proposed_by_party:
            others = ", ".join(p for p in self.parties if p != pending.proposed_by_party)
            raise Forbidden(
                f"the closure of {self.code} was proposed by party {pending.proposed_by_party}: "
                f"an editor of another party ({others}) must confirm it"
            )
        try:
            superseded_by, effective = self._check_status_change(
                pending.status, pending.superseded_by, pending.as_of
            )
        except (InvalidValue, StateConflict) as error:
            raise StateConflict(
                f"the proposed closure of {self.code} no longer fits its state "
                f"({error.message}): reject it, then propose again"
            ) from None
        actor = _check_actor(actor)
        self.trigger_event(
            self.ClosureConfirmed,
            actor=actor,
            status=pending.status,
            party=by.party,
            alone=admin,
            proposed_by=pending.proposed_by,
            proposed_by_party=pending.proposed_by_party,
            note=check_text(command.note, "note", required=False) or None,
        )
        self.trigger_event(
            self.StatusChanged,
            actor=actor,
            status=pending.status,
            reason=pending.reason,
            as_of=effective,
            superseded_by=superseded_by,
            partial=pending.partial,
        )

    def reject_closure(self, command: commands.RejectClosure, *, actor: str, by: Principal) -> None:
        """Reject the pending closure, with a reason (an editor of the proposing party
        withdraws it the same way); the status stays."""
        pending = self._pending_closure("reject")
        self.trigger_event(
            self.ClosureRejected,
            actor=_check_actor(actor),
            status=pending.status,
            reason=check_text(command.reason, "reason", required=True),
            party=by.party,
            proposed_by=pending.proposed_by,
            proposed_by_party=pending.proposed_by_party,
        )

    def rate_health(self, command: commands.RateHealth, *, actor: str) -> None:
        self._require_open("rating health")
        today = _today()
        self.trigger_event(
            self.HealthRated,
            actor=_check_actor(actor),
            rating=parse_enum(Health, command.rating, "rating"),
            rationale=check_text(command.rationale, "rationale", required=True),
            as_of=self._since_start(
                check_past_date(command.as_of or today, "as_of", today), "as_of"
            ),
        )

    def add_milestone(self, command: commands.AddMilestone, *, actor: str) -> str:
        self._require_open("adding milestones")
        self._due_since_start(check_date(command.due_date, "due_date"))
        return self._add_milestone(command.title, command.due_date, actor, command.language)

    def _add_milestone(self, title: str, due_date: date, actor: str, language: str) -> str:
        title = check_text(title, "title", required=True, limit=MAX_TITLE)
        self._require_unique_milestone_title(title)
        milestone_id = f"m{len(self.milestones) + 1}"
        self.trigger_event(
            self.MilestoneAdded,
            actor=_check_actor(actor),
            milestone_id=milestone_id,
            title=title,
            due_date=check_date(due_date, "due_date"),
            language=check_text_language(language),
        )
        return milestone_id

    def change_milestone(self, command: commands.ChangeMilestone, *, actor: str) -> None:
        """Reschedule (a new due date needs a reason) and/or rename, in that order."""
        if command.due_date is None and command.title is None:
            raise InvalidValue("give a new due_date (with a reason) and/or a new title")
        if command.due_date is not None and not (command.reason or "").strip():
            raise InvalidValue("rescheduling a milestone needs a reason")
        self._require_open("changing milestones")
        milestone = self.milestone(command.milestone_id)
        if command.due_date is not None:
            self._reschedule(milestone, command.due_date, command.reason, actor)
        if command.title is not None:
            self._retitle(milestone, command.title, actor, command.language)

    def _reschedule(
        self, milestone: Milestone, due_date: date, reason: str | None, actor: str
    ) -> None:
        if milestone.completed_on is not None:
            raise StateConflict(f"milestone {milestone.id} is completed and cannot be rescheduled")
        self._due_since_start(check_date(due_date, "due_date"))
        if due_date == milestone.due_date:
            raise InvalidValue(f"milestone {milestone.id} is already due on {due_date.isoformat()}")
        self.trigger_event(
            self.MilestoneRescheduled,
            actor=_check_actor(actor),
            milestone_id=milestone.id,
            due_date=due_date,
            reason=check_text(reason, "reason", required=True),
        )

    def _retitle(self, milestone: Milestone, title: str, actor: str, language: str) -> None:
        title = check_text(title, "title", required=True, limit=MAX_TITLE)
        language = check_text_language(language)
        same_language = self.text_language(milestone_path(milestone.id)) == language
        if title == milestone.title and same_language:
            raise InvalidValue(f"milestone {milestone.id} already has that title")
        if title.casefold() != milestone.title.casefold():
            self._require_unique_milestone_title(title)
        self.trigger_event(
            self.MilestoneRetitled,
            actor=_check_actor(actor),
            milestone_id=milestone.id,
            title=title,
            language=language,
        )

    def complete_milestone(self, command: commands.CompleteMilestone, *, actor: str) -> None:
        self._require_open("completing milestones")
        milestone = self.milestone(command.milestone_id)
        if milestone.completed_on is not None:
            raise StateConflict(
                f"milestone {milestone.id} was already completed on "
                f"{milestone.completed_on.isoformat()}"
            )
        self.trigger_event(
            self.MilestoneCompleted,
            actor=_check_actor(actor),
            milestone_id=milestone.id,
            completed_on=self._since_start(
                check_past_date(command.completed_on, "completed_on", _today()), "completed_on"
            ),
            note=check_text(command.note, "note", required=False) or None,
        )

    def define_indicator(self, command: commands.DefineIndicator, *, actor: str) -> str:
        self._require_open("defining indicators")
        name = check_text(command.name, "name", required=True, limit=MAX_TITLE)
        if any(i.name.casefold() == name.casefold() for i in self.indicators.values()):
            raise StateConflict(f"commitment {self.code} already has an indicator named {name!r}")
        indicator_id = f"i{len(self.indicators) + 1}"
        self.trigger_event(
            self.IndicatorDefined,
            actor=_check_actor(actor),
            indicator_id=indicator_id,
            name=name,
            unit=check_text(command.unit, "unit", required=True, limit=60),
            baseline=check_decimal(command.baseline, "baseline"),
            target=check_decimal(command.target, "target"),
            language=check_text_language(command.language),
        )
        return indicator_id

    def record_measurement(self, command: commands.RecordMeasurement, *, actor: str) -> None:
        self._require_open("recording measurements")
        indicator = self.indicator(command.indicator_id)
        self.trigger_event(
            self.IndicatorMeasured,
            actor=_check_actor(actor),
            indicator_id=indicator.id,
            value=check_decimal(command.value, "value"),
            as_of=self._since_start(check_past_date(command.as_of, "as_of", _today()), "as_of"),
            note=check_text(command.note, "note", required=False) or None,
        )

    def attach_evidence(self, command: commands.AttachEvidence, *, actor: str) -> None:
        self._require_open("attaching evidence")
        evidence = check_evidence(command.evidence(), _today())
        self._require_new_evidence(evidence.url)
        self.trigger_event(self.EvidenceAttached, actor=_check_actor(actor), evidence=evidence)

    def _since_start(self, day: date, field: str) -> date:
        """An effective date of a fact about the commitment: not before it started. Rules
        check new commands only; events already in the log replay as they are. (Evidence
        may be older: a document published before the start can support a claim.)"""
        if self.start_date is not None and day < self.start_date:
            raise InvalidValue(
                f"{field} {day.isoformat()} is before {self.code}'s start date "
                f"{self.start_date.isoformat()}: nothing about it can take effect before it started"
            )
        return day

    def _due_since_start(self, due_date: date) -> None:
        """A milestone planned from now on falls due once the commitment has started."""
        if self.start_date is not None and due_date < self.start_date:
            raise InvalidValue(
                f"due_date {due_date.isoformat()} is before {self.code}'s start date "
                f"{self.start_date.isoformat()}: a milestone cannot fall due before it started"
            )

    # ---- queries --------------------------------------------------------------

    @property
    def counted_progress(self) -> int | None:
        """The percent that counts in headlines: 100 for a commitment completed in full,
        whatever its last figure; otherwise (a partial completion included) that figure."""
        if self.status is Status.COMPLETED and not self.completion_partial:
            return 100
        return self.progress

    def milestone(self, milestone_id: str) -> Milestone:
        try:
            return self.milestones[milestone_id]
        except KeyError:
            raise NotFound(f"commitment {self.code} has no milestone {milestone_id!r}") from None

    def milestone_by_title(self, title: str) -> Milestone | None:
        return next(
            (m for m in self.milestones.values() if m.title.casefold() == title.casefold()), None
        )

    def indicator(self, indicator_id: str) -> Indicator:
        try:
            return self.indicators[indicator_id]
        except KeyError:
            raise NotFound(f"commitment {self.code} has no indicator {indicator_id!r}") from None

    def indicator_by_name(self, name: str) -> Indicator | None:
        return next(
            (i for i in self.indicators.values() if i.name.casefold() == name.casefold()), None
        )

    def overdue_since(self) -> date | None:
        """Derived, never stored: a commitment not completed is overdue from the day after
        its target date (the one definition of 'overdue')."""
        if self.target_date is None or self.status is Status.COMPLETED:
            return None
        return self.target_date + timedelta(days=1)

    def is_overdue(self, today: date) -> bool:
        return is_past(self.overdue_since(), today)

    def next_milestone(self) -> Milestone | None:
        """The open milestone due first."""
        open_milestones = [m for m in self.milestones.values() if m.completed_on is None]
        # Ties go to the milestone added first (m2 before m10).
        return min(open_milestones, key=lambda m: (m.due_date, len(m.id), m.id), default=None)

    def _pending_closure(self, action: str) -> PendingClosure:
        if self.pending_closure is None:
            raise StateConflict(f"commitment {self.code} has no closure proposed to {action}")
        return self.pending_closure

    def _require_no_pending_closure(self) -> None:
        """One proposal at a time: while one is pending, nobody closes otherwise."""
        pending = self.pending_closure
        if pending is not None:
            raise StateConflict(
                f"a closure of {self.code} ({pending.status.value}) proposed by "
                f"{pending.proposed_by} of {pending.proposed_by_party} is pending: "
                "confirm or reject it first"
            )

    def _require_open(self, action: str) -> None:
        if self.status.is_terminal:
            raise StateConflict(
                f"commitment {self.code} is {self.status.value}: reopen it (status "
                f"in_progress, with a reason) before {action}"
            )

    def _require_new_evidence(self, url: str) -> None:
        # Compared as URLs: HTTPS://Example.org/x is https://example.org/x.
        if any(url_key(e.url) == url_key(url) for e in self.evidence):
            raise StateConflict(f"evidence {url} is already attached")

    def _require_unique_milestone_title(self, title: str) -> None:
        if self.milestone_by_title(title) is not None:
            raise StateConflict(f"commitment {self.code} already has a milestone titled {title!r}")


# Translated texts by language, then by path ("title", "milestones.m1"; see
# domain/translations.py). A class default for snapshots taken before translations were
# recorded (the aggregate is a dataclass, which takes no mutable default in its body); it
# is never changed in place: TextTranslated.apply and drop_translations replace it.
Commitment.translations = {}
# The language of each text not written in English, by path (the rest are in English):
# a class default for snapshots taken before languages were recorded; replaced, never
# changed in place (Commitment.written_in).
Commitment.text_languages = {}


def _party_of(by: Principal) -> str:
    if by.party is None:  # editors without a party write nothing (domain/access.py)
        raise Forbidden("an editor token without a party writes nothing")
    return by.party


def _require_agency_scope(
    by: Principal, before: dict[str, list[str]], after: dict[str, list[str]]
) -> None:
    """An editor changes only their own party's agencies; an admin anyone's."""
    if by.role is Role.ADMIN:
        return
    changed = sorted(
        party
        for party in set(before) | set(after)
        if party != by.party and before.get(party, []) != after.get(party, [])
    )
    if changed:
        raise Forbidden(
            f"an editor of {by.party} may change only the agencies of {by.party}, not those "
            f"of {', '.join(changed)}: leave theirs as they are (their editors or an admin "
            "may change them)"
        )


def _check_actor(actor: str) -> str:
    return check_text(actor, "actor", required=True, limit=MAX_TITLE)


def _today() -> date:
    return clock.now().date()


def replay(
    events: Iterable[Commitment.Event],
    *,
    as_of: date | None = None,
    known_at: datetime | None = None,
) -> Commitment | None:
    """Fold events into a commitment as it was.

    `known_at` keeps only the events recorded by then (what the system knew);
    `as_of` then leaves out facts whose effective date is later (what was true then).
    Facts about the plan itself have no effective date and always apply. The version
    is that of the last event known, so a skipped fact still counts in the version.
    """
    aggregate: Commitment | None = None
    for event in events:
        if known_at is not None and event.timestamp > known_at:
            break
        effective = event.effective_on()
        if aggregate is not None and as_of is not None and effective and effective > as_of:
            aggregate.version = event.originator_version
            continue
        aggregate = event.mutate(aggregate)
    return aggregate
