"""PositionReads (api/projection_reads.py): the requests on the event loop share reads of
the read models' mark (position, time written), but each waits for a read that began
after it arrived, so it sees every position committed before it came."""

from __future__ import annotations

import asyncio
import threading
from typing import cast

import pytest

from adapters.database import Database
from adapters.projection import ReadModelsMark
from api.projection_reads import PositionReads


class Scripted(PositionReads):
    """A database whose position is `committed`; each read takes what was committed when
    it began and returns when the test lets it (`finish`)."""

    def __init__(self) -> None:
        super().__init__(cast(Database, None))  # mark() is scripted
        self.committed = 1
        self.began: list[int] = []
        self.failure: Exception | None = None
        self._entered = threading.Semaphore(0)
        self._finish = threading.Semaphore(0)

    def mark(self) -> ReadModelsMark:
        seen = self.committed
        self.began.append(seen)
        self._entered.release()
        self._finish.acquire()
        if self.failure is not None:
            raise self.failure
        return (seen, "t")

    async def entered(self) -> None:
        assert await asyncio.to_thread(self._entered.acquire, True, 10)

    def finish(self) -> None:
        self._finish.release()


def test_requests_during_a_read_share_the_next_read_which_sees_their_past() -> None:
    async def scenario() -> None:
        reads = Scripted()
        first = asyncio.ensure_future(reads.read())
        await reads.entered()  # the first read has begun, at position 1
        reads.committed = 2  # a write projected after it began, before these arrive
        later = [asyncio.ensure_future(reads.read()) for _ in range(3)]
        await asyncio.sleep(0)
        reads.finish()
        assert await first == (1, "t")
        await reads.entered()  # one more read for all three, begun after they came
        reads.finish()
        assert [await request for request in later] == [(2, "t")] * 3
        assert reads.began == [1, 2]
        assert await asyncio.wait_for(_read_alone(reads), 10) == (2, "t")  # idle: a read of its own
        assert reads.began == [1, 2, 2]

    asyncio.run(scenario())


async def _read_alone(reads: Scripted) -> ReadModelsMark:
    request = asyncio.ensure_future(reads.read())
    await reads.entered()
    reads.finish()
    return await request


def test_a_request_that_goes_away_leaves_the_read_to_the_others() -> None:
    async def scenario() -> None:
        reads = Scripted()
        first = asyncio.ensure_future(reads.read())
        await reads.entered()
        leaving, staying = asyncio.ensure_future(reads.read()), asyncio.ensure_future(reads.read())
        await asyncio.sleep(0)
        leaving.cancel()
        first.cancel()
        reads.finish()
        await reads.entered()
        reads.finish()
        assert await staying == (1, "t")
        assert leaving.cancelled() and first.cancelled()

    asyncio.run(scenario())


def test_a_failed_read_fails_every_request_waiting_for_it() -> None:
    async def scenario() -> None:
        reads = Scripted()
        reads.failure = RuntimeError("database gone")
        requests = [asyncio.ensure_future(reads.read())]
        await reads.entered()
        requests += [asyncio.ensure_future(reads.read()) for _ in range(2)]
        await asyncio.sleep(0)
        reads.finish()
        await reads.entered()
        reads.finish()
        for request in requests:
            with pytest.raises(RuntimeError, match="database gone"):
                await request
        reads.failure = None
        assert await _read_alone(reads) == (1, "t")  # the next request reads again

    asyncio.run(scenario())
