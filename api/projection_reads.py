"""Reads served from the projection: `X-Log-Position` and `?min_position=` (read your writes).

A reader asking for a position the projection has not reached waits on the event loop
(PositionWaits), not in a worker thread: a thread held per waiter let a few dozen
clients asking for unreachable positions stall every other read. A position beyond the
log's head can never be reached and is refused (422); waiters beyond a cap are turned
away at once (503 with Retry-After).

With a read replica (COMMITMENTS_READ_DATABASE_URL) these reads, and the position they
wait for, are the replica's: what it has replayed of the projection, polled there, as
the in-process follower reports the primary's. Only the log's head, which says whether a
position can ever be reached, is read on the primary.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Hashable
from typing import Annotated, TypeVar

from cachetools import LRUCache
from fastapi import Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection

from adapters.bootstrap import Services
from adapters.database import Database
from adapters.projection import (
    ReadModelsMark,
    current_mark,
    log_head,
    projection_position,
    read_models_mark,
)
from api.problems import Problem
from api.schemas import MAX_POSITION

T = TypeVar("T")

MIN_POSITION_WAIT_SECONDS = 5.0
# How often waiters look at the database themselves, for a projection advanced by another
# process (the in-process follower tells them at once).
POLL_SECONDS = 0.1
_RETRY = {"Retry-After": "1"}
POSITION_HEADER = "X-Log-Position"
# What AnswersByPosition keeps at most (a page of 50 list items is about 40 KB).
ANSWER_BYTES_KEPT = 16 * 1024 * 1024


class PositionWaits:
    """The readers waiting for the projection to reach a position, all on the event loop.

    They wake when the follower reports a batch (`advanced`, from its thread) or when
    the one poller (running while anyone waits) reads a new position from the database.
    """

    def __init__(
        self,
        database: Database,
        *,
        limit: int,
        poll_seconds: float = POLL_SECONDS,
        primary: Database | None = None,
    ):
        self.database = database
        # The log's head comes from here when `database` is a replica (its head may lag).
        self.primary = primary
        self.what = "the projection" if primary is None else "the read replica's projection"
        self.limit = limit
        self.poll_seconds = poll_seconds
        self.known = 0  # the projection's position, as last seen
        self.waiting = 0
        self._changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: asyncio.Task[None] | None = None
        # This app's answers kept by position (ProjectionRead.read_kept), and its reads
        # of the position they are kept by.
        self.answers = AnswersByPosition()
        self.current = PositionReads(database)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()

    def advanced(self, position: int) -> None:
        """The projection reached `position` (called from any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.seen, position)

    def seen(self, position: int) -> None:
        """On the loop: wake every waiter to compare its position with this one."""
        self.known = position  # not max(): a rebuild moves it back to 0
        self._changed.set()
        self._changed = asyncio.Event()

    async def positions(self) -> tuple[int, int]:
        """The projection's position and the log's head, read in a worker thread."""
        projected, head = await run_in_threadpool(_positions, self.database, self.primary)
        self.seen(projected)
        return projected, head

    async def wait_for(self, wanted: int) -> None:
        """Return once the projection has reached `wanted`; 503 after the timeout, or
        at once when `limit` readers are waiting already."""
        if self.known >= wanted:
            return
        if self.waiting >= self.limit:
            raise Problem(
                503,
                f"{self.waiting} readers are waiting for the projection already; retry shortly",
                kind="too-many-waiters",
                headers=_RETRY,
            )
        self.waiting += 1
        try:
            async with asyncio.timeout(MIN_POSITION_WAIT_SECONDS):
                while self.known < wanted:
                    if self._poller is None or self._poller.done():
                        self._poller = asyncio.create_task(self._poll())
                    await self._changed.wait()
        except TimeoutError:
            raise Problem(
                503,
                f"{self.what} is at position {self.known}, not yet {wanted}; retry shortly",
                kind="projection-behind",
                headers=_RETRY,
            ) from None
        finally:
            self.waiting -= 1

    async def _poll(self) -> None:
        while self.waiting:
            await asyncio.sleep(self.poll_seconds)
            if self.waiting:
                await self.positions()


def _positions(database: Database, primary: Database | None) -> tuple[int, int]:
    with database.reading() as connection:
        projected, head = projection_position(connection), log_head(connection)
    if primary is not None:
        with primary.one_query() as connection:
            head = log_head(connection)
    return projected, head


