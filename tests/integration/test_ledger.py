"""Tamper evidence and backups: raw-SQL tampering is caught at its position; an export
imported into a new database reproduces positions, versions, timestamps and chain head."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from adapters.backup import ImportRefused, export_log, import_log
from adapters.bootstrap import Services
from adapters.ledger import verify
from adapters.tables import READ_MODEL_TABLES, event_chain, events
from domain.access import system
from domain.commands import LogProgress, RateHealth, RegisterCommitment, Together
from domain.vocabulary import Health, Pillar
from tests.conftest import PostgresDatabases, open_services
from tests.support import write

RAIL = "CMAP-PROS-RAIL"


@pytest.fixture
def seeded(seeded_url: str) -> Iterator[Services]:
    """The services of one process on a database holding the seeds and sample history."""
    built = open_services(seeded_url)
    yield built
    built.close()


def execute(services: Services, sql: str, **params: Any) -> None:
    with services.database.writing() as connection:
        connection.execute(text(sql), params)


def state_of(services: Services, position: int) -> bytes:
    with services.database.reading() as connection:
        return bytes(
            connection.execute(select(events.c.state).where(events.c.id == position)).scalar_one()
        )


# ---- tampering ---------------------------------------------------------------------------------


def test_an_untouched_log_verifies(seeded: Services) -> None:
    result = verify(seeded.database)
    assert result.verified and result.first_bad_position is None and result.problem is None
    assert result.events == result.head_position == seeded.projection.head() > 100
    assert result.chain_head is not None and len(result.chain_head) == 64
    assert result.chain_head == seeded.reports.chain_head_at(result.head_position)


def test_an_empty_log_verifies(sqlite_url: str) -> None:
    services = open_services(sqlite_url)
    try:
        result = verify(services.database)
    finally:
        services.close()
    assert (result.verified, result.events, result.head_position, result.chain_head) == (
        True,
        0,
        0,
        None,
    )


def test_a_changed_byte_is_caught_at_its_position(seeded: Services) -> None:
    state = bytearray(state_of(seeded, 42))
    state[5] ^= 0x01
    execute(seeded, "UPDATE tracker_events SET state = :s WHERE id = 42", s=bytes(state))
    result = verify(seeded.database)
    assert (result.verified, result.first_bad_position) == (False, 42)
    assert result.problem == "hash does not match the event"
    assert result.events == 41 and result.head_position == 41
    assert result.chain_head == seeded.reports.chain_head_at(41)  # the last good entry


def test_a_changed_topic_or_version_is_caught(seeded: Services) -> None:
    execute(seeded, "UPDATE tracker_events SET originator_version = 999 WHERE id = 30")
    assert verify(seeded.database).first_bad_position == 30


def test_a_deleted_event_is_caught(seeded: Services) -> None:
    execute(seeded, "DELETE FROM tracker_events WHERE id = 60")
    result = verify(seeded.database)
    assert (result.first_bad_position, result.problem) == (
        60,
        "chain entry has no event (deleted?)",
    )


def test_a_deleted_event_and_its_chain_entry_are_caught_at_the_next(seeded: Services) -> None:
    execute(seeded, "DELETE FROM tracker_events WHERE id = 60")
    execute(seeded, "DELETE FROM event_chain WHERE position = 60")
    assert verify(seeded.database).first_bad_position == 61


def test_reordered_events_are_caught(seeded: Services) -> None:
    first, second = state_of(seeded, 70), state_of(seeded, 71)
    execute(seeded, "UPDATE tracker_events SET state = :s WHERE id = 70", s=second)
    execute(seeded, "UPDATE tracker_events SET state = :s WHERE id = 71", s=first)
    assert verify(seeded.database).first_bad_position == 70


def test_an_inserted_event_is_caught(seeded: Services) -> None:
    head = verify(seeded.database).head_position
    execute(
        seeded,
        "INSERT INTO tracker_events (id, originator_id, originator_version, topic, state) "
        "SELECT :new, originator_id, 999, topic, state FROM tracker_events WHERE id = 5",
        new=head + 1,
    )
    result = verify(seeded.database)
    assert (result.first_bad_position, result.problem) == (head + 1, "event has no chain entry")
    execute(
        seeded,
        "INSERT INTO event_chain (position, hash, leaf) VALUES (:p, :h, :l)",
        p=head + 1,
        h="ab" * 32,
        l=head,
    )
    assert verify(seeded.database).first_bad_position == head + 1


def test_a_changed_chain_entry_is_caught(seeded: Services) -> None:
    execute(seeded, "UPDATE event_chain SET hash = :h WHERE position = 80", h="00" * 32)
    result = verify(seeded.database)
    assert (result.first_bad_position, result.problem) == (80, "hash does not match the event")


def test_events_written_after_tampering_do_not_hide_it(seeded: Services) -> None:
    execute(seeded, "UPDATE event_chain SET hash = :h WHERE position = 10", h="11" * 32)
    write(seeded, LogProgress(percent=99, as_of=date(2026, 10, 1), note="n"), ref=RAIL)
    assert verify(seeded.database).first_bad_position == 10


# ---- export and import -------------------------------------------------------------------------


@pytest.fixture
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Makes a second, empty, migrated database of the same kind as a given one."""
    dropped: list[Callable[[], None]] = []

    def make(like: str) -> str:
        if like.startswith("sqlite"):
            path = tmp_path / "target.sqlite"
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
            return f"sqlite:///{path}"
        postgres: PostgresDatabases = request.getfixturevalue("postgres")
        name = postgres.create(template=request.getfixturevalue("postgres_template"))
        dropped.append(lambda: postgres.drop(name))
        return postgres.url_of(name)

    yield make
    for drop in dropped:
        drop()


