"""bench/results.json's rows: the issue's keys, `pass` for `passed`, details as more keys,
and null baseline fields for the figures that only a target judges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import common
from bench.common import Result

KEYS = ["name", "database", "value", "unit", "baseline", "baseline_value", "ratio", "target"]


def test_a_row_against_a_baseline_keeps_its_details() -> None:
    result = Result("verify", "sqlite", 90.0, "/s", "hashlib", 180.0, 0.5, ">= 0.5x", True,
                    {"events": 10.0})  # fmt: skip
    row = result.row()
    assert list(row) == [*KEYS, "pass", "events"]
    assert row["pass"] is True and row["ratio"] == 0.5 and row["events"] == 10.0


def test_a_row_without_baseline_writes_nulls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results.json")
    result = Result("report", "sqlite", 1.5, "s", None, None, None, "<= 1 s", False)
    common.write_results([result])
    common.print_table([result])
    [row] = json.loads((tmp_path / "results.json").read_text())
    assert (row["baseline"], row["baseline_value"], row["ratio"], row["pass"]) == (
        None, None, None, False,
    )  # fmt: skip
    assert "MISSED" in capsys.readouterr().out
