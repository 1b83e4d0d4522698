"""Every write, as a command object: its parameters are declared here once.

The REST API builds its request schemas from these classes (api/schemas.py), the seeds
and the CLI construct them, and the Tracker runs them. The `Annotated` bounds are wire
limits (what a request may carry); the rules themselves are checked by the aggregates,
which every entry point shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final
from uuid import UUID

from annotated_types import Ge, Le, MaxLen

from domain.access import Role
from domain.errors import InvalidValue
from domain.vocabulary import MAX_TEXT, MAX_TITLE, Evidence, Health, Pillar, Source, Status

if TYPE_CHECKING:
    from domain.access import Principal
    from domain.commitment import Commitment

Title = Annotated[str, MaxLen(MAX_TITLE)]
Text = Annotated[str, MaxLen(MAX_TEXT)]
Code = Annotated[str, MaxLen(64)]
Percent = Annotated[int, Ge(0), Le(100)]
Confidence = Annotated[int, Ge(0), Le(10)]
PeriodDays = Annotated[int, Ge(1), Le(366)]
# The language a text is written in (domain/translations.py TEXT_LANGUAGES; checked by
# the aggregate, so any other string is a 422).
Language = Annotated[str, MaxLen(2)]


def doc(text: str) -> dict[str, str]:
    """Field metadata: the description shown in the API documentation."""
    return {"doc": text}


# The documentation of the optional `language` field of a command that carries text.
WRITTEN_IN: Final = doc("en, fr or es: the language the text is written in")


class Unchanged(Enum):
    """A revision leaves a field it does not name as it is (distinct from null)."""

    UNCHANGED = "unchanged"


UNCHANGED: Final = Unchanged.UNCHANGED


@dataclass(frozen=True, kw_only=True)
class PlannedMilestone:
    title: Title
    due_date: date
    language: Language | None = field(
        default=None, metadata=doc("en, fr or es; by default the commitment's language")
    )


@dataclass(frozen=True, kw_only=True)
class RegisterCommitment:
    """Register a commitment (with its planned milestones, in one save)."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "code": "CMAP-PROS-RAIL",
        "title": "Long-term rail infrastructure and corridors",
        "pillar": "prosperity",
        "sectors": ["railways", "trade"],
        "parties": ["CA", "MX"],
        "lead_party": "joint",
        "start_date": "2025-09-18",
        "source": {"title": "Canada-Mexico Action Plan 2025-2028"},
    }

    code: Code = field(metadata=doc("e.g. CMAP-PROS-RAIL; the id derives from it"))
    title: Title
    description: Text = ""
    pillar: Pillar
    sectors: Annotated[tuple[str, ...], MaxLen(30)]
    parties: Annotated[tuple[str, ...], MaxLen(20)]
    lead_party: Annotated[str, MaxLen(10)] = field(metadata=doc("one of the parties, or 'joint'"))
    agencies: Mapping[str, tuple[Title, ...]] = field(default_factory=dict)
    start_date: date | None = None
    target_date: date | None = None
    source: Source | None = None
    milestones: Annotated[tuple[PlannedMilestone, ...], MaxLen(100)] = ()
    language: Language = field(default="en", metadata=WRITTEN_IN)


class CommitmentCommand:
    """A command on one existing commitment. `apply` runs it on the aggregate as `actor`
    (recorded in its events) on behalf of `by` (whose role and party some rules read), and
    returns the id of what it created (milestone, indicator), if anything."""

    EXAMPLE: ClassVar[dict[str, Any]]
    # Fields that name their target in the URL path, not in the request body.
    PATH: ClassVar[tuple[str, ...]] = ()

    def apply(self, commitment: Commitment, actor: str, by: Principal) -> str | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Together(CommitmentCommand):
    """Several commands on one commitment, saved together: all of them or none (seeds)."""

    commands: tuple[CommitmentCommand, ...]

    def apply(self, commitment: Commitment, actor: str, by: Principal) -> str | None:
        if not self.commands:
            raise InvalidValue("give at least one command to run together")
        result = None
        for command in self.commands:
            result = command.apply(commitment, actor, by)
        return result


