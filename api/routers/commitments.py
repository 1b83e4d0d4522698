"""The commitments resource: registration, every write, the list, one commitment, history.

A single commitment (and its past versions) is read from the event store, so it is
always current; the list is read from the projection (`X-Log-Position`, `min_position`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import StringConstraints
from sqlalchemy import Connection

from adapters.history import commitment_history
from adapters.read_models import DEFAULT_LIMIT, MAX_LIMIT, UNRATED, ListFilters
from adapters.read_models import list_commitments as read_commitments
from adapters.wire import to_command
from api.conditional import (
    NOT_MODIFIED,
    REVALIDATE,
    IfNoneMatch,
    body_tag,
    bytes_tag,
    cache_headers,
    none_match,
    not_modified,
)
from api.dependencies import Reader, ServicesDep
from api.json_body import ExactJSONResponse, JsonRoute, dumps
from api.projection_reads import ProjectionReadDep
from api.schemas import (
    MAX_VERSION,
    PROBLEM_RESPONSES,
    PROJECTION_READ_PROBLEMS,
    REGISTRATION_PROBLEMS,
    WRITE_PROBLEMS,
    CommitmentIn,
    CommitmentPage,
    DiffOut,
    HistoryEntry,
    written,
)
from api.writes import (
    INDICATOR,
    MILESTONE,
    PREFIX,
    WRITE_HEADERS,
    CommandRoute,
    WriteDep,
)
from domain import clock, commands
from domain.commitment import Commitment
from domain.errors import InvalidValue, NotFound
from domain.views import (
    CommitmentResource,
    IndicatorResource,
    MilestoneResource,
    PendingClosureResource,
    describe,
    diff,
    indicator_resource,
    judgement_day,
    milestone_resource,
    pending_closure_resource,
)
from domain.vocabulary import Health, Pillar, Status, check_party

# At most this many values of one filter (`status=a&status=b&…`).
MAX_VALUES = 20
Slug = Annotated[str, StringConstraints(max_length=40)]
PartyCode = Annotated[str, StringConstraints(max_length=2)]


class HealthFilter(Enum):
    """The list's `health` filter: a rating (domain Health), or none yet."""

    GREEN = Health.GREEN.value
    AMBER_GREEN = Health.AMBER_GREEN.value
    AMBER = Health.AMBER.value
    AMBER_RED = Health.AMBER_RED.value
    RED = Health.RED.value
    UNRATED = UNRATED


router = APIRouter(prefix=PREFIX, tags=["commitments"], route_class=JsonRoute)


def today() -> date:
    return datetime.now(UTC).date()


# ---- reads ---------------------------------------------------------------------------


