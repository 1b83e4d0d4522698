"""Pydantic models: the wire contract of docs/api.md, as documented in /docs. Request
bodies are made from the commands of domain/commands.py (adapters/wire.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from adapters.wire import body_model
from domain.commands import DefineSchedule, IssueToken, RegisterCommitment
from domain.views import CommitmentSummary

# Query bounds: positions are 64-bit, versions 32-bit in the stores.
MAX_POSITION = 2**62
MAX_VERSION = 2**31 - 1


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
    leaf_index: int | None = Field(
        description="The event's leaf in the log's Merkle tree (0, 1, 2, ... in log order); "
        "prove it with GET /api/v1/proofs/inclusion"
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


_AUTH = {
    "e401": "No token, or an unknown, revoked or expired one",
    "e429": "Too many failed authentications from this address lately (see Retry-After)",
}
READ_PROBLEMS = problems(**_AUTH, e422="Invalid query parameter")
# Reads from the projection (api/projection_reads.py: `?min_position=`).
PROJECTION_READ_PROBLEMS = READ_PROBLEMS | problems(
    e422="Invalid query parameter, or a min_position beyond the log's head",
    e503="min_position not reached within 5 s, or too many readers waiting (see Retry-After)",
)
PROJECTION_READ_PROBLEMS[503]["headers"] = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
}
PROBLEM_RESPONSES = problems(
    **_AUTH, e404="No such commitment (or version)", e422="Invalid query parameter"
)
ADMIN_PROBLEMS = problems(**_AUTH, e403="Not an admin token")
REBUILD_PROBLEMS = ADMIN_PROBLEMS | problems(e409="A rebuild is running already")
_WRITE = {
    "e400": "Malformed If-Match or Idempotency-Key header",
    "e403": "The token's role or party may not write to this commitment",
    "e409": "Conflicts with the commitment's state (duplicate code, invalid transition, ...)",
    "e413": "Body over 64 KiB",
    "e422": "Invalid body, a broken rule, or an Idempotency-Key reused with another body",
}
REGISTRATION_PROBLEMS = problems(
    **_AUTH, **_WRITE, e412="If-Match given: a new commitment has no version yet"
)
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
            "description": 'The new version of the commitment (or schedule), e.g. "8"',
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


SCHEDULE_WRITE_PROBLEMS = problems(
    **_AUTH,
    e400="Malformed If-Match or Idempotency-Key header",
    e403="Not an admin token",
    e404="No such schedule",
    e409="The schedule already has exactly these settings, or is removed already",
    e412="If-Match names another version than the schedule's current one",
    e413="Body over 64 KiB",
    e422="Invalid schedule, or an Idempotency-Key reused with another request",
)


# ---- request bodies: made from the commands of domain/commands.py ------------------------

if TYPE_CHECKING:  # to type checkers a body is a model; FastAPI sees the generated class
    CommitmentIn: TypeAlias = BaseModel
    ScheduleIn: TypeAlias = BaseModel
    TokenIn: TypeAlias = BaseModel
else:
    CommitmentIn = body_model(RegisterCommitment)
    ScheduleIn = body_model(DefineSchedule)
    TokenIn = body_model(IssueToken)


# ---- list and feed ---------------------------------------------------------------------


class CommitmentPage(BaseModel):
    items: list[CommitmentSummary]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end"
    )


class FeedEntry(HistoryEntry):
    commitment_id: str


class StoredEventOut(BaseModel):
    """An event as stored, as `commitments export` writes it (docs/trust.md, the bytes)."""

    position: int
    originator_id: str
    originator_version: int
    topic: str
    state: str = Field(description="The stored state, base64")
    hash: str | None = Field(description="Its hash-chain entry")
    leaf: int | None = Field(description="Its leaf index in the Merkle tree")


class RebuildAccepted(BaseModel):
    status: str = Field(examples=["rebuilding"])
    position: int = Field(description="Where the replay starts (0)")
    head: int = Field(description="The log's head now: the replay reaches at least this")


class RebuildStatus(BaseModel):
    status: str = Field(
        examples=["rebuilding"],
        description="`rebuilding` while a replay is under way (or was left by a rebuild that "
        "died: see `updated_at`), else `idle`",
    )
    position: int | None = Field(description="How far the replay has got")
    head: int = Field(description="The log's head")
    updated_at: datetime | None = Field(description="When the replay last advanced")
    last_error: str | None = Field(description="Why this server's last rebuild failed, if it did")


class LedgerOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "events": 157,
                    "head_position": 157,
                    "chain_head": "3f1c...e9",
                    "tree_size": 157,
                    "root_hash": "9a0b...41",
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
    tree_size: int = Field(description="Leaves of the Merkle tree over the verified events")
    root_hash: str = Field(description="RFC 9162 root of that tree (hex)")
    verified: bool
    first_bad_position: int | None
    problem: str | None = Field(description="What is wrong at first_bad_position")


class InclusionProofOut(BaseModel):
    """RFC 9162 section 2.1.3: the event's leaf is in the tree of `tree_size` leaves."""

    position: int = Field(description="The event's position in the log")
    leaf_index: int
    tree_size: int
    leaf_hash: str = Field(description="SHA-256(0x00 || the event's canonical bytes), hex")
    root_hash: str = Field(description="Root of the tree of tree_size leaves, hex")
    path: list[str] = Field(description="The audit path (inclusion proof), hex, bottom-up")


