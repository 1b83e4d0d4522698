"""What differs over HTTP on PostgreSQL: concurrent writers (in one process and in two)
all landing, Idempotency-Key races between processes, min_position answered by a
follower that LISTENs, and which of several processes leads the projection. The
contract itself is tested on SQLite (the other modules)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.api.client import BASE, Api, serving
from tests.api.test_operations import samples, value
from tests.api.test_write_api import NEW, in_threads

pytestmark = pytest.mark.parametrize("seeded_url", ["postgresql"], indirect=True)


@pytest.fixture
def api(seeded_url: str) -> Iterator[Api]:
    with serving(seeded_url) as running:
        running.token("admin")
        yield running


@pytest.fixture
def other(api: Api) -> Iterator[Api]:
    """A second process on the same database, with the same tokens."""
    with serving(api.url) as running:
        running.tokens.update(api.tokens)
        yield running


def test_concurrent_writers_over_http_all_land(api: Api) -> None:
    url = f"{BASE}/CMAP-PROS-PORTS/progress"
    before = len(api.history("CMAP-PROS-PORTS"))
    results = in_threads(
        12, lambda i: api.post(url, json={"percent": i, "as_of": "2026-05-01", "note": f"c{i}"})
    )
    assert [r.status_code for r in results] == [201] * 12, [r.text for r in results]
    history = api.history("CMAP-PROS-PORTS")
    assert {e["data"]["note"] for e in history[before:]} == {f"c{i}" for i in range(12)}
    assert sorted(r.headers["ETag"] for r in results) == sorted(
        f'"{e["version"]}"' for e in history[before:]
    )


def test_writers_in_two_processes_all_land(api: Api, other: Api) -> None:
    """Each process caches the commitment; the one whose copy is stale retries on a fresh
    load, so every write lands, in one order, with no version used twice."""
    url = f"{BASE}/CMAP-PROS-PORTS/progress"
    before = len(api.history("CMAP-PROS-PORTS"))
    # Both processes have the commitment cached before the race.
    assert (
        api.get(f"{BASE}/CMAP-PROS-PORTS").headers["ETag"]
        == other.get(f"{BASE}/CMAP-PROS-PORTS").headers["ETag"]
    )
    results = in_threads(
        12,
        lambda i: (api, other)[i % 2].post(
            url, json={"percent": i, "as_of": "2026-05-01", "note": f"c{i}"}
        ),
    )
    assert [r.status_code for r in results] == [201] * 12, [r.text for r in results]
    history = api.history("CMAP-PROS-PORTS")
    assert len(history) == before + 12
    assert {e["data"]["note"] for e in history[before:]} == {f"c{i}" for i in range(12)}
    assert len({r.headers["ETag"] for r in results}) == 12
    assert len({r.headers["X-Log-Position"] for r in results}) == 12
    assert api.json("/api/v1/ledger")["verified"]


def test_concurrent_retries_with_one_key_write_once(api: Api) -> None:
    url = f"{BASE}/CMAP-SEC-CYBER/health"
    body = {"rating": "amber", "rationale": "r"}
    head = api.head()
    results = in_threads(6, lambda _: api.post(url, json=body, headers={"Idempotency-Key": "k"}))
    assert [r.status_code for r in results] == [200] * 6
    assert len({r.content for r in results}) == 1
    assert sorted(r.headers.get("Idempotent-Replayed", "") for r in results) == [""] + ["true"] * 5
    assert api.head() == head + 1


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/health", {"rating": "amber", "rationale": "r"}, 200),
        # The repeat is refused by the rules (already attached): the record still answers.
        ("/evidence", {"url": "https://example.org/once", "title": "Once"}, 201),
    ],
    ids=["health", "evidence"],
)
def test_one_key_raced_from_two_processes_writes_once(
    api: Api, other: Api, path: str, body: dict[str, Any], status: int
) -> None:
    url = f"{BASE}/CMAP-SEC-CYBER{path}"
    head = api.head()
    results = in_threads(
        8, lambda i: (api, other)[i % 2].post(url, json=body, headers={"Idempotency-Key": "race"})
    )
    assert [r.status_code for r in results] == [status] * 8, [r.text for r in results]
    assert len({r.content for r in results}) == 1
    assert len({(r.headers["ETag"], r.headers["X-Log-Position"]) for r in results}) == 1
    assert sorted(r.headers.get("Idempotent-Replayed", "") for r in results) == [""] + ["true"] * 7
    assert api.head() == head + 1


def test_one_code_registered_from_two_processes_once(api: Api, other: Api) -> None:
    results = in_threads(6, lambda i: (api, other)[i % 2].post(BASE, json=NEW))
    assert sorted(r.status_code for r in results) == [201] + [409] * 5, [r.text for r in results]
    assert [e["type"] for e in api.history("CMAP-PROS-HYDRO")] == ["Registered"]


def test_min_position_is_reached_by_a_listening_follower(api: Api) -> None:
    """A process whose follower LISTENs serves its own writes and another process's."""
    with serving(api.url, projector=True) as follower:
        follower.tokens.update(api.tokens)
        for writer in (api, follower):
            code = f"CMAP-PROS-{'HYDRO' if writer is api else 'SOLAR'}"
            written = writer.post(BASE, json=NEW | {"code": code})
            assert written.status_code == 201, written.text
            position = int(written.headers["X-Log-Position"])
            listed = follower.get(BASE, params={"min_position": position, "q": code})
            assert listed.status_code == 200, listed.text
            assert [i["code"] for i in listed.json()["items"]] == [code]
            assert int(listed.headers["X-Log-Position"]) >= position
        ready = follower.client.get("/readyz").json()["projection"]
        assert ready["follower"] in ("running", "waiting") and ready["last_error"] is None


def test_readyz_and_metrics_say_which_process_leads_and_the_leases_epoch(api: Api) -> None:
    with serving(api.url, projector=True) as first, serving(api.url, projector=True) as second:
        apps = (first, second)

        def leases(app: Api) -> dict[str, Any]:
            return dict(app.client.get("/readyz").json()["leases"])

        wait_for(lambda: "read_models" in leases(first))
        [leader] = [a for a in apps if leases(a)["read_models"]["held_here"]]
        standby = second if leader is first else first
        epoch = leases(standby)["read_models"]["epoch"]
        assert leases(standby)["read_models"] == {"epoch": epoch, "held_here": False}
        assert "report_scheduler" not in leases(leader)  # no scheduler runs here
        found = samples(leader)
        assert value(found, "commitments_lease_epoch", lease="read_models") == epoch
        assert value(found, "commitments_projection_follower_active") == 1
        assert value(samples(standby), "commitments_projection_follower_active") == 0
        # The leader stops (and releases its lease): the standby takes it, a new epoch.
        leader.app.state.services.follower.stop()
        wait_for(lambda: leases(standby)["read_models"]["held_here"])
        assert leases(standby)["read_models"]["epoch"] == epoch + 1


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)
