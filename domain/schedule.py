"""Report schedules: when progress reports are generated, as event-sourced aggregates so
every change is audited in the same chained log as the commitments.

Topics are stored: never rename this module or its events.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain import clock
from domain.commands import DefineSchedule
from domain.cron import check_timezone, cron_trigger
from domain.errors import InvalidValue, StateConflict
from domain.vocabulary import MAX_TITLE, check_text

SCHEDULE_NAMESPACE = uuid5(NAMESPACE_URL, "urn:commitments-tracker:report-schedule")
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
REPORT_FORMATS = ("json", "csv", "md", "html", "xlsx")
# The languages reports are written in (adapters/i18n.py has their catalogues).
REPORT_LANGUAGES = ("en", "fr", "es")
MAX_PERIOD_DAYS = 366


def schedule_id(name: str) -> UUID:
    return uuid5(SCHEDULE_NAMESPACE, check_schedule_name(name))


def check_schedule_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidValue(
            f"schedule name {name!r} must be 1-63 lower-case letters, digits, '-' or '_'"
        )
    return name


def check_formats(formats: Sequence[str]) -> list[str]:
    if not formats:
        raise InvalidValue(f"formats must name at least one of {', '.join(REPORT_FORMATS)}")
    unknown = [f for f in formats if f not in REPORT_FORMATS]
    if unknown:
        raise InvalidValue(f"unknown report format {unknown[0]!r}; use {', '.join(REPORT_FORMATS)}")
    return sorted(set(formats), key=REPORT_FORMATS.index)


def check_period(period_days: int) -> int:
    if isinstance(period_days, bool) or not isinstance(period_days, int):
        raise InvalidValue("period_days must be a whole number of days")
    if not 1 <= period_days <= MAX_PERIOD_DAYS:
        raise InvalidValue(f"period_days must be from 1 to {MAX_PERIOD_DAYS}")
    return period_days


def check_language(language: str) -> str:
    if language not in REPORT_LANGUAGES:
        raise InvalidValue(f"language must be one of {', '.join(REPORT_LANGUAGES)}")
    return language


class ReportSchedule(Aggregate):
    """A named, cron-driven report. Removing it keeps its history; defining the same
    name again brings it back."""

    class Event(Aggregate.Event):
        actor: str

        @staticmethod
        def create_timestamp() -> datetime:
            return clock.now()

    class Defined(Aggregate.Created, Event):
        """`language` from version 2 on (the reports' language; English before)."""

        class_version = 2

        name: str
        cron: str
        formats: list[str]
        timezone: str
        period_days: int
        language: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["language"] = "en"

        def apply(self, aggregate: ReportSchedule) -> None:
            aggregate.name = self.name
            aggregate.changed_by = self.actor
            aggregate._define(
                self.cron, self.formats, self.timezone, self.period_days, self.language
            )

    class Redefined(Event):
        class_version = 2

        cron: str
        formats: list[str]
        timezone: str
        period_days: int
        language: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["language"] = "en"

        def apply(self, aggregate: ReportSchedule) -> None:
            aggregate.changed_by = self.actor
            aggregate._define(
                self.cron, self.formats, self.timezone, self.period_days, self.language
            )

    class Removed(Event):
        def apply(self, aggregate: ReportSchedule) -> None:
            aggregate.changed_by = self.actor
            aggregate.active = False

    def __init__(self) -> None:
        # Only declarations: the Defined event's apply sets every field.
        self.active = False

    name: str
    cron: str
    formats: list[str]
    timezone: str
    period_days: int
    active: bool
    changed_by: str
    # A class default too: snapshots taken before schedules had a language.
    language: str = "en"

    def _define(
        self, cron: str, formats: list[str], timezone: str, period_days: int, language: str
    ) -> None:
        self.cron = cron
        self.formats = list(formats)
        self.timezone = timezone
        self.period_days = period_days
        self.language = language
        self.active = True

    @classmethod
    def define(cls, command: DefineSchedule, *, actor: str) -> ReportSchedule:
        return cls._create(
            cls.Defined,
            id=schedule_id(command.name),
            actor=_check_actor(actor),
            name=command.name,
            **_checked(command),
        )

    def redefine(self, command: DefineSchedule, *, actor: str) -> None:
        fields = _checked(command)
        if self.active and all(getattr(self, k) == v for k, v in fields.items()):
            raise StateConflict(f"schedule {self.name} already has exactly these settings")
        self.trigger_event(self.Redefined, actor=_check_actor(actor), **fields)

    def remove(self, *, actor: str) -> None:
        if not self.active:
            raise StateConflict(f"schedule {self.name} is already removed")
        self.trigger_event(self.Removed, actor=_check_actor(actor))


def _check_actor(actor: str) -> str:
    return check_text(actor, "actor", required=True, limit=MAX_TITLE)


def _checked(command: DefineSchedule) -> dict[str, object]:
    """The settings of a definition, normalised; a cron that cannot run is refused."""
    cron = " ".join(check_text(command.cron, "cron", required=True, limit=100).split())
    timezone = check_timezone(command.timezone)
    cron_trigger(cron, timezone, now=clock.now())
    return {
        "cron": cron,
        "formats": check_formats(command.formats),
        "timezone": timezone,
        "period_days": check_period(command.period_days),
        "language": check_language(command.language),
    }
