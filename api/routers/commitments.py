"""The commitments resource: a single commitment (from the event store) and its history."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from adapters.history import commitment_history
from api.dependencies import Reader, TrackerDep
from api.schemas import PROBLEM_RESPONSES, CommitmentOut, HistoryEntry
from domain.views import describe

router = APIRouter(prefix="/api/v1/commitments", tags=["commitments"])


def reference_date(as_of: date | None, known_at: datetime | None) -> date:
    """The day against which derived fields (overdue, missed) are judged."""
    if as_of is not None:
        return as_of
    if known_at is not None:
        return known_at.date()
    return datetime.now(UTC).date()


@router.get(
    "/{ref}",
    response_model=CommitmentOut,
    summary="One commitment, now or as it was",
    description=(
        "Reads the event store, so it is always current. `version` gives the state after "
        "that many events; `as_of` (a date) leaves out facts whose effective date is later; "
        "`known_at` (a datetime with timezone) leaves out what was recorded later. "
        "`as_of` and `known_at` combine: what we believed at `known_at` about `as_of`."
    ),
    responses=PROBLEM_RESPONSES,
)
def get_commitment(
    ref: str,
    tracker: TrackerDep,
    _: Reader,
    response: Response,
    version: Annotated[int | None, Query(ge=1, description="A past version")] = None,
    as_of: Annotated[date | None, Query(description="Effective date, e.g. 2026-03-31")] = None,
    known_at: Annotated[
        datetime | None, Query(description="Recorded time, e.g. 2026-04-01T00:00:00Z")
    ] = None,
) -> Any:
    commitment = tracker.state(ref, version=version, as_of=as_of, known_at=known_at)
    response.headers["ETag"] = f'"{commitment.version}"'
    return describe(commitment, reference_date(as_of, known_at))


@router.get(
    "/{ref}/history",
    response_model=list[HistoryEntry],
    summary="Every event of a commitment, oldest first",
    responses=PROBLEM_RESPONSES,
)
def get_history(ref: str, tracker: TrackerDep, _: Reader) -> Any:
    return commitment_history(tracker, ref)
