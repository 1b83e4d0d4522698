"""Rebuilding the read models beside the live ones (adapters/rebuild.py): readers see the
old read models, whole, until one transaction puts the new ones in their place."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select, update

from adapters import projection, timeline
from adapters.bootstrap import Services
from adapters.projection import COPY_FROM_EVENTS, ReadModelProjection
from adapters.read_models import ListFilters, list_commitments
from adapters.rebuild import (
    Rebuild,
    Rebuilder,
    RebuildRefused,
    RebuildStopped,
    rebuild_progress,
    shadow_name,
)
from adapters.tables import (
    READ_MODEL_TABLES,
    SHADOW_TABLES,
    commitment_summaries,
    events,
    milestone_rows,
    projection_positions,
)
from domain import clock
from domain.access import system
from domain.commands import AddMilestone, LogProgress
from tests.conftest import open_services
from tests.histories import FIRST_RECORDED, history
from tests.support import registration, write

CODES = ["CMAP-PROS-RAIL", "CMAP-SEC-CYBER", "CMAP-PROS-PORTS"]
WRITER = system("w")
STALE = "stale title, as only the old read models have it"

both_databases = pytest.mark.parametrize("seeded_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def seeded(seeded_url: str) -> Iterator[Services]:
    built = open_services(seeded_url)
    yield built
    built.close()


def dump(services: Services, tables: Any = READ_MODEL_TABLES) -> dict[str, list[Any]]:
    with services.database.reading() as connection:
        return {
            table.name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
            for table in tables
        }


def listed(services: Services) -> dict[str, str]:
    """The list as the API reads it (one snapshot): each item's title by code."""
    with services.database.reading() as connection:
        items, _ = list_commitments(connection, ListFilters(), today=date(2026, 11, 1), limit=500)
    return {item["code"]: item["title"] for item in items}


def fresh(services: Services) -> dict[str, list[Any]]:
    """The read models a fresh projection of the whole log gives (replayed in place)."""
    projection = ReadModelProjection(services.database, services.tracker, batch_size=1000)
    projection.reset()
    projection.catch_up()
    return dump(services)


