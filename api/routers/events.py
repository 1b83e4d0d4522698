"""The global event feed, in log order."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from adapters.history import MAX_FEED_LIMIT, event_feed
from api.dependencies import Reader, ServicesDep
from api.schemas import MAX_POSITION, READ_PROBLEMS, FeedEntry

router = APIRouter(prefix="/api/v1/events", tags=["events"])


@router.get(
    "",
    response_model=list[FeedEntry],
    summary="Events of all commitments after a position, oldest first",
    description="Page through the log by passing the last `position` seen as `after`.",
    responses=READ_PROBLEMS,
)
def feed(
    services: ServicesDep,
    _: Reader,
    after: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="Return events after this position")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_FEED_LIMIT)] = 100,
) -> Any:
    return event_feed(services.database, services.tracker, after=after, limit=limit)
