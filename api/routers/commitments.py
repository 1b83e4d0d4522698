"""The commitments resource: registration, every write, the list, one commitment, history.

A single commitment (and its past versions) is read from the event store, so it is
always current; the list is read from the projection (`X-Log-Position`, `min_position`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from adapters.history import commitment_history
from adapters.read_models import DEFAULT_LIMIT, MAX_LIMIT, ListFilters, list_commitments
from api.dependencies import Reader, TrackerDep
from api.projection_reads import ProjectionRead
from api.schemas import (
    MAX_VERSION,
    PROBLEM_RESPONSES,
    READ_PROBLEMS,
    REGISTRATION_PROBLEMS,
    WRITE_PROBLEMS,
    CommitmentIn,
    CommitmentOut,
    CommitmentPage,
    CommitmentPatch,
    DiffOut,
    EvidenceIn,
    HealthIn,
    HistoryEntry,
    IndicatorIn,
    IndicatorOut,
    MeasurementIn,
    MilestoneCompletion,
    MilestoneIn,
    MilestoneOut,
    MilestonePatch,
    ProgressIn,
    StatusIn,
    problems,
    written,
)
from api.writes import WriteContext, registration_context, write_context
from domain.commitment import Commitment
from domain.errors import InvalidValue
from domain.tracker import Change
from domain.views import describe, diff, judgement_day
from domain.vocabulary import Evidence, Health, Pillar, Source, Status, check_party

router = APIRouter(prefix="/api/v1/commitments", tags=["commitments"])

Write = Annotated[WriteContext, Depends(write_context)]
PREFIX = router.prefix


def today() -> date:
    return datetime.now(UTC).date()


def render_commitment(change: Change) -> dict[str, Any]:
    return describe(change.commitment, today())


def _milestone(commitment: Commitment, milestone_id: str) -> dict[str, Any]:
    return next(m for m in describe(commitment, today())["milestones"] if m["id"] == milestone_id)


def _indicator(commitment: Commitment, indicator_id: str) -> dict[str, Any]:
    return next(i for i in describe(commitment, today())["indicators"] if i["id"] == indicator_id)


def _evidence(item: EvidenceIn) -> Evidence:
    return Evidence(item.url, item.title, item.publisher, item.published_on)


# ---- reads ---------------------------------------------------------------------------


@router.get(
    "",
    response_model=CommitmentPage,
    summary="List commitments (from the projection), filtered and paged by cursor",
    responses=READ_PROBLEMS
    | problems(e503="min_position not reached within 5 s (see Retry-After)"),
)
def list_all(
    _: Reader,
    projection: Annotated[ProjectionRead, Depends()],
    pillar: Pillar | None = None,
    sector: Annotated[str | None, Query(max_length=40)] = None,
    party: Annotated[str | None, Query(max_length=2)] = None,
    status: Status | None = None,
    health: Health | None = None,
    overdue: bool | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Search code, title, text")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:
    filters = ListFilters(
        pillar=pillar.value if pillar else None,
        sector=sector.lower() if sector else None,
        party=check_party(party.upper()) if party else None,
        status=status.value if status else None,
        health=health.value if health else None,
        overdue=overdue,
        q=q,
    )
    items, next_cursor = projection.read(
        lambda connection: list_commitments(
            connection, filters, limit=limit, cursor=cursor, today=today()
        )
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/{ref}",
    response_model=CommitmentOut,
    summary="One commitment, now or as it was",
    description=(
        "Reads the event store, so it is always current. `version` gives the state after "
        "that many events; `as_of` (a date) leaves out facts whose effective date is later; "
        "`known_at` (a datetime; UTC if no offset) leaves out what was recorded later. "
        "`as_of` and `known_at` combine: what we believed at `known_at` about `as_of`."
    ),
    responses=PROBLEM_RESPONSES,
)
def get_commitment(
    ref: str,
    tracker: TrackerDep,
    _: Reader,
    response: Response,
    version: Annotated[
        int | None, Query(ge=1, le=MAX_VERSION, description="A past version")
    ] = None,
    as_of: Annotated[date | None, Query(description="Effective date, e.g. 2026-03-31")] = None,
    known_at: Annotated[
        datetime | None, Query(description="Recorded time, e.g. 2026-04-01T00:00:00Z")
    ] = None,
) -> Any:
    commitment = tracker.state(ref, version=version, as_of=as_of, known_at=known_at)
    if version is None and as_of is None and known_at is None:
        # Only the current state is something a write can be conditional on.
        response.headers["ETag"] = f'"{commitment.version}"'
    day = judgement_day(commitment, today=today(), version=version, as_of=as_of, known_at=known_at)
    return describe(commitment, day)


@router.get(
    "/{ref}/history",
    response_model=list[HistoryEntry],
    summary="Every event of a commitment, oldest first",
    responses=PROBLEM_RESPONSES,
)
def get_history(ref: str, tracker: TrackerDep, _: Reader) -> Any:
    return commitment_history(tracker, ref)


@router.get(
    "/{ref}/diff",
    response_model=DiffOut,
    response_model_by_alias=True,
    summary="What changed between two versions, and the events in between",
    responses=PROBLEM_RESPONSES,
)
def get_diff(
    ref: str,
    tracker: TrackerDep,
    _: Reader,
    from_version: Annotated[
        int, Query(alias="from", ge=1, le=MAX_VERSION, description="Earlier version")
    ],
    to_version: Annotated[
        int | None,
        Query(alias="to", ge=1, le=MAX_VERSION, description="Later version (default: current)"),
    ] = None,
) -> Any:
    current = tracker.get(ref)
    to_version = current.version if to_version is None else to_version
    if from_version > to_version:
        raise InvalidValue(f"from ({from_version}) must not be after to ({to_version})")
    states = [tracker.state(ref, version=v) for v in (from_version, to_version)]
    before, after = (
        describe(s, judgement_day(s, today=today(), version=s.version)) for s in states
    )
    return {
        "from_version": from_version,
        "to_version": to_version,
        "changes": diff(before, after),
        "events": [
            e for e in commitment_history(tracker, ref) if from_version < e["version"] <= to_version
        ],
    }


# ---- writes ----------------------------------------------------------------------------


@router.post(
    "",
    status_code=201,
    response_model=CommitmentOut,
    summary="Register a commitment",
    responses=REGISTRATION_PROBLEMS | written(201, location=True),
)
def register(
    body: CommitmentIn, write: Annotated[WriteContext, Depends(registration_context)]
) -> Response:
    write.require_party(body.parties)
    source = Source(body.source.title, body.source.url, body.source.quote) if body.source else None
    return write.execute(
        body=body,
        action=lambda options: write.tracker.register(
            actor=write.principal.name,
            code=body.code,
            title=body.title,
            description=body.description,
            pillar=body.pillar,
            sectors=body.sectors,
            parties=body.parties,
            lead_party=body.lead_party,
            agencies=body.agencies,
            start_date=body.start_date,
            target_date=body.target_date,
            source=source,
            on_saved=options.get("on_saved"),
        ),
        render=render_commitment,
        status_code=201,
        location=lambda change: f"{PREFIX}/{change.commitment.code}",
    )


@router.patch(
    "/{ref}",
    response_model=CommitmentOut,
    summary="Revise title, description, target date, agencies or sectors, with a reason",
    responses=WRITE_PROBLEMS | written(200),
)
def revise(ref: str, body: CommitmentPatch, write: Write) -> Response:
    write.require_party(write.tracker.get(ref).parties)
    changes: dict[str, Any] = {
        name: getattr(body, name)
        for name in ("title", "description", "target_date", "agencies", "sectors")
        if name in body.model_fields_set
    }
    return write.execute(
        body=body,
        action=lambda options: write.tracker.revise_details(
            ref, actor=write.principal.name, changes=changes, reason=body.reason, **options
        ),
        render=render_commitment,
        status_code=200,
    )


@router.post(
    "/{ref}/progress",
    status_code=201,
    response_model=CommitmentOut,
    summary="Log progress (percent as of a date)",
    responses=WRITE_PROBLEMS | written(201),
)
def log_progress(ref: str, body: ProgressIn, write: Write) -> Response:
    write.require_party(write.tracker.get(ref).parties)
    return write.execute(
        body=body,
        action=lambda options: write.tracker.log_progress(
            ref,
            actor=write.principal.name,
            percent=body.percent,
            as_of=body.as_of,
            note=body.note,
            confidence=body.confidence,
            evidence=[_evidence(e) for e in body.evidence],
            **options,
        ),
        render=render_commitment,
        status_code=201,
    )


@router.post(
    "/{ref}/status",
    response_model=CommitmentOut,
    summary="Change the assessed status, with a reason",
    responses=WRITE_PROBLEMS | written(200),
)
def change_status(ref: str, body: StatusIn, write: Write) -> Response:
    write.require_party(write.tracker.get(ref).parties)
    return write.execute(
        body=body,
        action=lambda options: write.tracker.change_status(
            ref,
            actor=write.principal.name,
            status=body.status,
            reason=body.reason,
            as_of=body.as_of,
            superseded_by=body.superseded_by,
            **options,
        ),
        render=render_commitment,
        status_code=200,
    )


@router.post(
    "/{ref}/health",
    response_model=CommitmentOut,
    summary="Rate delivery confidence, with a rationale",
    responses=WRITE_PROBLEMS | written(200),
)
def rate_health(ref: str, body: HealthIn, write: Write) -> Response:
    write.require_party(write.tracker.get(ref).parties)
    return write.execute(
        body=body,
        action=lambda options: write.tracker.rate_health(
            ref,
            actor=write.principal.name,
            rating=body.rating,
            rationale=body.rationale,
            as_of=body.as_of,
            **options,
        ),
        render=render_commitment,
        status_code=200,
    )


@router.post(
    "/{ref}/milestones",
    status_code=201,
    response_model=MilestoneOut,
    summary="Add a milestone",
    responses=WRITE_PROBLEMS | written(201, location=True),
)
def add_milestone(ref: str, body: MilestoneIn, write: Write) -> Response:
    write.require_party(write.tracker.get(ref).parties)
    return write.execute(
        body=body,
        action=lambda options: write.tracker.add_milestone(
            ref, actor=write.principal.name, title=body.title, due_date=body.due_date, **options
        ),
        render=lambda change: _milestone(change.commitment, change.result),
        status_code=201,
        location=lambda change: f"{PREFIX}/{change.commitment.code}/milestones/{change.result}",
    )


@router.patch(
    "/{ref}/milestones/{milestone_id}",
    response_model=MilestoneOut,
    summary="Reschedule (due_date with a reason) and/or rename (title) a milestone",
    responses=WRITE_PROBLEMS | written(200),
)
def change_milestone(ref: str, milestone_id: str, body: MilestonePatch, write: Write) -> Response:
    commitment = write.tracker.get(ref)
    write.require_party(commitment.parties)
    if body.due_date is None and body.title is None:
        raise InvalidValue("give a new due_date (with a reason) and/or a new title")
    if body.due_date is not None and not body.reason:
        raise InvalidValue("rescheduling a milestone needs a reason")

    def script(c: Commitment) -> None:
        if body.due_date is not None:
            c.reschedule_milestone(
                actor=write.principal.name,
                milestone_id=milestone_id,
                due_date=body.due_date,
                reason=body.reason or "",
            )
        if body.title is not None:
            c.retitle_milestone(
                actor=write.principal.name, milestone_id=milestone_id, title=body.title
            )

    return write.execute(
        body=body,
        action=lambda options: write.tracker.apply_script(ref, script, **options),
        render=lambda change: _milestone(change.commitment, milestone_id),
        status_code=200,
    )


@router.post(
    "/{ref}/milestones/{milestone_id}/complete",
    response_model=MilestoneOut,
    summary="Complete a milestone",
    responses=WRITE_PROBLEMS | written(200),
)
def complete_milestone(
    ref: str, milestone_id: str, body: MilestoneCompletion, write: Write
) -> Response:
    write.require_party(write.tracker.get(ref).parties)
    return write.execute(
        body=body,
        action=lambda options: write.tracker.complete_milestone(
            ref,
            milestone_id,
            actor=write.principal.name,
            completed_on=body.completed_on,
            note=body.note,
            **options,
        ),
        render=lambda change: _milestone(change.commitment, milestone_id),
        status_code=200,
    )


@router.post(
    "/{ref}/indicators",
    status_code=201,
    response_model=IndicatorOut,
    summary="Define an indicator (name, unit, baseline, target)",
    responses=WRITE_PROBLEMS | written(201, location=True),
)
def define_indicator(ref: str, body: IndicatorIn, write: Write) -> Response:
    write.require_party(write.tracker.get(ref).parties)
    return write.execute(
        body=body,
        action=lambda options: write.tracker.define_indicator(
            ref,
            actor=write.principal.name,
            name=body.name,
            unit=body.unit,
            baseline=body.baseline,
            target=body.target,
            **options,
        ),
        render=lambda change: _indicator(change.commitment, change.result),
        status_code=201,
        location=lambda change: f"{PREFIX}/{change.commitment.code}/indicators/{change.result}",
    )


@router.post(
    "/{ref}/indicators/{indicator_id}/measurements",
    status_code=201,
    response_model=IndicatorOut,
    summary="Record a measurement of an indicator",
    responses=WRITE_PROBLEMS | written(201),
)
def record_measurement(ref: str, indicator_id: str, body: MeasurementIn, write: Write) -> Response:
    write.require_party(write.tracker.get(ref).parties)
    return write.execute(
        body=body,
        action=lambda options: write.tracker.record_measurement(
            ref,
            indicator_id,
            actor=write.principal.name,
            value=body.value,
            as_of=body.as_of,
            note=body.note,
            **options,
        ),
        render=lambda change: _indicator(change.commitment, indicator_id),
        status_code=201,
    )


@router.post(
    "/{ref}/evidence",
    status_code=201,
    response_model=CommitmentOut,
    summary="Attach a public document as evidence",
    responses=WRITE_PROBLEMS | written(201),
)
def attach_evidence(ref: str, body: EvidenceIn, write: Write) -> Response:
    write.require_party(write.tracker.get(ref).parties)
    return write.execute(
        body=body,
        action=lambda options: write.tracker.attach_evidence(
            ref, actor=write.principal.name, evidence=_evidence(body), **options
        ),
        render=render_commitment,
        status_code=201,
    )