class PositionReads:
    """The read models' mark (adapters/projection.py: the projection's position, and when
    it was written) for the requests on the event loop: one read of the
    database (one thread hand-off, one round trip) answers every request that arrived
    before it started. A request waits for a read that starts after it arrived, never
    for one already under way, so it sees every position committed before it came, as
    a read of its own would; under load, the requests that come during one read share
    the next."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._reader: asyncio.Task[None] | None = None
        self._next: asyncio.Future[ReadModelsMark] | None = None

    async def read(self) -> ReadModelsMark:
        loop = asyncio.get_running_loop()
        if self._reader is None or self._reader.done():
            future: asyncio.Future[ReadModelsMark] = loop.create_future()
            self._reader = loop.create_task(self._read(future))
        else:  # a read is under way: it may have missed this request's past, take the next
            if self._next is None:
                self._next = loop.create_future()
            future = self._next
        # Shielded: a request that goes away must not cancel the read for the others.
        return await asyncio.shield(future)

    async def _read(self, future: asyncio.Future[ReadModelsMark] | None) -> None:
        while future is not None:
            # An error nobody is left to receive is not logged as never retrieved.
            future.add_done_callback(_retrieve)
            try:
                future.set_result(await run_in_threadpool(self.mark))
            except Exception as error:  # each waiter raises it (a 503 for the database's)
                future.set_exception(error)
            future, self._next = self._next, None

    def mark(self) -> ReadModelsMark:
        return current_mark(self.database)


def _retrieve(future: asyncio.Future[ReadModelsMark]) -> None:
    if not future.cancelled():
        future.exception()


class AnswersByPosition:
    """Answers (bytes) built from the read models, each kept with the read models' mark
    it was read at (adapters/projection.py: their position and when it was written). The
    read models change only with that mark (the projector writes rows and position in
    one transaction; a rebuild's switch writes the position row again), so an answer to
    the same question at the same mark is the same answer; each read still asks the
    database for the mark, so a projector or a rebuild in another process is seen at
    once. Questions that depend on the day carry
    it in their key. At most `max_bytes` are kept, the least recently used going first."""

    def __init__(self, max_bytes: int = ANSWER_BYTES_KEPT) -> None:
        self._kept: LRUCache[tuple[ReadModelsMark, Hashable], bytes] = LRUCache(
            max_bytes, getsizeof=len
        )
        self._lock = threading.Lock()

    def get(self, mark: ReadModelsMark, key: Hashable) -> bytes | None:
        with self._lock:
            return self._kept.get((mark, key))

    def put(self, mark: ReadModelsMark, key: Hashable, answer: bytes) -> None:
        if len(answer) > self._kept.maxsize:
            return  # larger than all that is kept: not worth evicting everything for
        with self._lock:
            self._kept[(mark, key)] = answer


class ProjectionRead:
    """For reads from the projection: `read(query)` runs the query in one snapshot with
    the projection's position and sets X-Log-Position to it; `read_kept(key, query)` the
    same, answered from `answers` when the same question was asked at this position.
    Made by `projection_read`, once the projection has reached `min_position`."""

    def __init__(
        self,
        database: Database,
        response: Response,
        wanted: int,
        answers: AnswersByPosition,
        current: PositionReads,
    ) -> None:
        self.database = database
        self.response = response
        self.wanted = wanted
        self.answers = answers
        self.current = current

    def read(self, query: Callable[[Connection], T]) -> T:
        with self.database.reading() as connection:
            self._position(connection)
            return query(connection)

    async def read_kept(self, key: Hashable, query: Callable[[Connection], bytes]) -> bytes:
        # The mark alone first, in one statement on the driver (PositionReads): most
        # reads end there, on the event loop; the others read in a worker thread.
        kept = self.answers.get(self._checked_mark(await self.current.read()), key)
        if kept is not None:
            return kept
        return await run_in_threadpool(self._read_and_keep, key, query)

    def _read_and_keep(self, key: Hashable, query: Callable[[Connection], bytes]) -> bytes:
        with self.database.reading() as connection:
            mark = self._checked_mark(read_models_mark(connection))
            answer = query(connection)
        self.answers.put(mark, key, answer)
        return answer

    def _checked_mark(self, mark: ReadModelsMark) -> ReadModelsMark:
        self._checked(mark[0])
        return mark

    def _position(self, connection: Connection) -> int:
        return self._checked(projection_position(connection))

    def _checked(self, position: int) -> int:
        if position < self.wanted:  # moved back since the wait: a rebuild started
            raise Problem(
                503,
                f"the projection is at position {position}, not yet {self.wanted} "
                "(rebuilding); retry shortly",
                kind="projection-behind",
                headers=_RETRY,
            )
        self.response.headers[POSITION_HEADER] = str(position)
        return position

    def answer(self, response: Response) -> Response:
        """`response`, a route's own answer, with the position read (X-Log-Position)."""
        response.headers[POSITION_HEADER] = self.response.headers[POSITION_HEADER]
        return response


async def projection_read(
    request: Request,
    response: Response,
    min_position: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_POSITION,
            description=(
                "Wait (up to 5 s) until the projection has reached this position, a position "
                "a write returned in X-Log-Position; beyond the log's head: 422"
            ),
        ),
    ] = None,
) -> ProjectionRead:
    wanted = min_position or 0
    waits: PositionWaits = request.app.state.position_waits
    if wanted > waits.known:
        projected, head = await waits.positions()
        if wanted > head:
            raise Problem(
                422,
                f"min_position {wanted} is beyond the log's head ({head}): "
                "use a position a write returned in X-Log-Position",
                kind="position-beyond-log",
            )
        if projected < wanted:
            await waits.wait_for(wanted)
    services: Services = request.app.state.services  # not a sub-dependency: see api/dependencies.py
    return ProjectionRead(services.read_database, response, wanted, waits.answers, waits.current)


ProjectionReadDep = Annotated[ProjectionRead, Depends(projection_read)]


def require_replayed(services: Services, position: int | None) -> None:
    """For a read of the log up to `position` (a report's at_position) on the replica:
    503 with Retry-After while it has not replayed that far, though the primary has (a
    position beyond the primary's head is left to the read's own check)."""
    if services.replica is None or position is None:
        return
    with services.read_database.one_query() as connection:
        replayed = log_head(connection)
    if position <= replayed:
        return
    with services.database.one_query() as connection:
        head = log_head(connection)
    if position <= head:
        raise Problem(
            503,
            f"the read replica has replayed the log to position {replayed}, not yet "
            f"{position}; retry shortly (or add ?min_position={position} to wait)",
            kind="projection-behind",
            headers=_RETRY,
        )