def dump(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the log, the chain and the read models, in a stable order."""
    with services.database.reading() as connection:
        return {
            table.name: sorted((tuple(r) for r in connection.execute(select(table))), key=repr)
            for table in (events, event_chain, *READ_MODEL_TABLES)
        }


def round_trip(source: Services, target_url: str, tmp_path: Path) -> Services:
    path = tmp_path / "log.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        exported = export_log(source.database, handle)
    restored = open_services(target_url)
    try:
        imported = import_log(restored.database, path)
        assert imported == exported
        restored.projection.reset()
        restored.projection.catch_up()
    except BaseException:
        restored.close()
        raise
    return restored


def check_round_trip(source: Services, target_url: str, tmp_path: Path) -> None:
    source.projection.catch_up()
    restored = round_trip(source, target_url, tmp_path)
    try:
        source_check, target_check = verify(source.database), verify(restored.database)
        assert target_check.verified
        assert target_check == source_check  # the same chain and the same Merkle root
        assert dump(restored) == dump(source)
        original, copy = source.tracker.get(RAIL), restored.tracker.get(RAIL)
        assert (copy.version, copy.modified_on, copy.created_on) == (
            original.version,
            original.modified_on,
            original.created_on,
        )
        # The restored store takes new writes after the imported positions.
        after = write(
            restored, LogProgress(percent=50, as_of=date(2026, 10, 1), note="after"), ref=RAIL
        )
        assert after.position == source_check.head_position + 1
        assert after.version == original.version + 1
        assert verify(restored.database).verified
    finally:
        restored.close()
    header = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[0])
    assert header["format"] == "commitments-event-log"


def more_history(services: Services, rounds: int) -> None:
    """A few hundred more events on seeded commitments."""
    for n, code in enumerate(["CMAP-PROS-RAIL", "CMAP-SEC-CYBER", "CMAP-PROS-PORTS"][:rounds]):
        ratings = tuple(
            RateHealth(rating=Health.GREEN if i % 2 else Health.AMBER, rationale=f"{n}-{i}")
            for i in range(60)
        )
        write(services, Together(ratings), ref=code, principal=system("load"))


@pytest.mark.parametrize("seeded_url", ["sqlite", "postgresql"], indirect=True)
def test_export_import_reproduces_the_log_and_the_read_models(
    seeded: Services, target: Callable[[str], str], tmp_path: Path
) -> None:
    more_history(seeded, 3)
    assert verify(seeded.database).events > 300
    check_round_trip(seeded, target(seeded.settings.database_url), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_100000_event_log_round_trips(
    database_url: str, services: Services, target: Callable[[str], str], tmp_path: Path
) -> None:
    codes = [f"CMAP-LOAD-C{i:03d}" for i in range(99)] + [RAIL]
    load = system("load")
    for code in codes:
        command = RegisterCommitment(
            code=code,
            title="Load",
            pillar=Pillar.GOVERNANCE,
            sectors=("governance",),
            parties=("CA", "MX"),
            lead_party="joint",
        )
        write(services, command, principal=load)
    for code in codes:
        steps = tuple(
            LogProgress(percent=i % 101, as_of=date(2026, 1, 1), note=f"n{i}") for i in range(999)
        )
        write(services, Together(steps), ref=code, principal=load)
    assert verify(services.database).events == 100_000 + 100  # + automatic status changes
    check_round_trip(services, target(database_url), tmp_path)


def test_import_refuses_a_non_empty_target(seeded: Services, tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        export_log(seeded.database, handle)
    before = verify(seeded.database)
    with pytest.raises(ImportRefused, match=f"not empty: it has {before.events} events"):
        import_log(seeded.database, path)
    assert verify(seeded.database) == before


def test_import_refuses_a_missing_file(sqlite_url: str, tmp_path: Path) -> None:
    services = open_services(sqlite_url)
    try:
        with pytest.raises(ImportRefused, match="cannot read"):
            import_log(services.database, tmp_path / "nowhere.jsonl")
    finally:
        services.close()


def _set(index: int, value: str) -> Callable[[list[str]], None]:
    return lambda lines: lines.__setitem__(index, value)


def _edit(index: int, old: str, new: str) -> Callable[[list[str]], None]:
    return lambda lines: lines.__setitem__(index, lines[index].replace(old, new))


DAMAGES = {
    "changed-version": (
        _edit(3, '"originator_version":', '"originator_version":1'),
        "line 4: the event at position 3 does not give the chain hash",
    ),
    "deleted-line": (lambda lines: lines.__delitem__(5), "line 6: leaf index 5, but it is event 4"),
    "repeated-line": (
        lambda lines: lines.insert(5, lines[4]),
        "line 6: position 4 is out of order",
    ),
    "not-json": (_set(2, "{broken"), "line 3 is not JSON"),
    "not-an-event": (_set(2, '{"position": 2}'), "line 3 is not an event line"),
    "no-end-line": (lambda lines: lines.pop(), "no end line: it is cut short"),
    "after-the-end": (lambda lines: lines.append(lines[1]), "line .* comes after the end line"),
    "wrong-count": (_edit(-1, '"events": ', '"events": 1'), "the end line states events"),
    "wrong-root": (
        _edit(-1, '"root_hash": "', '"root_hash": "00'),
        "the end line states root_hash",
    ),
    "wrong-leaf": (_edit(4, '"leaf":3', '"leaf":7'), "line 5: leaf index 7, but it is event 3"),
    "other-format": (
        _set(0, '{"format": "other"}'),
        "line 1 is not the header of a commitments-event-log file",
    ),
    "newer-format": (
        _edit(0, '"format_version": 2', '"format_version": 3'),
        "line 1: unknown format_version 3",
    ),
}


@pytest.mark.parametrize(("damage", "message"), DAMAGES.values(), ids=DAMAGES.keys())
def test_import_refuses_a_file_that_does_not_verify_naming_the_line(
    seeded: Services,
    target: Callable[[str], str],
    tmp_path: Path,
    damage: Callable[[list[str]], None],
    message: str,
) -> None:
    buffer = io.StringIO()
    export_log(seeded.database, buffer)
    lines = buffer.getvalue().splitlines()
    damage(lines)
    path = tmp_path / "damaged.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    restored = open_services(target(seeded.settings.database_url))
    try:
        with pytest.raises(ImportRefused, match=message):
            import_log(restored.database, path)
        assert verify(restored.database).events == 0  # nothing was written
    finally:
        restored.close()


def _analyzed(services: Services, table: str) -> int:
    """How many times the table was ANALYZEd by hand (autovacuum's are counted apart)."""
    with services.database.reading() as connection:
        return int(
            connection.execute(
                text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = :t"),
                {"t": table},
            ).scalar_one()
        )


@pytest.mark.parametrize("seeded_url", ["postgresql"], indirect=True)
def test_an_import_and_a_rebuild_leave_postgresql_planner_statistics_fresh(
    seeded: Services, target: Callable[[str], str], tmp_path: Path
) -> None:
    """A freshly loaded table looks empty to the planner until it is analysed, and it then
    scans what it should look up (a commitment's events with their chain entries)."""
    seeded.projection.catch_up()
    path = tmp_path / "log.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        export_log(seeded.database, handle)
    restored = open_services(target(seeded.settings.database_url))
    try:
        assert _analyzed(restored, events.name) == 0
        import_log(restored.database, path)
        assert _analyzed(restored, events.name) == 1
        assert _analyzed(restored, event_chain.name) == 1
        restored.rebuilder.run()
        assert _analyzed(restored, "progress_points") == 2
    finally:
        restored.close()
