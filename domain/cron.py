"""Cron expressions of report schedules: the one check of what is valid, and which tick
is due. APScheduler's CronTrigger does the calendar arithmetic (a pure calculation)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from domain.errors import InvalidValue

# How far back the latest tick is looked for.
_LOOKBACK = (timedelta(minutes=1), timedelta(hours=1), timedelta(days=1), timedelta(days=32),
             timedelta(days=367))  # fmt: skip
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def check_timezone(timezone: str) -> str:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidValue(
            f"unknown timezone {timezone!r} (use an IANA name such as UTC)"
        ) from None
    return timezone


def _weekdays(field: str) -> str:
    """Standard cron numbers weekdays 0-7 from Sunday; APScheduler from Monday. Numbers are
    turned into names (ranges expanded, since Sunday ends APScheduler's week)."""
    names = []
    for part in field.split(","):
        spec, _, step = part.partition("/")
        first, dash, last = spec.partition("-")
        if not (first.isdigit() and (not dash or last.isdigit())):
            names.append(part)  # '*', names, or something APScheduler will judge
            continue
        low, high = int(first), int(last) if dash else int(first)
        if high > 7 or low > high:
            raise InvalidValue(f"weekday {part!r} is not valid: use 0-7 (0 and 7: Sunday)")
        numbers = range(low, high + 1, int(step) if step.isdigit() and step != "0" else 1)
        names.extend(_WEEKDAYS[n] for n in numbers)
    return ",".join(dict.fromkeys(names))


def cron_trigger(cron: str, timezone: str, *, now: datetime) -> CronTrigger:
    """A standard 5-field crontab expression (minute hour day month weekday) as a trigger;
    an expression that is malformed or never fires after `now` is refused."""
    check_timezone(timezone)
    fields = cron.split()
    if len(fields) != 5:
        raise InvalidValue(f"cron {cron!r} must have 5 fields: minute hour day month weekday")
    minute, hour, day, month, weekday = fields
    try:
        trigger = CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_weekdays(weekday),
            timezone=ZoneInfo(timezone),
        )
    except (ValueError, KeyError) as error:
        raise InvalidValue(f"cron {cron!r} is not valid: {error}") from None
    if trigger.get_next_fire_time(None, now) is None:
        raise InvalidValue(f"cron {cron!r} never fires")
    return trigger


def latest_tick(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The last time at or before `now` that the trigger fired (or would have)."""
    for window in _LOOKBACK:
        tick = trigger.get_next_fire_time(None, now - window)
        if tick is None or tick > now:
            continue
        while True:
            following = trigger.get_next_fire_time(tick, tick + timedelta(seconds=1))
            if following is None or following > now:
                return tick  # type: ignore[no-any-return]
            tick = following
    return None
