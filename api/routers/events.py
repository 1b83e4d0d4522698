"""The global event feed, in log order."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from adapters.backup import stored_event
from adapters.history import MAX_FEED_LIMIT, event_feed
from api.dependencies import Reader, ServicesDep
from api.json_body import ExactJSONResponse, JsonRoute
from api.projection_reads import ProjectionReadDep
from api.schemas import (
    MAX_POSITION,
    PROJECTION_READ_PROBLEMS,
    READ_PROBLEMS,
    FeedEntry,
    StoredEventOut,
    problems,
)

router = APIRouter(prefix="/api/v1/events", tags=["events"], route_class=JsonRoute)


@router.get(
    "",
    response_model=list[FeedEntry],
    summary="Events of all commitments after a position, oldest first",
    description="Page through the log by passing the last `position` seen as `after`. "
    "Read from the read replica if there is one: `min_position` waits for it to have "
    "what a write returned in X-Log-Position.",
    responses=PROJECTION_READ_PROBLEMS,
)
def list_events(
    services: ServicesDep,
    _: Reader,
    read: ProjectionReadDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="Return events after this position")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_FEED_LIMIT)] = 100,
) -> Any:
    # As the other reads that take min_position: X-Log-Position, and a 503 if a rebuild
    # moved the projection back since the wait. The feed, read after, holds at least that.
    read.read(lambda _: None)
    feed = event_feed(services.read_database, services.tracker, after=after, limit=limit)
    return read.answer(ExactJSONResponse(feed))


@router.get(
    "/{position}/stored",
    response_model=StoredEventOut,
    summary="One event as stored: the bytes its chain entry and Merkle leaf are made of",
    description="The same line `commitments export` writes for it. With an inclusion proof "
    "(`GET /proofs/inclusion?position=`) and a signed checkpoint, "
    "`commitments verify --offline --event` checks it with no database.",
    responses=READ_PROBLEMS | problems(e404="No event at that position"),
)
def get_stored_event(
    services: ServicesDep,
    _: Reader,
    position: Annotated[int, Path(ge=1, le=MAX_POSITION)],
) -> Any:
    return stored_event(services.database, position)