@router.get(
    "",
    response_model=CommitmentPage,
    summary="List commitments (from the projection), filtered and paged by cursor",
    description=(
        "Each filter may be repeated: several values of one filter mean either "
        "(`status=stalled&status=suspended`), different filters all apply "
        "(`pillar=security&health=red`). `health=unrated` keeps commitments not rated yet. "
        "Items are ordered by code. A value outside a filter's list is 422. "
        "The ETag is a hash of the page: send it back in If-None-Match for a 304."
    ),
    responses=PROJECTION_READ_PROBLEMS | NOT_MODIFIED,
)
async def list_commitments(
    _: Reader,
    projection: ProjectionReadDep,
    if_none_match: IfNoneMatch = None,
    pillar: Annotated[list[Pillar] | None, Query(max_length=MAX_VALUES)] = None,
    sector: Annotated[list[Slug] | None, Query(max_length=MAX_VALUES)] = None,
    party: Annotated[list[PartyCode] | None, Query(max_length=MAX_VALUES)] = None,
    status: Annotated[list[Status] | None, Query(max_length=MAX_VALUES)] = None,
    health: Annotated[
        list[HealthFilter] | None,
        Query(max_length=MAX_VALUES, description="A rating, or `unrated` for none yet"),
    ] = None,
    overdue: Annotated[
        bool | None, Query(description="true: target date passed and not completed")
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Words in the code, title, description or sectors"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:
    filters = ListFilters(
        pillar=tuple(p.value for p in pillar or ()),
        sector=tuple(s.lower() for s in sector or ()),
        # `party=` (empty) is no party, so nothing matches it, as before.
        party=tuple(check_party(p.upper()) for p in party or ()),
        status=tuple(s.value for s in status or ()),
        health=tuple(h.value for h in health or ()),
        overdue=overdue,
        q=q,
    )
    day = today()

    def page_of(connection: Connection) -> bytes:
        items, next_cursor = read_commitments(
            connection, filters, today=day, limit=limit, cursor=cursor
        )
        # Written straight from the read model's documents: validating and serializing
        # them through the response model (which only documents them) cost more than the
        # query.
        return dumps({"items": items, "next_cursor": next_cursor})

    # The same page at the same projection position (and day) is the same bytes.
    # An `async def` route: a kept page is answered on the event loop, without handing
    # the request to a worker thread (read_kept reads the database in one).
    body = await projection.read_kept((filters, limit, cursor, day), page_of)
    etag = bytes_tag(body)
    if none_match(if_none_match, etag):
        return projection.answer(not_modified(etag, REVALIDATE))
    page = Response(body, media_type="application/json")
    cache_headers(page, etag, REVALIDATE)
    return projection.answer(page)


@router.get(
    "/{ref}",
    response_model=CommitmentResource,
    summary="One commitment, now or as it was",
    description=(
        "Reads the event store, so it is always current. `version` gives the state after "
        "that many events; `as_of` (a date) leaves out facts whose effective date is later; "
        "`known_at` (a datetime; UTC if no offset) leaves out what was recorded later. "
        "`as_of` and `known_at` combine: what we believed at `known_at` about `as_of`. "
        'The current state\'s ETag is its version in quotes (`"7"`, the tag If-Match takes '
        "on writes); a past state's (`version`, `as_of`, `known_at`) is a hash of its "
        "body, so each past view has its own. Either, in If-None-Match, gives a 304."
    ),
    responses=PROBLEM_RESPONSES | NOT_MODIFIED,
)
def get_commitment(
    ref: str,
    services: ServicesDep,
    _: Reader,
    version: Annotated[
        int | None, Query(ge=1, le=MAX_VERSION, description="A past version")
    ] = None,
    as_of: Annotated[date | None, Query(description="Effective date, e.g. 2026-03-31")] = None,
    known_at: Annotated[
        datetime | None, Query(description="Recorded time, e.g. 2026-04-01T00:00:00Z")
    ] = None,
    if_none_match: IfNoneMatch = None,
) -> Any:
    commitment = services.tracker.state(ref, version=version, as_of=as_of, known_at=known_at)
    day = judgement_day(commitment, today=today(), version=version, as_of=as_of, known_at=known_at)
    body = describe(commitment, day)
    if version is None and as_of is None and known_at is None:
        # The current state: its version is the tag a write's If-Match names. Its derived
        # fields (overdue, missed) are judged today, but only ever turn on as days pass;
        # so if they read the same on the day this version was recorded as today, any
        # copy of this version (fetched in between) is today's, and a 304 is right.
        etag = f'"{commitment.version}"'
        if none_match(if_none_match, etag) and (
            describe(commitment, clock.as_utc(commitment.modified_on).date()) == body
        ):
            return not_modified(etag, REVALIDATE)
    else:
        # A past state reads the same whenever asked (judged on a fixed day).
        etag = body_tag(body)
        if none_match(if_none_match, etag):
            return not_modified(etag, REVALIDATE)
    response = ExactJSONResponse(body)
    cache_headers(response, etag, REVALIDATE)
    return response


# ---- writes: a command on the commitment, through api/writes.py ----------------------------


@router.post(
    "",
    status_code=201,
    response_model=CommitmentResource,
    summary="Register a commitment",
    responses=REGISTRATION_PROBLEMS | written(201, location=True),
    openapi_extra=WRITE_HEADERS,
)
def register_commitment(body: CommitmentIn, write: WriteDep) -> Response:
    command = to_command(commands.RegisterCommitment, body)
    return write.run(command, body, status_code=201, location=_commitment_url)


def _commitment_url(commitment: Commitment, _: str | None) -> str:
    return f"{PREFIX}/{commitment.code}"


def _closure_proposed(commitment: Commitment) -> bool:
    """Did this write propose a closure (202) rather than change the status?"""
    pending = commitment.pending_closure
    return pending is not None and pending.version == commitment.version


PROPOSED = (
    "Accepted: on a commitment of several parties an editor's closing status "
    "(completed, cancelled, superseded) is a proposal; the commitment shows it as "
    "`pending_closure` until an editor of another party confirms or rejects it",
    _closure_proposed,
)

# Every other write: the command its body is, and the answer (api/writes.py).
WRITES = (
    CommandRoute("PATCH", "/{ref}", commands.ReviseDetails, 200,
                 "Revise title, description, target date, agencies or sectors, with a reason"),
    CommandRoute("POST", "/{ref}/progress", commands.LogProgress, 201,
                 "Log progress (percent as of a date)"),
    CommandRoute("POST", "/{ref}/status", commands.ChangeStatus, 200,
                 "Change the assessed status, with a reason (202: a closure proposed)",
                 accepted=PROPOSED),
    CommandRoute("POST", "/{ref}/closure/confirm", commands.ConfirmClosure, 200,
                 "Confirm the closure another party proposed: the status changes",
                 optional_body=True),
    CommandRoute("POST", "/{ref}/closure/reject", commands.RejectClosure, 200,
                 "Reject (or, by the proposing party, withdraw) the pending closure"),
    CommandRoute("POST", "/{ref}/health", commands.RateHealth, 200,
                 "Rate delivery confidence, with a rationale"),
    CommandRoute("POST", "/{ref}/milestones", commands.AddMilestone, 201,
                 "Add a milestone", MILESTONE, created="milestones"),
    CommandRoute("PATCH", "/{ref}/milestones/{milestone_id}", commands.ChangeMilestone, 200,
                 "Reschedule (due_date with a reason) and/or rename (title) a milestone",
                 MILESTONE),
    CommandRoute("POST", "/{ref}/milestones/{milestone_id}/complete",
                 commands.CompleteMilestone, 200, "Complete a milestone", MILESTONE),
    CommandRoute("POST", "/{ref}/indicators", commands.DefineIndicator, 201,
                 "Define an indicator (name, unit, baseline, target)", INDICATOR,
                 created="indicators"),
    CommandRoute("POST", "/{ref}/indicators/{indicator_id}/measurements",
                 commands.RecordMeasurement, 201, "Record a measurement of an indicator",
                 INDICATOR),
    CommandRoute("POST", "/{ref}/evidence", commands.AttachEvidence, 201,
                 "Attach a public document as evidence"),
    CommandRoute("PUT", "/{ref}/translations/{language}", commands.TranslateText, 200,
                 "Record translations of the title, description, milestone titles and "
                 "indicator names into en, fr or es (not a text's own language)"),
)  # fmt: skip

for route in WRITES:
    route.add_to(router, responses=WRITE_PROBLEMS)


# ---- reads of parts and history ------------------------------------------------------


@router.get(
    "/{ref}/milestones/{milestone_id}",
    response_model=MilestoneResource,
    summary="One milestone of a commitment, now",
    responses=PROBLEM_RESPONSES,
)
def get_milestone(ref: str, milestone_id: str, services: ServicesDep, _: Reader) -> Any:
    commitment = services.tracker.get(ref)
    return milestone_resource(commitment.milestone(milestone_id), today())


@router.get(
    "/{ref}/indicators/{indicator_id}",
    response_model=IndicatorResource,
    summary="One indicator of a commitment, now",
    responses=PROBLEM_RESPONSES,
)
def get_indicator(ref: str, indicator_id: str, services: ServicesDep, _: Reader) -> Any:
    return ExactJSONResponse(indicator_resource(services.tracker.get(ref).indicator(indicator_id)))


@router.get(
    "/{ref}/closure",
    response_model=PendingClosureResource,
    summary="The closure proposal awaiting another party, now (404 when none is pending)",
    responses=PROBLEM_RESPONSES,
)
def get_pending_closure(ref: str, services: ServicesDep, _: Reader, response: Response) -> Any:
    commitment = services.tracker.get(ref)
    pending = pending_closure_resource(commitment)
    if pending is None:
        raise NotFound(f"no closure of {commitment.code} is pending")
    response.headers["ETag"] = f'"{commitment.version}"'
    return pending


@router.get(
    "/{ref}/history",
    response_model=list[HistoryEntry],
    summary="Every event of a commitment, oldest first",
    responses=PROBLEM_RESPONSES,
)
def get_history(ref: str, services: ServicesDep, _: Reader) -> Any:
    return ExactJSONResponse(commitment_history(services.database, services.tracker, ref))


@router.get(
    "/{ref}/diff",
    response_model=DiffOut,
    response_model_by_alias=True,
    summary="What changed between two versions, and the events in between",
    responses=PROBLEM_RESPONSES,
)
def get_diff(
    ref: str,
    services: ServicesDep,
    _: Reader,
    from_version: Annotated[
        int, Query(alias="from", ge=1, le=MAX_VERSION, description="Earlier version")
    ],
    to_version: Annotated[
        int | None,
        Query(alias="to", ge=1, le=MAX_VERSION, description="Later version (default: current)"),
    ] = None,
) -> Any:
    tracker = services.tracker
    current = tracker.get(ref)
    to_version = current.version if to_version is None else to_version
    if from_version > to_version:
        raise InvalidValue(f"from ({from_version}) must not be after to ({to_version})")
    states = [tracker.state(ref, version=v) for v in (from_version, to_version)]
    before, after = (
        describe(s, judgement_day(s, today=today(), version=s.version)) for s in states
    )
    return ExactJSONResponse(
        {
            "from_version": from_version,
            "to_version": to_version,
            "changes": diff(before, after),
            "events": [
                e
                for e in commitment_history(services.database, tracker, ref)
                if from_version < e["version"] <= to_version
            ],
        }
    )
