"""Pydantic models: the wire contract of CONTRACT section 4, as documented in /docs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from domain.vocabulary import Health, Pillar, Status

# Query bounds: positions are 64-bit, versions 32-bit in the stores.
MAX_POSITION = 2**62
MAX_VERSION = 2**31 - 1


class SourceOut(BaseModel):
    title: str
    url: str | None = None
    quote: str | None = None


class EvidenceOut(BaseModel):
    url: str
    title: str
    publisher: str | None = None
    published_on: date | None = None


class MilestoneOut(BaseModel):
    id: str = Field(examples=["m1"])
    title: str
    due_date: date
    original_due_date: date
    times_rescheduled: int
    status: str = Field(description="planned, completed or missed (derived)", examples=["planned"])
    completed_on: date | None = None
    completion_note: str | None = None


class MeasurementOut(BaseModel):
    value: float
    as_of: date


class IndicatorOut(BaseModel):
    id: str = Field(examples=["i1"])
    name: str
    unit: str
    baseline: float
    target: float
    latest: MeasurementOut | None = None
    measurements: int


class CommitmentOut(BaseModel):
    """A commitment as it is (or was, for time-travel queries)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "ab0bedc0-4ee2-5269-8b9d-eab3359f6db2",
                    "code": "CMAP-PROS-RAIL",
                    "version": 7,
                    "title": "Long-term rail infrastructure and corridors",
                    "pillar": "prosperity",
                    "status": "in_progress",
                    "health": "amber",
                    "progress": 40,
                }
            ]
        }
    )

    id: str
    code: str
    version: int
    title: str
    description: str
    pillar: str
    sectors: list[str]
    parties: list[str]
    lead_party: str
    agencies: dict[str, list[str]]
    start_date: date | None
    target_date: date | None
    status: str
    status_reason: str | None
    status_as_of: date | None
    superseded_by: str | None
    health: str | None
    health_rationale: str | None
    health_as_of: date | None
    progress: int | None
    progress_as_of: date | None
    confidence: int | None
    overdue: bool
    milestones: list[MilestoneOut]
    indicators: list[IndicatorOut]
    evidence: list[EvidenceOut]
    source: SourceOut | None
    registered_at: str
    updated_at: str


class HistoryEntry(BaseModel):
    position: int = Field(description="Position of the event in the global log")
    version: int
    type: str = Field(examples=["ProgressLogged"])
    recorded_at: str
    actor: str
    data: dict[str, Any]
    hash: str | None = Field(
        description="The event's hash-chain entry: sha256(previous entry || the stored event)"
    )


class ProblemOut(BaseModel):
    """RFC 9457 problem details; 422s also list `errors` by field."""

    type: str = Field(examples=["urn:commitments:problem:not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["no commitment CMAP-NOT-HERE"])
    errors: list[dict[str, str]] | None = Field(
        default=None, description="For 422: [{field, message}]"
    )


def problems(**described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses documented as application/problem+json (codes as `e404=...`)."""
    return {
        int(code.lstrip("e")): {
            "description": text,
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemOut"}}
            },
        }
        for code, text in described.items()
    }


_AUTH = {"e401": "No token, or an unknown or revoked one"}
READ_PROBLEMS = problems(**_AUTH, e422="Invalid query parameter")
PROBLEM_RESPONSES = problems(
    **_AUTH, e404="No such commitment (or version)", e422="Invalid query parameter"
)
ADMIN_PROBLEMS = problems(**_AUTH, e403="Not an admin token")
_WRITE = {
    "e400": "Malformed If-Match or Idempotency-Key header",
    "e403": "The token's role or party may not write to this commitment",
    "e409": "Conflicts with the commitment's state (duplicate code, invalid transition, ...)",
    "e413": "Body over 64 KiB",
    "e422": "Invalid body, a broken rule, or an Idempotency-Key reused with another body",
}
REGISTRATION_PROBLEMS = problems(**_AUTH, **_WRITE)
WRITE_PROBLEMS = problems(
    **_AUTH,
    **_WRITE,
    e404="No such commitment (or milestone, indicator)",
    e412="If-Match names another version than the current one",
)


def written(status: int, *, location: bool = False) -> dict[int | str, dict[str, Any]]:
    """The headers every write answers with, for the OpenAPI document."""
    headers: dict[str, Any] = {
        "ETag": {
            "description": 'The commitment\'s new version, e.g. "8"',
            "schema": {"type": "string"},
        },
        "X-Log-Position": {
            "description": "Position of the last event written (use as ?min_position=)",
            "schema": {"type": "integer"},
        },
        "Idempotent-Replayed": {
            "description": "`true` when this is the stored answer to an Idempotency-Key",
            "schema": {"type": "string"},
        },
    }
    if location:
        headers["Location"] = {
            "description": "URL of the new resource",
            "schema": {"type": "string"},
        }
    return {status: {"description": "Written", "headers": headers}}


# ---- request bodies --------------------------------------------------------------------


class _Body(BaseModel):
    """Unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class SourceIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"title": "Canada-Mexico Action Plan 2025-2028", "quote": "..."}]
        },
    )

    title: str = Field(max_length=400)
    url: str | None = Field(default=None, max_length=2000)
    quote: str | None = Field(default=None, max_length=2000)


class EvidenceIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://example.org/report",
                    "title": "Joint statement",
                    "publisher": "GAC",
                    "published_on": "2026-02-20",
                }
            ]
        },
    )

    url: str = Field(max_length=2000, examples=["https://www.international.gc.ca/..."])
    title: str = Field(max_length=200)
    publisher: str | None = Field(default=None, max_length=200)
    published_on: date | None = None


class CommitmentIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "CMAP-PROS-RAIL",
                    "title": "Long-term rail infrastructure and corridors",
                    "pillar": "prosperity",
                    "sectors": ["railways", "trade"],
                    "parties": ["CA", "MX"],
                    "lead_party": "joint",
                    "start_date": "2025-09-18",
                    "source": {"title": "Canada-Mexico Action Plan 2025-2028"},
                }
            ]
        },
    )

    code: str = Field(max_length=64, description="e.g. CMAP-PROS-RAIL; the id derives from it")
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=10_000)
    pillar: Pillar
    sectors: list[str] = Field(max_length=30)
    parties: list[str] = Field(max_length=20)
    lead_party: str = Field(max_length=10, description="one of the parties, or 'joint'")
    agencies: dict[str, list[str]] = Field(default_factory=dict)
    start_date: date | None = None
    target_date: date | None = None
    source: SourceIn | None = None


class CommitmentPatch(_Body):
    """Only the fields given change; `target_date: null` clears the target date."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"target_date": "2027-12-31", "reason": "re-planned"}]},
    )

    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    target_date: date | None = None
    agencies: dict[str, list[str]] | None = None
    sectors: list[str] | None = Field(default=None, max_length=30)
    reason: str = Field(max_length=10_000)


class ProgressIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"percent": 40, "as_of": "2026-03-31", "note": "Study half done", "confidence": 7}
            ]
        },
    )

    percent: StrictInt = Field(ge=0, le=100)
    as_of: date = Field(description="The date the figure refers to (effective date)")
    note: str = Field(max_length=10_000)
    confidence: StrictInt | None = Field(default=None, ge=0, le=10)
    evidence: list[EvidenceIn] = Field(default_factory=list, max_length=50)


class StatusIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"status": "stalled", "reason": "Funding paused"}]},
    )

    status: Status
    reason: str = Field(max_length=10_000)
    superseded_by: str | None = Field(default=None, description="code, for status superseded")
    as_of: date | None = Field(default=None, description="Effective date; default today")


class HealthIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"rating": "amber", "rationale": "Slipping"}]},
    )

    rating: Health
    rationale: str = Field(max_length=10_000)
    as_of: date | None = Field(default=None, description="Effective date; default today")


class MilestoneIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"title": "Corridor study agreed", "due_date": "2026-12-31"}]
        },
    )

    title: str = Field(max_length=200)
    due_date: date


class MilestonePatch(_Body):
    """Reschedule (`due_date` with a `reason`) and/or rename (`title`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"due_date": "2027-03-31", "reason": "Data collection took longer"}]
        },
    )

    due_date: date | None = None
    reason: str | None = Field(default=None, max_length=10_000)
    title: str | None = Field(default=None, max_length=200)