class ConsistencyProofOut(BaseModel):
    """RFC 9162 section 2.1.4: the tree of `to` leaves extends the tree of `from` leaves."""

    model_config = ConfigDict(populate_by_name=True)

    from_: int = Field(alias="from")
    to: int
    from_root: str = Field(description="Root of the tree of `from` leaves, hex")
    to_root: str = Field(description="Root of the tree of `to` leaves, hex")
    path: list[str] = Field(description="The consistency proof, hex")


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


class ReportRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"formats": ["html", "xlsx"], "as_of": "2026-06-30"}]},
    )

    formats: list[str] = Field(min_length=1, max_length=5, description="json, csv, md, html, xlsx")
    as_of: date | None = Field(default=None, description="Default: today")
    # Strict, as in every other body (adapters/wire.py): `false` or "3" is no position.
    at_position: StrictInt | None = Field(default=None, ge=0, le=MAX_POSITION)
    period_days: StrictInt | None = Field(default=None, ge=1, le=366)
    lang: Literal["en", "fr", "es"] = Field(
        default="en", description="The report's language (recorded with it)"
    )


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
    format_version: int
    language: str
    sha256: dict[str, str]


class RecordedInputs(BaseModel):
    format: str
    as_of: date
    period_days: int
    log_position: int
    chain_head: str | None
    language: str
    format_version: int
    tree_size: int | None = Field(description="The log's Merkle tree size at the position")
    root_hash: str | None = Field(description="That tree's root (hex)")


class CheckpointCover(BaseModel):
    """The signed checkpoint that includes a report's tree."""

    tree_size: int
    root_hash: str
    signed_by: list[str] = Field(description="Configured operator key that signed it")
    cosigned_by: list[str] = Field(description="Configured witness keys that co-signed it")
    consistent: bool = Field(description="The report's tree is a prefix of it (RFC 9162)")
    note: str = Field(description="The checkpoint as a C2SP signed note")


class ReportCheck(BaseModel):
    """A report file checked against the log (commitments verify --report)."""

    format: str
    recorded: RecordedInputs = Field(description="The inputs the file records")
    sha256: str
    regenerated: bool = Field(description="Whether this release could regenerate it")
    matches_content: bool = Field(description="The file is the report its inputs give")
    differences: list[str] = Field(description="Where the file differs (the first few)")
    matches_log: bool = Field(description="Its chain head is the log's at its position")
    problem: str | None
    archived_as: list[str] = Field(description="Archived reports with these very bytes")
    checkpoint: CheckpointCover | None = Field(
        description="The signed checkpoint including the report (null: no operator key set)"
    )
    checkpoint_problem: str | None
    verified: bool


class ArchivedPage(BaseModel):
    items: list[ArchivedReport]
    next_cursor: str | None = Field(description="Pass as ?cursor= for older reports")


# ---- tokens --------------------------------------------------------------------------------


class TokenOut(BaseModel):
    """An API token as admins see it: never its secret or the secret's hash."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6",
                    "name": "ana.ca",
                    "actor": "ana.ca#1a2b3c4d",
                    "role": "editor",
                    "party": "CA",
                    "status": "active",
                    "created_at": "2026-11-27T09:00:00+00:00",
                    "expires_at": "2027-01-01T00:00:00+00:00",
                    "revoked_at": None,
                }
            ]
        }
    )

    id: str = Field(description="32 hex digits")
    name: str = Field(description="Unique whatever its case")
    actor: str = Field(
        description="What the events the token causes record as their actor: "
        "name#<first 8 hex digits of the id>"
    )
    role: str = Field(examples=["editor"])
    party: str | None
    status: str = Field(description="active, expired or revoked")
    created_at: str
    expires_at: str | None = Field(description="null: never")
    revoked_at: str | None


class TokenCreated(TokenOut):
    token: str | None = Field(
        description="The bearer token, in this answer only (only its hash is stored). null "
        "when this answers a retry with the same Idempotency-Key: if the first answer was "
        "lost, revoke that token and issue another"
    )


TOKEN_WRITE_PROBLEMS = problems(
    **_AUTH,
    e400="Malformed If-Match or Idempotency-Key header",
    e403="Not an admin token",
    e404="No such token",
    e409="The name is taken (whatever its case), or the token is revoked already",
    e412="If-Match names another version than the token's current one",
    e413="Body over 64 KiB",
    e422="Invalid name (malformed or reserved), role, party (an editor needs one) or expiry, "
    "or an Idempotency-Key reused with another request",
)
