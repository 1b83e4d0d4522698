"""A report schedule's language: recorded on its events from version 2; older events read
as English, so schedules defined before keep writing English reports."""

from __future__ import annotations

from typing import Any

from domain.schedule import ReportSchedule


def test_schedule_events_of_version_1_read_as_english() -> None:
    for event in (ReportSchedule.Defined, ReportSchedule.Redefined):
        state: dict[str, Any] = {"cron": "0 6 * * 1", "period_days": 30}
        event.upcast_v1_v2(state)
        assert state["language"] == "en"
    assert ReportSchedule.language == "en"  # snapshots taken before carry no language
