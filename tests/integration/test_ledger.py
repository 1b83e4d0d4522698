"""Tamper evidence and backups: raw-SQL tampering is caught at its position; an export
imported into a new database reproduces positions, versions, timestamps and chain head."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from adapters.backup import ImportRefused, export_log, import_log
from adapters.event_store import engine_of, open_tracker
from adapters.ledger import verify
from adapters.projection import ReadModelProjection
from adapters.seeds import seed
from adapters.tables import READ_MODEL_TABLES, events
from domain.commitment import Commitment
from domain.tracker import Tracker
from tests.conftest import PostgresDatabases


@pytest.fixture
def seeded(tracker: Tracker) -> Tracker:
    seed(tracker, demo=True)
    return tracker


def execute(tracker: Tracker, sql: str, **params: Any) -> None:
    with engine_of(tracker).begin() as connection:
        connection.execute(text(sql), params)


def state_of(tracker: Tracker, position: int) -> bytes:
    with engine_of(tracker).connect() as connection:
        return bytes(
            connection.execute(select(events.c.state).where(events.c.id == position)).scalar_one()
        )


def test_an_untouched_log_verifies(seeded: Tracker) -> None:
    result = verify(engine_of(seeded))
    assert result.verified and result.first_bad_position is None
    assert result.events == result.head_position > 100
    assert result.chain_head is not None and len(result.chain_head) == 64


def test_a_changed_byte_is_caught_at_its_position(seeded: Tracker) -> None:
    state = bytearray(state_of(seeded, 42))
    state[5] ^= 0x01
    execute(seeded, "UPDATE tracker_events SET state = :s WHERE id = 42", s=bytes(state))
    result = verify(engine_of(seeded))
    assert (result.verified, result.first_bad_position) == (False, 42)
    assert result.events == 41 and result.head_position == 41


def test_a_changed_topic_or_version_is_caught(seeded: Tracker) -> None:
    execute(seeded, "UPDATE tracker_events SET originator_version = 999 WHERE id = 30")
    assert verify(engine_of(seeded)).first_bad_position == 30


def test_a_deleted_event_is_caught(seeded: Tracker) -> None:
    execute(seeded, "DELETE FROM tracker_events WHERE id = 60")
    result = verify(engine_of(seeded))
    assert (result.first_bad_position, result.problem) == (
        60,
        "chain entry has no event (deleted?)",
    )


def test_a_deleted_event_and_its_chain_entry_are_caught_at_the_next(seeded: Tracker) -> None:
    execute(seeded, "DELETE FROM tracker_events WHERE id = 60")
    execute(seeded, "DELETE FROM event_chain WHERE position = 60")
    assert verify(engine_of(seeded)).first_bad_position == 61


def test_reordered_events_are_caught(seeded: Tracker) -> None:
    first, second = state_of(seeded, 70), state_of(seeded, 71)
    execute(seeded, "UPDATE tracker_events SET state = :s WHERE id = 70", s=second)
    execute(seeded, "UPDATE tracker_events SET state = :s WHERE id = 71", s=first)
    assert verify(engine_of(seeded)).first_bad_position == 70


def test_an_inserted_event_is_caught(seeded: Tracker) -> None:
    head = verify(engine_of(seeded)).head_position
    execute(
        seeded,
        "INSERT INTO tracker_events (id, originator_id, originator_version, topic, state) "
        "SELECT :new, originator_id, 999, topic, state FROM tracker_events WHERE id = 5",
        new=head + 1,
    )
    result = verify(engine_of(seeded))
    assert (result.first_bad_position, result.problem) == (head + 1, "event has no chain entry")
    execute(
        seeded, "INSERT INTO event_chain (position, hash) VALUES (:p, :h)", p=head + 1, h="ab" * 32
    )
    assert verify(engine_of(seeded)).first_bad_position == head + 1


def test_a_changed_chain_entry_is_caught(seeded: Tracker) -> None:
    execute(seeded, "UPDATE event_chain SET hash = :h WHERE position = 80", h="00" * 32)
    assert verify(engine_of(seeded)).first_bad_position == 80


def test_events_written_after_tampering_do_not_hide_it(seeded: Tracker) -> None:
    execute(seeded, "UPDATE event_chain SET hash = :h WHERE position = 10", h="11" * 32)
    seeded.log_progress("CMAP-PROS-RAIL", actor="a", percent=99, as_of=date(2026, 10, 1), note="n")
    assert verify(engine_of(seeded)).first_bad_position == 10


# ---- export and import -----------------------------------------------------------------


@pytest.fixture
def target_url(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty, migrated database of the same kind."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "target.sqlite"
        path.write_bytes(Path(request.getfixturevalue("sqlite_template")).read_bytes())
        yield f"sqlite:///{path}"
    else:
        postgres: PostgresDatabases = request.getfixturevalue("postgres")
        name = postgres.create(template=request.getfixturevalue("postgres_template"))
        yield postgres.url_of(name)
        postgres.drop(name)


def dump(tracker: Tracker) -> dict[str, list[tuple[Any, ...]]]:
    with engine_of(tracker).connect() as connection:
        return {
            table.name: sorted((tuple(r) for r in connection.execute(select(table))), key=repr)
            for table in (events, *READ_MODEL_TABLES)
        }


def round_trip(source: Tracker, target_url: str, tmp_path: Path) -> Tracker:
    path = tmp_path / "log.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        exported = export_log(engine_of(source), handle)
    target = open_tracker(target_url)
    imported = import_log(engine_of(target), path)
    assert imported == exported
    projection = ReadModelProjection(target)
    projection.rebuild()
    projection.catch_up()
    return target


def test_export_import_reproduces_the_log_and_the_read_models(
    seeded: Tracker, target_url: str, tmp_path: Path
) -> None:
    ReadModelProjection(seeded).catch_up()
    target = round_trip(seeded, target_url, tmp_path)
    try:
        source_check, target_check = verify(engine_of(seeded)), verify(engine_of(target))
        assert target_check.verified
        assert (target_check.head_position, target_check.chain_head) == (
            source_check.head_position,
            source_check.chain_head,
        )
        assert dump(target) == dump(seeded)
        original = seeded.get("CMAP-PROS-RAIL")
        restored = target.get("CMAP-PROS-RAIL")
        assert (restored.version, restored.modified_on) == (original.version, original.modified_on)
        # The restored store takes new writes after the imported positions.
        change = target.log_progress(
            "CMAP-PROS-RAIL", actor="a", percent=50, as_of=date(2026, 10, 1), note="after restore"
        )
        assert change.position == source_check.head_position + 1
        assert verify(engine_of(target)).verified
    finally:
        target.close()


def test_import_refuses_a_non_empty_target(seeded: Tracker, tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        export_log(engine_of(seeded), handle)
    with pytest.raises(ImportRefused, match="not empty"):
        import_log(engine_of(seeded), path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda lines: lines.__setitem__(
                3, lines[3].replace('"originator_version":', '"originator_version":1')
            ),
            "line 4",
        ),
        (lambda lines: lines.__delitem__(5), "line 6"),
        (lambda lines: lines.__setitem__(2, "{broken"), "line 3: not JSON"),
        (lambda lines: lines.pop(), "truncated"),
        (lambda lines: lines.__setitem__(0, '{"format": "other"}'), "line 1"),
    ],
)
def test_import_refuses_a_file_that_does_not_verify_naming_the_line(
    seeded: Tracker, target_url: str, tmp_path: Path, damage: Any, message: str
) -> None:
    buffer = io.StringIO()
    export_log(engine_of(seeded), buffer)
    lines = buffer.getvalue().splitlines()
    damage(lines)
    path = tmp_path / "damaged.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = open_tracker(target_url)
    try:
        with pytest.raises(ImportRefused, match=message):
            import_log(engine_of(target), path)
        assert verify(engine_of(target)).events == 0  # nothing was written
    finally:
        target.close()


def test_a_100000_event_log_round_trips(tracker: Tracker, target_url: str, tmp_path: Path) -> None:
    codes = [f"CMAP-LOAD-C{i:03d}" for i in range(100)]
    for code in codes:
        tracker.register(
            actor="load",
            code=code,
            title="Load",
            pillar="governance",
            sectors=["governance"],
            parties=["CA", "MX"],
            lead_party="joint",
        )

    def script(c: Commitment) -> None:
        for i in range(999):
            c.log_progress(actor="load", percent=i % 101, as_of=date(2026, 1, 1), note=f"n{i}")

    for code in codes:
        tracker.apply_script(code, script)
    ReadModelProjection(tracker).catch_up()
    target = round_trip(tracker, target_url, tmp_path)
    try:
        source_check, target_check = verify(engine_of(tracker)), verify(engine_of(target))
        assert source_check.events == target_check.events == 100_000 + 100  # + auto status changes
        assert target_check.chain_head == source_check.chain_head
        assert dump(target) == dump(tracker)
    finally:
        target.close()
    header, *_ = (tmp_path / "log.jsonl").read_text().splitlines()[:1]
    assert json.loads(header)["format"] == "commitments-event-log"