@dataclass(frozen=True, kw_only=True)
class ReviseDetails(CommitmentCommand):
    """Revise title, description, target date, agencies or sectors, with a reason.
    Only the fields given change; `target_date: null` clears the target date."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"target_date": "2027-12-31", "reason": "re-planned"}
    REVISABLE: ClassVar[tuple[str, ...]] = (
        "title",
        "description",
        "target_date",
        "agencies",
        "sectors",
    )

    reason: Text
    title: Title | Unchanged = UNCHANGED
    description: Text | Unchanged = UNCHANGED
    target_date: date | Unchanged | None = UNCHANGED
    agencies: Mapping[str, tuple[Title, ...]] | Unchanged = UNCHANGED
    sectors: Annotated[tuple[str, ...], MaxLen(30)] | Unchanged = UNCHANGED
    language: Language = field(
        default="en",
        metadata=doc("en, fr or es: the language a new title or description is written in"),
    )

    def changes(self) -> dict[str, Any]:
        """The fields this revision names, with their new values."""
        return {
            name: getattr(self, name)
            for name in self.REVISABLE
            if getattr(self, name) is not UNCHANGED
        }

    def apply(self, commitment: Commitment, actor: str, by: Principal) -> str | None:
        commitment.revise_details(self, actor=actor, by=by)
        return None


ItemId = Annotated[str, MaxLen(12)]
# Texts by milestone or indicator id (the body limit of 64 KiB bounds how many).
TextsById = Mapping[ItemId, Title]


@dataclass(frozen=True, kw_only=True)
class TranslateText(CommitmentCommand):
    """Record translations of the commitment's text into one language (en, fr or es; not
    the language a text is written in): any of its title, description, milestone titles
    and indicator names (by id). A text given replaces its earlier translation; texts left out stay
    as they are. Translating a text again after the original changed is how a
    translation is brought up to date (a revised original drops its translations)."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "title": "Infrastructures et corridors ferroviaires à long terme",
        "milestones": {"m1": "Étude des corridors convenue"},
    }
    PATH: ClassVar[tuple[str, ...]] = ("language",)

    # In the URL path (checked by the aggregate, so any string there is a 422, not a 500).
    language: str = field(metadata=doc("en, fr or es"))
    title: Title | None = None
    description: Text | None = None
    milestones: TextsById = field(
        default_factory=dict, metadata=doc("milestone titles by milestone id, e.g. m1")
    )
    indicators: TextsById = field(
        default_factory=dict, metadata=doc("indicator names by indicator id, e.g. i1")
    )

    def apply(self, commitment: Commitment, actor: str, by: Principal) -> str | None:
        commitment.translate(self, actor=actor)
        return None


@dataclass(frozen=True, kw_only=True)
class LogProgress(CommitmentCommand):
    """Log progress: a whole percent as of a date, with a note."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "percent": 40,
        "as_of": "2026-03-31",
        "note": "Study half done",
        "confidence": 7,
    }

    percent: Percent
    as_of: date = field(metadata=doc("The date the figure refers to (effective date)"))
    note: Text
    confidence: Confidence | None = None
    evidence: Annotated[tuple[Evidence, ...], MaxLen(50)] = ()

    def apply(self, commitment: Commitment, actor: str, by: Principal) -> str | None:
        commitment.log_progress(self, actor=actor)
        return None


@dataclass(frozen=True, kw_only=True)
class ChangeStatus(CommitmentCommand):
    """Change the assessed status, with a reason. Closing (completed, cancelled,
    superseded) a commitment of several parties by an editor is a proposal that another
    party confirms (ConfirmClosure) or rejects (RejectClosure)."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"status": "stalled", "reason": "Funding paused"}

    status: Status
    reason: Text
    superseded_by: Code | None = field(
        default=None, metadata=doc("code of the successor, for status superseded")
    )
    as_of: date | None = field(default=None, metadata=doc("Effective date; default today"))
    partial: bool = field(
        default=False,
        metadata=doc(
            "for status completed: achieved only in part; headlines then count its last "
            "logged percent instead of 100"
        ),
    )

    def apply(self, commitment: Commitment, actor: str, by: Principal) -> str | None:
        commitment.change_status(self, actor=actor, by=by)
        return None


