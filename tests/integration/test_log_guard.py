"""A log that shrinks is an alarm (adapters/log_guard.py), on SQLite and PostgreSQL: after
the newest events are deleted with their chain entries and tree nodes, `/readyz` is not
ready, the projection stops, `verify` fails, each saying why, and the next write takes a
new position, never a deleted one's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.ledger import verify
from tests.api.client import BASE, Api, problem, serving
from tests.api.test_write_api import NEW
from tests.tampering import sql, truncate

SEEDED_BOTH = pytest.mark.parametrize("seeded_url", ["sqlite", "postgresql"], indirect=True)
DROPPED = 5


@pytest.fixture
def server(seeded_url: str) -> Iterator[Api]:
    with serving(seeded_url) as api:
        api.project()
        yield api


def not_ready(api: Api) -> str:
    response = api.client.get("/readyz")
    assert response.status_code == 503, response.text
    detail: str = response.json()["detail"]
    return detail


def refused_to_project(api: Api) -> str:
    projection = api.services.projection
    before = projection.position()
    assert projection.run_batch() == 0
    assert projection.catch_up() == 0
    assert projection.position() == before
    assert projection.refused is not None
    return projection.refused


@SEEDED_BOTH
def test_a_shortened_log_is_an_alarm_and_its_positions_are_not_reused(server: Api) -> None:
    head = server.head()
    assert server.client.get("/readyz").status_code == 200
    truncate(server.services, head - DROPPED)

    shrank = f"the log shrank: its head is at {head - DROPPED}, but position {head} was written"
    assert shrank in not_ready(server)
    assert shrank in refused_to_project(server)
    checked = verify(server.services.database)
    assert not checked.verified and checked.problem is not None and shrank in checked.problem

    # A write continues after the highest position ever written, not after the head.
    written = server.post(BASE, json=NEW)
    assert written.status_code == 201, written.text
    assert int(written.headers["X-Log-Position"]) == head + 1
    assert server.head() == head + 1

    # The log is no longer shorter than its mark, but the write recorded what it found.
    found = (
        f"the log shrank: a write found its head at {head - DROPPED} after position "
        f"{head} had been written"
    )
    assert found in not_ready(server)
    assert found in refused_to_project(server)
    assert server.services.projection.position() == head  # the new event was not applied
    checked = verify(server.services.database)
    assert not checked.verified and checked.problem is not None and found in checked.problem
    assert "lag" not in server.client.get("/readyz").json()


@SEEDED_BOTH
def test_a_projection_ahead_of_the_log_is_an_alarm(server: Api) -> None:
    head = server.head()
    truncate(server.services, head - DROPPED)
    # The high-water mark lowered too: the projection's position still tells.
    sql(server.services, "UPDATE log_high_water SET position = :keep", keep=head - DROPPED)
    ahead = (
        f"the projection read_models is at position {head}, "
        f"ahead of the log's head {head - DROPPED}"
    )
    assert ahead in not_ready(server)
    assert ahead in refused_to_project(server)
    checked = verify(server.services.database)
    assert not checked.verified and checked.problem is not None and ahead in checked.problem


def test_an_intact_log_is_ready_and_verified(server: Api) -> None:
    assert server.client.get("/readyz").json()["status"] == "ready"
    assert verify(server.services.database).verified
    written = server.post(BASE, json=NEW)
    assert int(written.headers["X-Log-Position"]) == server.head()
    assert server.services.projection.catch_up() == 1
    assert server.services.projection.refused is None
    problem(server.get(BASE, params={"min_position": server.head() + 1}), 422)