class MilestoneCompletion(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"completed_on": "2026-10-01", "note": "Signed in Ottawa"}]
        },
    )

    completed_on: date
    note: str | None = Field(default=None, max_length=10_000)


class IndicatorIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Cross-border rail freight",
                    "unit": "carloads/week",
                    "baseline": 100,
                    "target": 150,
                }
            ]
        },
    )

    name: str = Field(max_length=200)
    unit: str = Field(max_length=60)
    baseline: Decimal
    target: Decimal


class MeasurementIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"value": 112, "as_of": "2026-06-30", "note": "Q2 average"}]
        },
    )

    value: Decimal
    as_of: date
    note: str | None = Field(default=None, max_length=10_000)


# ---- list and feed ---------------------------------------------------------------------


class NextMilestoneOut(BaseModel):
    id: str
    title: str
    due_date: date


class CommitmentListItem(BaseModel):
    id: str
    code: str
    version: int
    title: str
    description: str
    pillar: str
    sectors: list[str]
    parties: list[str]
    lead_party: str
    start_date: date | None
    target_date: date | None
    status: str
    status_as_of: date | None
    health: str | None
    health_rationale: str | None
    health_as_of: date | None
    progress: int | None
    progress_as_of: date | None
    confidence: int | None
    overdue: bool
    next_milestone: NextMilestoneOut | None
    milestones_total: int
    milestones_completed: int
    milestones_missed: int
    indicators_total: int
    evidence_total: int
    registered_at: str
    updated_at: str


class CommitmentPage(BaseModel):
    items: list[CommitmentListItem]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end"
    )


class FeedEntry(HistoryEntry):
    commitment_id: str


class RebuildAccepted(BaseModel):
    status: str = Field(examples=["rebuilding"])
    position: int


class LedgerOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "events": 157,
                    "head_position": 157,
                    "chain_head": "3f1c...e9",
                    "verified": True,
                    "first_bad_position": None,
                    "problem": None,
                }
            ]
        }
    )

    events: int = Field(description="Events verified before the first mismatch (all when verified)")
    head_position: int = Field(description="Position of the last verified event")
    chain_head: str | None = Field(description="Chain entry of the last verified event")
    verified: bool
    first_bad_position: int | None
    problem: str | None = Field(description="What is wrong at first_bad_position")


class FieldChange(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: Any = Field(alias="from")
    to: Any


class DiffOut(BaseModel):
    from_version: int
    to_version: int
    changes: dict[str, FieldChange]
    events: list[HistoryEntry]


# ---- reports and schedules ----------------------------------------------------------------


class ReportRequest(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"formats": ["html", "xlsx"], "as_of": "2026-06-30"}]},
    )

    formats: list[str] = Field(min_length=1, max_length=5, description="json, csv, md, html, xlsx")
    as_of: date | None = Field(default=None, description="Default: today")
    at_position: int | None = Field(default=None, ge=0, le=MAX_POSITION)
    period_days: int | None = Field(default=None, ge=1, le=366)


class ArchivedReport(BaseModel):
    id: str
    schedule: str | None
    scheduled_for: str | None
    generated_at: str
    generated_by: str
    as_of: date
    period_days: int
    log_position: int
    chain_head: str | None
    formats: list[str]
    sha256: dict[str, str]


class ArchivedPage(BaseModel):
    items: list[ArchivedReport]
    next_cursor: str | None = Field(description="Pass as ?cursor= for older reports")


class ScheduleIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "monthly",
                    "cron": "0 6 1 * *",
                    "formats": ["html", "xlsx"],
                    "timezone": "America/Mexico_City",
                }
            ]
        },
    )

    name: str = Field(max_length=63, description="lower-case letters, digits, '-', '_'")
    cron: str = Field(max_length=100, description="5 fields: minute hour day month weekday")
    formats: list[str] = Field(min_length=1, max_length=5)
    timezone: str = Field(default="UTC", max_length=64)
    period_days: StrictInt = Field(default=30, ge=1, le=366)


class ScheduleOut(BaseModel):
    name: str
    cron: str
    formats: list[str]
    timezone: str
    period_days: int
    active: bool
    changed_by: str
    changed_at: str
    version: int
