"""Reads served from the projection: `X-Log-Position` and `?min_position=` (read your writes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Query, Response
from sqlalchemy import Connection

from adapters.projection import projection_position
from api.dependencies import ServicesDep
from api.problems import Problem
from api.schemas import MAX_POSITION

T = TypeVar("T")

MIN_POSITION_WAIT_SECONDS = 5.0
_POLL_SECONDS = 0.05


class ProjectionRead:
    """Dependency for reads from the projection: `read(query)` runs the query in one
    snapshot with the projection's position, once that position has reached
    `min_position` (503 after 5 s), and sets X-Log-Position to it."""

    def __init__(
        self,
        services: ServicesDep,
        response: Response,
        min_position: Annotated[
            int | None,
            Query(
                ge=0,
                le=MAX_POSITION,
                description="Wait (up to 5 s) until the projection has reached this position",
            ),
        ] = None,
    ) -> None:
        self.database = services.database
        self.wanted = min_position or 0
        self.response = response

    def read(self, query: Callable[[Connection], T]) -> T:
        deadline = time.monotonic() + MIN_POSITION_WAIT_SECONDS
        while True:
            with self.database.reading() as connection:
                position = projection_position(connection)
                if position >= self.wanted:
                    result = query(connection)
                    self.response.headers["X-Log-Position"] = str(position)
                    return result
            if time.monotonic() >= deadline:
                raise Problem(
                    503,
                    f"the projection is at position {position}, not yet {self.wanted}; "
                    "retry shortly",
                    kind="projection-behind",
                    headers={"Retry-After": "1"},
                )
            time.sleep(_POLL_SECONDS)