def more_writes(services: Services, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        code = CODES[i % len(CODES)]
        write(services, LogProgress(percent=i % 100, as_of=date(2026, 10, 1), note=f"n{i}"),
              ref=code, principal=WRITER)  # fmt: skip
        if i % 5 == 0:
            write(services, AddMilestone(title=f"M{i}", due_date=date(2027, 1, 1)),
                  ref=code, principal=WRITER)  # fmt: skip


def make_stale(services: Services) -> None:
    """Old read models that differ from what a replay gives (as after a projection fix):
    every list item's title."""
    with services.database.writing() as connection:
        for row in connection.execute(select(commitment_summaries)).all():
            document = json.loads(row.document) | {"title": STALE}
            connection.execute(
                update(commitment_summaries)
                .where(commitment_summaries.c.commitment_id == row.commitment_id)
                .values(document=json.dumps(document))
            )


def event_count(services: Services) -> int:
    with services.database.reading() as connection:
        return int(connection.execute(select(func.count()).select_from(events)).scalar_one())


@both_databases
def test_readers_see_the_whole_old_read_models_until_the_switch(seeded: Services) -> None:
    """Old code: the rebuild emptied the tables first, and the list shrank to nothing."""
    more_writes(seeded, 12)
    seeded.projection.catch_up()
    make_stale(seeded)
    old = listed(seeded)
    assert len(old) >= 20 and set(old.values()) == {STALE}

    rebuild = Rebuild(seeded.database, seeded.tracker, batch_size=10)
    rebuild.begin()
    batches = 0
    while True:
        applied = rebuild.step()
        batches += 1
        assert listed(seeded) == old  # every read: the full set, the old content
        with seeded.database.reading() as connection:
            progress = rebuild_progress(connection)
        assert progress is not None and progress.position == rebuild.shadow.last_position
        if applied < 10:
            break
    assert batches > 5  # it was driven batch by batch

    position = rebuild.switch()
    assert position == seeded.projection.head() == seeded.projection.position()
    rebuilt = dump(seeded)
    titles = listed(seeded)
    assert titles.keys() == old.keys() and STALE not in titles.values()
    assert all(rows == [] for rows in dump(seeded, SHADOW_TABLES).values())
    with seeded.database.reading() as connection:
        assert rebuild_progress(connection) is None
    assert fresh(seeded) == rebuilt


@both_databases
def test_the_live_projection_goes_on_during_a_rebuild_and_after_the_switch(
    seeded: Services,
) -> None:
    """Writes during the replay reach the old read models at once, and the new ones by
    the switch; the live worker then carries on from the switched position, each event
    once (its next batch fails its compare-and-set and reads the new position)."""
    live = seeded.projection
    rebuild = Rebuild(seeded.database, seeded.tracker, batch_size=15)
    rebuild.begin()
    rebuild.step()
    more_writes(seeded, 10)
    live.catch_up()
    assert "M0" in milestone_titles(seeded)  # the old read models keep following the log
    rebuild.step()
    more_writes(seeded, 10, start=10)
    assert live.run_batch() > 0 and live.last_position == live.position()
    while rebuild.step() == 15:
        pass
    more_writes(seeded, 5, start=20)  # only the switch replays these
    position = rebuild.switch()
    assert position == live.head() == live.position()
    assert live.last_position is not None and live.last_position < position
    more_writes(seeded, 5, start=25)
    assert live.catch_up() == 5 + 1  # after the switch: only what came after it
    assert live.lag() == 0
    assert fresh(seeded) == dump(seeded)


def milestone_titles(services: Services) -> set[str]:
    with services.database.reading() as connection:
        return set(connection.execute(select(milestone_rows.c.title)).scalars())


@both_databases
def test_a_rebuild_that_dies_between_batches_leaves_live_intact(seeded: Services) -> None:
    more_writes(seeded, 12)
    seeded.projection.catch_up()
    make_stale(seeded)
    live_before, position_before = dump(seeded), seeded.projection.position()

    dying = Rebuild(seeded.database, seeded.tracker, batch_size=10)
    dying.begin()
    dying.step()
    dying.step()
    del dying  # the process dies: the shadow is half-filled, nothing else changed
    assert dump(seeded) == live_before and seeded.projection.position() == position_before
    assert any(dump(seeded, SHADOW_TABLES).values())
    with seeded.database.reading() as connection:
        left = rebuild_progress(connection)
    assert left is not None and left.position == 20

    # The next rebuild starts from scratch (what the dead one left is not trusted).
    rebuilder = Rebuilder(seeded.database, seeded.tracker, batch_size=10)
    assert rebuilder.run() == seeded.projection.head()
    assert STALE not in listed(seeded).values()
    assert fresh(seeded) == dump(seeded)


@both_databases
def test_a_switch_that_fails_changes_nothing(seeded: Services) -> None:
    seeded.projection.catch_up()
    make_stale(seeded)
    live_before = dump(seeded)
    rebuild = Rebuild(seeded.database, seeded.tracker, batch_size=1000)
    rebuild.begin()
    rebuild.step()
    shadow_before = dump(seeded, SHADOW_TABLES)
    more_writes(seeded, 3)  # so the switch has events of its own to apply first

    def dies_after_applying(*args: Any) -> int:
        real(*args)
        raise SystemExit("killed in the switch")

    real = rebuild.shadow.apply_within
    rebuild.shadow.apply_within = dies_after_applying  # type: ignore[method-assign,assignment]
    with pytest.raises(SystemExit):
        rebuild.switch()
    assert dump(seeded) == live_before
    assert dump(seeded, SHADOW_TABLES) == shadow_before


@both_databases
def test_one_rebuild_at_a_time(seeded: Services) -> None:
    rebuilder = seeded.rebuilder
    held = rebuilder._claim()
    try:
        with pytest.raises(RebuildRefused, match="running already"):
            rebuilder.start()
        other = open_services(seeded.settings.database_url)  # another process, its lease
        try:
            with pytest.raises(RebuildRefused, match="another process"):
                other.rebuilder.run()
        finally:
            other.close()
    finally:
        held.close()
    rebuilder.start()
    assert rebuilder.wait(30) and rebuilder.last_error is None


def test_a_second_rebuild_elsewhere_takes_over_the_shadow(seeded: Services) -> None:
    """SQLite has no lock across processes: the later rebuild resets the shadow, and the
    earlier one stops at its next batch rather than write on top."""
    first = Rebuild(seeded.database, seeded.tracker, batch_size=10)
    first.begin()
    first.step()
    second = Rebuild(seeded.database, seeded.tracker, batch_size=10)
    second.begin()
    with pytest.raises(RebuildStopped):
        first.step()
    while second.step() == 10:
        pass
    second.switch()
    with pytest.raises(RebuildStopped):
        first.switch()
    assert fresh(seeded) == dump(seeded)


def test_a_rebuild_is_stopped_between_batches(seeded: Services) -> None:
    before = dump(seeded)
    rebuilder = Rebuilder(seeded.database, seeded.tracker, batch_size=10)
    reported: list[int] = []

    def stop_at_the_first_report(position: int, head: int) -> None:
        assert head == seeded.projection.head()
        reported.append(position)
        rebuilder._stop.set()

    with pytest.raises(RebuildStopped):
        rebuilder.run(progress=stop_at_the_first_report)
    assert dump(seeded) == before and not rebuilder.running
    with seeded.database.reading() as connection:
        shadow = connection.execute(
            select(projection_positions.c.position).where(
                projection_positions.c.name == shadow_name("read_models")
            )
        ).scalar_one()
    # Stopped between batches: the next batch is written while one is folded
    # (Rebuild.overlapped), so the batch in flight when the stop came is finished, whole,
    # and nothing after it.
    [position] = reported
    assert position % 10 == 0 and shadow % 10 == 0
    assert position <= shadow <= position + 10 and shadow < seeded.projection.head()


@both_databases
def test_a_rebuild_in_large_batches_writes_the_rows_small_batches_write(
    seeded: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large batches (a rebuild's) write their rows by COPY on PostgreSQL, small ones
    (the live follower's) in a pipeline of INSERTs: the rows must be the same."""
    more_writes(seeded, 400)  # so that a batch spans more than COPY_FROM_EVENTS positions
    assert event_count(seeded) > COPY_FROM_EVENTS
    small = ReadModelProjection(seeded.database, seeded.tracker, batch_size=50)
    small.reset()
    small.catch_up()
    few_at_a_time = dump(seeded)
    copies: list[str] = []
    if seeded.database.is_postgres:
        import psycopg

        copy = psycopg.Cursor.copy

        def counted(cursor: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
            copies.append(str(statement))
            return copy(cursor, statement, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "copy", counted)
    Rebuilder(seeded.database, seeded.tracker, batch_size=5_000).run()
    assert dump(seeded) == few_at_a_time
    if seeded.database.is_postgres:
        assert any("COPY shadow_progress_points" in c for c in copies), copies


projection_write = ReadModelProjection.write_folded


def stored(services: Services) -> dict[str, list[Any]]:
    """Every read-model row as the driver gives it back (SQLite's text for dates and
    times, not values parsed again): the bytes readers and SQL comparisons see."""
    with services.database.reading() as connection:
        return {
            table.name: sorted(
                (tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {table.name}")),
                key=repr,
            )
            for table in READ_MODEL_TABLES
        }


@both_databases
def test_a_rebuild_stores_what_the_projection_stores_one_event_at_a_time(
    seeded: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On generated histories of commitments written in turns: a rebuild (batches folded
    while the one before is written, and so few commitments kept in memory that marks are
    read back from the rows written) stores exactly the rows, byte for byte, that the
    projection applying one event per transaction stores."""
    codes = [f"CMAP-PROS-GEN{n}" for n in range(2)]
    for code in codes:
        with clock.frozen_at(FIRST_RECORDED):
            write(seeded, registration(code), principal=WRITER)
    steps = {code: history(random.Random(n), 40) for n, code in enumerate(codes)}
    for turn in range(40):
        for code in codes:
            step = steps[code][turn]
            with clock.frozen_at(step.recorded_at):
                write(seeded, step.command, ref=code)
    one_by_one = ReadModelProjection(seeded.database, seeded.tracker, batch_size=1)
    one_by_one.reset()
    one_by_one.catch_up()
    per_event = stored(seeded)
    assert len(per_event["commitment_timeline"]) == event_count(seeded) - tokens(seeded)
    assert per_event["progress_points"] and per_event["assessments"]

    # Fewer kept than commitments in turn (but not fewer than a batch touches): marks
    # are read back from the shadow, while the batch before may be in the writer's hands.
    # That writer waits until the folding reads a mark or waits for it (Rebuild._settle),
    # so a read that did not wait would find the batch before missing.
    monkeypatch.setattr(projection, "AGGREGATE_CACHE_SIZE", 1)
    reading = threading.Event()
    settle, write_folded = Rebuild._settle, projection_write

    def read_mark(*args: Any) -> Any:
        reading.set()
        return timeline.mark_at(*args)

    def settling(rebuild: Rebuild) -> None:
        reading.set()
        settle(rebuild)
        reading.clear()  # the next batch's writer waits again

    def writing(shadow: ReadModelProjection, *args: Any) -> None:
        reading.wait(timeout=30)
        write_folded(shadow, *args)

    monkeypatch.setattr(projection, "mark_at", read_mark)
    monkeypatch.setattr(Rebuild, "_settle", settling)
    monkeypatch.setattr(ReadModelProjection, "write_folded", writing)
    Rebuilder(seeded.database, seeded.tracker, batch_size=2).run()
    assert stored(seeded) == per_event


def tokens(services: Services) -> int:
    """Events of API tokens (no read model)."""
    with services.database.reading() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(events).where(events.c.topic.like("%ApiToken%"))
            ).scalar_one()
        )