@dataclass(frozen=True, kw_only=True)
class ConfirmClosure(CommitmentCommand):
    """Confirm the closure another party proposed (an admin may confirm any): the status
    changes as proposed."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"note": "Agreed at the joint review"}

    note: Text | None = None

    def apply(self, commitment: Commitment, actor: str, by: Principal) -> str | None:
        commitment.confirm_closure(self, actor=actor, by=by)
        return None


@dataclass(frozen=True, kw_only=True)
class RejectClosure(CommitmentCommand):
    """Reject the pending closure proposal, with a reason (the proposing party withdraws it
    the same way); the status stays."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"reason": "The final report is not yet published"}

    reason: Text

    def apply(self, commitment: Commitment, actor: str, by: Principal) -> str | None:
        commitment.reject_closure(self, actor=actor, by=by)
        return None


@dataclass(frozen=True, kw_only=True)
class RateHealth(CommitmentCommand):
    """Rate delivery confidence, with a rationale."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"rating": "amber", "rationale": "Slipping"}

    rating: Health
    rationale: Text
    as_of: date | None = field(default=None, metadata=doc("Effective date; default today"))

    def apply(self, commitment: Commitment, actor: str, by: Principal) -> str | None:
        commitment.rate_health(self, actor=actor)
        return None


@dataclass(frozen=True, kw_only=True)
class AddMilestone(CommitmentCommand):
    """Add a milestone."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"title": "Corridor study agreed", "due_date": "2026-12-31"}

    title: Title
    due_date: date
    language: Language = field(default="en", metadata=WRITTEN_IN)

    def apply(self, commitment: Commitment, actor: str, by: Principal) -> str | None:
        return commitment.add_milestone(self, actor=actor)


@dataclass(frozen=True, kw_only=True)
class ChangeMilestone(CommitmentCommand):
    """Reschedule (a new `due_date` with a `reason`) and/or rename (`title`) a milestone."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "due_date": "2027-03-31",
        "reason": "Data collection took longer",
    }
    PATH: ClassVar[tuple[str, ...]] = ("milestone_id",)

    milestone_id: str
    due_date: date | None = None
    reason: Text | None = None
    title: Title | None = None
    language: Language = field(
        default="en", metadata=doc("en, fr or es: the language a new title is written in")
    )

    def apply(self, commitment: Commitment, actor: str, by: Principal) -> str | None:
        commitment.change_milestone(self, actor=actor)
        return self.milestone_id


@dataclass(frozen=True, kw_only=True)
class CompleteMilestone(CommitmentCommand):
    """Complete a milestone."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"completed_on": "2026-10-01", "note": "Signed in Ottawa"}
    PATH: ClassVar[tuple[str, ...]] = ("milestone_id",)

    milestone_id: str
    completed_on: date
    note: Text | None = None

    def apply(self, commitment: Commitment, actor: str, by: Principal) -> str | None:
        commitment.complete_milestone(self, actor=actor)
        return self.milestone_id


