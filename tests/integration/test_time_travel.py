"""Time travel on the SQL stores (Tracker.state with adapters/timeline.py): every answer
is replay's, however far the projection has got; the projection fills in the timeline of
a commitment projected before the timeline existed; a rebuild gives the same rows."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from adapters.bootstrap import Services
from adapters.tables import commitment_timeline
from domain import clock
from domain.commands import CommitmentCommand, RateHealth, Together
from domain.vocabulary import Health
from tests.conftest import open_services
from tests.histories import FIRST_RECORDED, compare, history, play
from tests.support import CODE, registration, write


def timeline_rows(services: Services) -> list[Any]:
    with services.database.reading() as connection:
        return list(
            connection.execute(
                select(commitment_timeline).order_by(
                    commitment_timeline.c.commitment_id, commitment_timeline.c.version
                )
            ).all()
        )


def recorded(services: Services, seed: int, steps: int) -> None:
    """A generated history, with one write of many events in the middle (snapshots
    inside a write)."""
    with clock.frozen_at(FIRST_RECORDED):
        write(services, registration())
    steps_done = history(random.Random(seed), steps)

    def run(command: CommitmentCommand) -> None:
        write(services, command, ref=CODE)

    play(steps_done[: steps // 2], run)
    with clock.frozen_at(steps_done[steps // 2].recorded_at):
        ratings = tuple(RateHealth(rating=Health.GREEN, rationale=f"bulk {i}") for i in range(230))
        run(Together(ratings))
    play(steps_done[steps // 2 :], run)


@pytest.mark.parametrize("seed", [1, 2])
def test_every_answer_is_the_replays_at_any_lag_of_the_projection(
    database_url: str, services: Services, seed: int
) -> None:
    recorded(services, seed, steps=40)
    services.projection.batch_size = 97
    reader = open_services(database_url)  # another process: nothing cached of the writes
    try:
        rng = random.Random(seed)
        for batches in (0, 1, 2, None):  # nothing indexed, part of it, all of it
            if batches != 0:
                services.projection.catch_up(max_batches=batches)
            assert compare(reader.tracker, CODE, rng, queries=40) > 40
        assert len(timeline_rows(services)) == reader.tracker.get(CODE).version
    finally:
        reader.close()


def test_the_projection_fills_in_a_timeline_it_did_not_keep_and_a_rebuild_agrees(
    database_url: str, services: Services
) -> None:
    recorded(services, seed=4, steps=20)
    services.projection.catch_up()
    complete = timeline_rows(services)
    # As after migration 0018 on a database whose events were projected already.
    with services.database.writing() as connection:
        connection.execute(delete(commitment_timeline))
    write(services, RateHealth(rating=Health.RED, rationale="after"), ref=CODE)
    upgraded = open_services(database_url)  # the process started after the migration
    try:
        upgraded.projection.catch_up()
    finally:
        upgraded.close()
    filled = timeline_rows(services)
    assert filled[:-1] == complete
    assert [row.version for row in filled] == list(range(1, len(complete) + 2))
    assert compare(services.tracker, CODE, random.Random(4), queries=30) > 30

    services.rebuilder.run()
    assert timeline_rows(services) == filled
    with services.database.reading() as connection:
        count = connection.execute(select(func.count()).select_from(commitment_timeline))
        assert count.scalar_one() == len(filled)
