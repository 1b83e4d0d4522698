"""Cron expressions of report schedules: what is valid, when they fire, which tick is due
(pure calendar arithmetic: no scheduler, no waiting)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain import clock
from domain.commands import DefineSchedule
from domain.cron import check_timezone, cron_trigger, latest_tick
from domain.errors import InvalidValue, StateConflict
from domain.schedule import ReportSchedule

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)  # a Tuesday


def fires(cron: str, after: datetime, count: int, timezone: str = "UTC") -> list[datetime]:
    """The next `count` fire times strictly after `after`."""
    trigger = cron_trigger(cron, timezone, now=after)
    times: list[datetime] = []
    previous = None
    moment = after + timedelta(seconds=1)
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, moment)
        assert fire is not None
        times.append(fire)
        previous, moment = fire, fire + timedelta(seconds=1)
    return times


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("61 * * * *", "not valid"),
        ("0 25 * * *", "not valid"),
        ("0 8 0 * *", "not valid"),
        ("0 8 * 13 *", "not valid"),
        ("0 8 * * 8", "use 0-7"),
        ("0 8 * * 6-1", "use 0-7"),
        ("* * *", "must have 5 fields"),
        ("* * * * * *", "must have 5 fields"),
        ("every day", "must have 5 fields"),
        ("", "must have 5 fields"),
        ("0 8 31 2 *", "never fires"),
    ],
)
def test_malformed_or_impossible_expressions_are_refused(cron: str, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        cron_trigger(cron, "UTC", now=NOW)


def test_weekday_0_and_7_are_sunday_as_in_standard_cron() -> None:
    for cron in ("0 8 * * 0", "0 8 * * 7"):
        sundays = fires(cron, NOW, 3)
        assert [f.weekday() for f in sundays] == [6, 6, 6]
        assert sundays[0] == datetime(2026, 11, 29, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("weekdays", "expected"),
    [
        ("1-5", [1, 2, 3, 4, 0, 1, 2]),  # Monday to Friday (Python: Monday is 0)
        ("mon-fri", [1, 2, 3, 4, 0, 1, 2]),
        ("5-7", [4, 5, 6, 4, 5, 6, 4]),  # Friday to Sunday, across the end of the week
        ("1-5/2", [2, 4, 0, 2, 4, 0, 2]),  # Monday, Wednesday, Friday
        ("0,3", [2, 6, 2, 6, 2, 6, 2]),
    ],
)
def test_weekday_numbers_and_ranges_follow_standard_cron(
    weekdays: str, expected: list[int]
) -> None:
    monday = datetime(2026, 11, 23, 9, tzinfo=UTC)
    assert [f.weekday() for f in fires(f"0 8 * * {weekdays}", monday, 7)] == expected


def test_steps_and_lists_in_the_other_fields() -> None:
    assert fires("*/15 * * * *", NOW, 3) == [
        NOW + timedelta(minutes=15),
        NOW + timedelta(minutes=30),
        NOW + timedelta(minutes=45),
    ]
    assert [f.hour for f in fires("0 6,18 * * *", NOW, 3)] == [18, 6, 18]


def test_the_expression_is_read_in_the_schedules_timezone() -> None:
    [first] = fires("0 6 1 * *", NOW, 1, "America/Mexico_City")
    assert first.astimezone(UTC) == datetime(2026, 12, 1, 12, tzinfo=UTC)  # 06:00 at UTC-6


def test_unknown_timezones_are_refused() -> None:
    for timezone in ("Mars/Olympus", "", "../etc/passwd", "UTC+5"):
        with pytest.raises(InvalidValue, match="unknown timezone"):
            check_timezone(timezone)
        with pytest.raises(InvalidValue, match="unknown timezone"):
            cron_trigger("0 8 * * *", timezone, now=NOW)
    assert check_timezone("America/Mexico_City") == "America/Mexico_City"
    assert check_timezone("UTC") == "UTC"


def test_latest_tick_is_the_last_fire_time_at_or_before_now() -> None:
    monthly = cron_trigger("0 6 1 * *", "America/Mexico_City", now=NOW)
    tick = latest_tick(monthly, NOW)
    assert tick is not None and tick.astimezone(UTC) == datetime(2026, 11, 1, 12, tzinfo=UTC)

    quarterly = cron_trigger("*/15 * * * *", "UTC", now=NOW)
    assert latest_tick(quarterly, NOW) == NOW  # a tick at exactly now counts
    assert latest_tick(quarterly, NOW + timedelta(minutes=14, seconds=59)) == NOW
    assert latest_tick(quarterly, NOW - timedelta(seconds=1)) == NOW - timedelta(minutes=15)

    sunday = cron_trigger("0 8 * * 0", "UTC", now=NOW)
    assert latest_tick(sunday, NOW) == datetime(2026, 11, 22, 8, tzinfo=UTC)

    yearly = cron_trigger("0 0 1 1 *", "UTC", now=NOW)
    assert latest_tick(yearly, NOW) == datetime(2026, 1, 1, tzinfo=UTC)


def test_latest_tick_looks_back_about_a_year() -> None:
    leap_day = cron_trigger("0 0 29 2 *", "UTC", now=NOW)
    march_2028 = datetime(2028, 3, 1, tzinfo=UTC)
    assert latest_tick(leap_day, march_2028) == datetime(2028, 2, 29, tzinfo=UTC)
    # The last 29 February before NOW is further back than the look-back.
    assert latest_tick(leap_day, NOW) is None


# ---- schedules check their cron themselves ------------------------------------------------


def definition(**overrides: Any) -> DefineSchedule:
    fields: dict[str, Any] = {"name": "monthly", "cron": "0 6 1 * *", "formats": ("json",)}
    return DefineSchedule(**(fields | overrides))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cron": "61 * * * *"}, "not valid"),
        ({"cron": "0 8 * *"}, "5 fields"),
        ({"cron": "0 8 31 2 *"}, "never fires"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone"),
    ],
)
def test_a_schedule_refuses_a_cron_that_cannot_run(overrides: dict[str, Any], message: str) -> None:
    with clock.frozen_at(NOW), pytest.raises(InvalidValue, match=message):
        ReportSchedule.define(definition(**overrides), actor="admin")


def test_a_redefinition_checks_the_cron_too() -> None:
    with clock.frozen_at(NOW):
        schedule = ReportSchedule.define(definition(), actor="admin")
        with pytest.raises(InvalidValue, match="not valid"):
            schedule.redefine(definition(cron="0 8 * * 8"), actor="admin")
        with pytest.raises(InvalidValue, match="unknown timezone"):
            schedule.redefine(definition(timezone="Mars/Olympus"), actor="admin")
    assert schedule.version == 1 and schedule.cron == "0 6 1 * *"


def test_a_schedule_keeps_its_cron_normalised() -> None:
    with clock.frozen_at(NOW):
        schedule = ReportSchedule.define(definition(cron="  0   6 1 *  * "), actor="admin")
        assert schedule.cron == "0 6 1 * *"
        with pytest.raises(StateConflict, match="exactly these settings"):
            schedule.redefine(definition(cron="0 6 1 * *"), actor="admin")
        schedule.redefine(definition(cron="0 6 * * 1-5", timezone="Europe/Paris"), actor="b")
    assert (schedule.cron, schedule.timezone, schedule.changed_by) == (
        "0 6 * * 1-5",
        "Europe/Paris",
        "b",
    )