@dataclass(frozen=True, kw_only=True)
class DefineIndicator(CommitmentCommand):
    """Define an indicator: name, unit, baseline and target."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "name": "Cross-border rail freight",
        "unit": "carloads/week",
        "baseline": 100,
        "target": 150,
    }

    name: Title
    unit: Annotated[str, MaxLen(60)]
    baseline: Decimal
    target: Decimal
    language: Language = field(default="en", metadata=WRITTEN_IN)

    def apply(self, commitment: Commitment, actor: str, by: Principal) -> str | None:
        return commitment.define_indicator(self, actor=actor)


@dataclass(frozen=True, kw_only=True)
class RecordMeasurement(CommitmentCommand):
    """Record a measurement of an indicator."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"value": 112, "as_of": "2026-06-30", "note": "Q2 average"}
    PATH: ClassVar[tuple[str, ...]] = ("indicator_id",)

    indicator_id: str
    value: Decimal
    as_of: date
    note: Text | None = None

    def apply(self, commitment: Commitment, actor: str, by: Principal) -> str | None:
        commitment.record_measurement(self, actor=actor)
        return self.indicator_id


@dataclass(frozen=True, kw_only=True)
class AttachEvidence(CommitmentCommand, Evidence):
    """Attach a public document as evidence."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "url": "https://example.org/report",
        "title": "Joint statement",
        "publisher": "GAC",
        "published_on": "2026-02-20",
    }

    def evidence(self) -> Evidence:
        return Evidence(
            url=self.url, title=self.title, publisher=self.publisher, published_on=self.published_on
        )

    def apply(self, commitment: Commitment, actor: str, by: Principal) -> str | None:
        commitment.attach_evidence(self, actor=actor)
        return None


# ---- report schedules -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DefineSchedule:
    """Define a report schedule (or redefine, and reactivate, the one with that name)."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "name": "monthly",
        "cron": "0 6 1 * *",
        "formats": ["html", "xlsx"],
        "timezone": "America/Mexico_City",
    }

    name: Annotated[str, MaxLen(63)] = field(metadata=doc("lower-case letters, digits, '-', '_'"))
    cron: Annotated[str, MaxLen(100)] = field(
        metadata=doc("5 fields: minute hour day month weekday (0 and 7 are Sunday)")
    )
    formats: Annotated[tuple[str, ...], MaxLen(5)] = field(
        metadata=doc("json, csv, md, html, xlsx")
    )
    timezone: Annotated[str, MaxLen(64)] = "UTC"
    period_days: PeriodDays = 30
    language: Annotated[str, MaxLen(2)] = field(
        default="en", metadata=doc("en, fr or es: the language its reports are written in")
    )


@dataclass(frozen=True, kw_only=True)
class RemoveSchedule:
    """Remove a report schedule (its history stays in the log)."""

    name: Annotated[str, MaxLen(63)]


ScheduleCommand = DefineSchedule | RemoveSchedule


# ---- API tokens ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class IssueToken:
    """Issue an API token (admins only). The server makes its secret, shows it once and
    keeps only a hash: neither is part of the command or of its event."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "name": "ana.ca",
        "role": "editor",
        "party": "CA",
        "expires_at": "2027-01-01T00:00:00Z",
    }
    name: Annotated[str, MaxLen(64)] = field(
        metadata=doc(
            "unique whatever its case; letters, digits, '.', '_', '-', '@'; recorded in "
            "every event the token causes"
        )
    )
    role: Role
    party: Annotated[str, MaxLen(2)] | None = field(
        default=None, metadata=doc("the party an editor writes for (editors need one)")
    )
    expires_at: datetime | None = field(
        default=None, metadata=doc("when it stops working (UTC if no offset); null: never")
    )


@dataclass(frozen=True, kw_only=True)
class EarlierToken:
    """A token issued before issuing was recorded in the log (before 0.6.0), as its row
    describes it: recorded when it is first changed."""

    name: str
    role: Role
    party: str | None
    issued_at: datetime
    expires_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class RevokeToken:
    """Revoke an API token at once (admins only). It stays listed, and its name taken."""

    token_id: UUID
    reason: Annotated[str, MaxLen(MAX_TITLE)] = ""
    earlier: EarlierToken | None = None


TokenCommand = IssueToken | RevokeToken
Command = RegisterCommitment | CommitmentCommand | ScheduleCommand | TokenCommand
