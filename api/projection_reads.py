"""Reads served from the projection: `X-Log-Position` and `?min_position=` (read your writes)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import Query, Response

from adapters.event_store import engine_of
from adapters.projection import projection_position
from api.dependencies import TrackerDep
from api.problems import Problem

MIN_POSITION_WAIT_SECONDS = 5.0
_POLL_SECONDS = 0.05


class ProjectionRead:
    """Dependency: waits for `min_position` (503 after 5 s) and sets X-Log-Position."""

    def __init__(
        self,
        tracker: TrackerDep,
        response: Response,
        min_position: Annotated[
            int | None,
            Query(
                ge=0, description="Wait (up to 5 s) until the projection has reached this position"
            ),
        ] = None,
    ) -> None:
        self.engine = engine_of(tracker)
        self.position = self._wait_for(min_position or 0)
        response.headers["X-Log-Position"] = str(self.position)

    def _wait_for(self, wanted: int) -> int:
        deadline = time.monotonic() + MIN_POSITION_WAIT_SECONDS
        while True:
            position = projection_position(self.engine)
            if position >= wanted:
                return position
            if time.monotonic() >= deadline:
                raise Problem(
                    503,
                    f"the projection is at position {position}, not yet {wanted}; retry shortly",
                    kind="projection-behind",
                    headers={"Retry-After": "1"},
                )
            time.sleep(_POLL_SECONDS)

    def respond(self, body: Any) -> Any:
        return body
