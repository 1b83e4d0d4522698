"""How the types carried by events and snapshots are written to the event log.

The names below are stored with the data: never change one. Every process that reads
the log registers all of them (Tracker.register_transcodings does).
"""

from __future__ import annotations

import dataclasses
from datetime import date
from enum import Enum
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.commitment import Indicator, Milestone, PendingClosure
from domain.vocabulary import Evidence, Health, Pillar, Source, Status


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class EnumAsValue(Transcoding):
    """A plain Enum as its value. (A str-based Enum would be written as a bare string
    and come back as str, so the model's enums deliberately do not subclass str.)"""

    def __init__(self, enum: type[Enum], name: str) -> None:
        self.type = enum
        self.name = name

    def encode(self, obj: Enum) -> Any:
        return obj.value

    def decode(self, data: Any) -> Enum:
        member: Enum = self.type(data)
        return member


class DataclassAsDict(Transcoding):
    """A value dataclass as a dict of its fields (nested values transcoded in turn)."""

    def __init__(self, cls: type[Any], name: str) -> None:
        self.type = cls
        self.name = name

    def encode(self, obj: Any) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**data)


def register_all(transcoder: JSONTranscoder) -> None:
    transcoder.register(DateAsISO())
    transcoder.register(EnumAsValue(Pillar, "pillar"))
    transcoder.register(EnumAsValue(Status, "status"))
    transcoder.register(EnumAsValue(Health, "health"))
    transcoder.register(DataclassAsDict(Source, "source"))
    transcoder.register(DataclassAsDict(Evidence, "evidence"))
    transcoder.register(DataclassAsDict(Milestone, "milestone"))
    transcoder.register(DataclassAsDict(Indicator, "indicator"))
    transcoder.register(DataclassAsDict(PendingClosure, "pending_closure"))
