"""`?min_position=`: a reader waits on the event loop for the projection, never in a worker
thread, so hostile waiters cannot stall other reads; unreachable positions are refused."""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import httpx
import pytest

from api import projection_reads
from tests.api.client import BASE, Api, problem
from tests.api.test_write_api import NEW, RAIL

# A bound on how long a broken implementation may hang the test, not a speed threshold.
GUARD_SECONDS = 120


def test_a_position_beyond_the_log_is_refused_at_once(api: Api) -> None:
    head = api.head()
    for path in (BASE, "/api/v1/schedules"):
        for beyond in (head + 1, 4611686018427387904):
            detail = problem(api.get(path, params={"min_position": beyond}), 422)
            assert f"beyond the log's head ({head})" in detail
        reached = api.get(path, params={"min_position": head})
        assert reached.status_code == 200 and int(reached.headers["X-Log-Position"]) == head


def test_hostile_waiters_are_capped_and_do_not_stall_other_reads(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Waiters must not time out while the test looks at them.
    monkeypatch.setattr(projection_reads, "MIN_POSITION_WAIT_SECONDS", GUARD_SECONDS)
    written = api.post(BASE, json=NEW)  # no follower here: the projection stays behind
    behind = int(written.headers["X-Log-Position"])
    waits: projection_reads.PositionWaits = api.app.state.position_waits
    limit = waits.limit
    assert limit == 64
    hostile, others = 100, 60
    headers = {"Authorization": f"Bearer {api.token('viewer')}"}

    def get(path: str, **params: Any) -> httpx.Response:
        response: httpx.Response = api.client.get(path, headers=headers, params=params)
        return response

    with ThreadPoolExecutor(hostile + others) as pool:
        waiters: set[Future[httpx.Response]] = {
            pool.submit(get, BASE, min_position=behind) for _ in range(hostile)
        }
        # Those over the cap are answered at once; the others keep waiting.
        refused: list[httpx.Response] = []
        while len(refused) < hostile - limit:
            done, waiters = wait(waiters, timeout=GUARD_SECONDS, return_when=FIRST_COMPLETED)
            assert done, "no waiter was turned away"
            refused += [f.result() for f in done]
        assert len(refused) == hostile - limit
        for response in refused:
            assert "readers are waiting" in problem(response, 503)
            assert response.headers["Retry-After"] == "1"
        assert waits.waiting == limit

        # Every other read answers while all the waiters still wait.
        reads = [
            pool.submit(get, BASE if i % 3 == 0 else f"{BASE}/{RAIL}" if i % 3 == 1 else BASE)
            for i in range(others)
        ] + [pool.submit(get, BASE, min_position=behind - 1) for _ in range(others)]
        finished, pending = wait(reads, timeout=GUARD_SECONDS)
        assert not pending, f"{len(pending)} reads queued behind the waiters"
        assert [f.result().status_code for f in finished] == [200] * len(reads)
        assert not any(f.done() for f in waiters), "a waiter was answered before its position"
        assert waits.waiting == limit

        # The projection catching up answers every waiter with it.
        api.project()
        answered, pending = wait(waiters, timeout=GUARD_SECONDS)
        assert not pending
        for future in answered:
            response = future.result()
            assert response.status_code == 200, response.text
            assert int(response.headers["X-Log-Position"]) >= behind
            assert "CMAP-PROS-HYDRO" in [i["code"] for i in response.json()["items"]]
    assert waits.waiting == 0


def test_the_follower_wakes_waiters_in_the_process(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A waiter is woken by the follower's report, not only by its own polling."""
    waits: projection_reads.PositionWaits = api.app.state.position_waits
    monkeypatch.setattr(waits, "poll_seconds", GUARD_SECONDS)  # only the follower can wake it
    entered = threading.Event()
    wait_for = waits.wait_for

    async def waiting(wanted: int) -> None:
        entered.set()
        await wait_for(wanted)

    monkeypatch.setattr(waits, "wait_for", waiting)
    written = api.post(BASE, json=NEW)
    behind = int(written.headers["X-Log-Position"])
    with ThreadPoolExecutor(1) as pool:
        waiter = pool.submit(api.get, BASE, params={"min_position": behind})
        assert entered.wait(GUARD_SECONDS)
        follower = api.services.follower
        follower.start()  # reports each batch to the waits (api/app.py)
        try:
            response = waiter.result(timeout=GUARD_SECONDS)
        finally:
            follower.stop()
    assert response.status_code == 200, response.text
    assert int(response.headers["X-Log-Position"]) >= behind


def test_openapi_lists_the_refusals_of_every_min_position_read(api: Api) -> None:
    spec = api.openapi()
    routes = [
        operation
        for item in spec["paths"].values()
        for operation in item.values()
        if any(p["name"] == "min_position" for p in operation.get("parameters", []))
    ]
    assert len(routes) >= 3  # the list, the schedules and one schedule
    for operation in routes:
        assert {"422", "503"} <= set(operation["responses"])
        assert "Retry-After" in operation["responses"]["503"]["headers"]
