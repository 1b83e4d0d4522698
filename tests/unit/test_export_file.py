"""The export's reader on hand-made files: what import and the offline verifier both rely on."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable

import pytest

from domain.export_file import EXPORT_FORMAT, EventLine, ExportReader, Unreadable
from domain.log_bytes import GENESIS, canonical_bytes, chain_hash
from domain.merkle import Frontier, leaf_hash

HEADER = json.dumps({"format": EXPORT_FORMAT, "format_version": 2})
ORIGINATOR = uuid.UUID("12345678-1234-5678-1234-567812345678")


def export(count: int) -> list[str]:
    """A valid export of `count` events at positions 1, 3, 5, ... (gaps are allowed)."""
    lines, chain, frontier = [HEADER], GENESIS, Frontier()
    for index in range(count):
        position, state = 2 * index + 1, f'{{"n":{index}}}'.encode()
        canonical = canonical_bytes(position, ORIGINATOR, index + 1, "t:E", state)
        chain = chain_hash(chain, canonical)
        record = {
            "position": position,
            "originator_id": str(ORIGINATOR),
            "originator_version": index + 1,
            "topic": "t:E",
            "state": base64.b64encode(state).decode(),
            "hash": chain,
            "leaf": index,
        }
        lines.append(json.dumps(record))
        frontier, _ = frontier.append(leaf_hash(canonical))
    trailer = {
        "end": True,
        "events": count,
        "head_position": 2 * count - 1 if count else 0,
        "chain_head": chain if count else None,
        "tree_size": count,
        "root_hash": frontier.root().hex(),
        "reports": 0,
        "checkpoints": 0,
    }
    return [*lines, json.dumps(trailer)]


def test_a_valid_file_gives_its_events_and_describes_the_log_before_each() -> None:
    reader = ExportReader(export(5))
    sizes = []
    for line in reader:
        assert isinstance(line, EventLine)
        sizes.append(reader.size)
    assert sizes == [0, 1, 2, 3, 4]
    assert (reader.size, reader.head_position) == (5, 9)
    assert reader.chain_head == json.loads(export(5)[-2])["hash"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda lines: lines.insert(3, "[" * 100_000 + "]" * 100_000), "line 4 is not JSON"),
        (lambda lines: lines.insert(3, "[1]"), "line 4 is not a JSON object"),
        (lambda lines: lines.__delitem__(2), "line 3: leaf index 2, but it is event 1"),
        (lambda lines: lines.pop(), "no end line: it is cut short"),
        (lambda lines: lines.append(lines[1]), "line 8 comes after the end line"),
        (
            lambda lines: lines.insert(3, json.dumps({"report": {}, "artefacts": []})),
            "line 4 is not an archived report",
        ),
    ],
    ids=["nested-too-deep", "not-an-object", "dropped-event", "no-end", "after-end", "report"],
)
def test_a_damaged_file_is_refused_naming_the_line(
    damage: Callable[[list[str]], None], message: str
) -> None:
    lines = export(5)
    damage(lines)
    with pytest.raises(Unreadable, match=message):
        list(ExportReader(lines))


def test_an_event_after_an_archived_report_is_refused() -> None:
    lines = export(2)
    report = {"report": {"id": "r", "log_position": 1}, "artefacts": []}
    lines.insert(2, json.dumps(report))
    with pytest.raises(Unreadable, match="line 4: an event after the archived reports"):
        list(ExportReader(lines))
