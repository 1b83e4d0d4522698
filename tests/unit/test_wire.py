"""The request bodies made from the command classes (adapters/wire.py): one definition of
every write's parameters, read the same way by the API and the seeds."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from adapters import wire
from adapters.wire import body_model, parse, to_command
from api import json_body
from domain import commands
from domain.access import Role
from domain.commands import (
    UNCHANGED,
    AddMilestone,
    AttachEvidence,
    ChangeMilestone,
    ChangeStatus,
    CompleteMilestone,
    ConfirmClosure,
    DefineIndicator,
    DefineSchedule,
    IssueToken,
    LogProgress,
    PlannedMilestone,
    RateHealth,
    RecordMeasurement,
    RegisterCommitment,
    RejectClosure,
    ReviseDetails,
    TranslateText,
)
from domain.errors import InvalidValue
from domain.views import jsonable
from domain.vocabulary import Evidence, Health, Pillar, Source, Status

# Every command the API takes as a request body.
API_COMMANDS: list[type[Any]] = [
    RegisterCommitment,
    ReviseDetails,
    LogProgress,
    ChangeStatus,
    RateHealth,
    AddMilestone,
    ChangeMilestone,
    CompleteMilestone,
    DefineIndicator,
    RecordMeasurement,
    AttachEvidence,
    ConfirmClosure,
    RejectClosure,
    DefineSchedule,
    IssueToken,
    TranslateText,
]
# What the URL path names, for the commands that have PATH fields.
PATHS: dict[type[Any], dict[str, str]] = {
    ChangeMilestone: {"milestone_id": "m1"},
    CompleteMilestone: {"milestone_id": "m1"},
    RecordMeasurement: {"indicator_id": "i1"},
    TranslateText: {"language": "fr"},
}

by_name = pytest.mark.parametrize("command", API_COMMANDS, ids=lambda c: c.__name__)


def path_of(command: type[Any]) -> dict[str, str]:
    return PATHS.get(command, {})


def required(command: type[Any]) -> set[str]:
    """The fields a body must have: those without a default, but the path's."""
    return {
        f.name
        for f in dataclasses.fields(command)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    } - set(getattr(command, "PATH", ()))


def body_fields(command: type[Any]) -> set[str]:
    return {f.name for f in dataclasses.fields(command)} - set(getattr(command, "PATH", ()))


def refused(command: type[Any], data: dict[str, Any], **path: str) -> str:
    """The message of the InvalidValue that parsing `data` raises."""
    with pytest.raises(InvalidValue) as raised:
        parse(command, data, **path)
    return raised.value.message


# ---- the models' shape -----------------------------------------------------------------


def test_the_api_commands_are_the_commands_with_an_example() -> None:
    """A command documents its request body with an EXAMPLE: a new one is tested here."""
    with_example = {
        kind
        for kind in vars(commands).values()
        if isinstance(kind, type)
        and dataclasses.is_dataclass(kind)
        and kind.__module__ == commands.__name__
        and "EXAMPLE" in vars(kind)
    }
    assert with_example == set(API_COMMANDS)


@by_name
def test_a_body_has_the_commands_fields_but_those_in_the_path(command: type[Any]) -> None:
    model = body_model(command)
    assert issubclass(model, BaseModel) and body_model(command) is model
    assert set(model.model_fields) == body_fields(command)
    assert {n for n, f in model.model_fields.items() if f.is_required()} == required(command)
    for f in dataclasses.fields(command):
        if f.name in model.model_fields:
            assert model.model_fields[f.name].description == f.metadata.get("doc")
    assert model.__doc__ == command.__doc__
    assert model.model_json_schema()["examples"] == [command.EXAMPLE]
    assert model.model_config.get("extra") == "forbid"


def test_the_path_fields() -> None:
    assert {c: set(c.PATH) for c in API_COMMANDS if getattr(c, "PATH", ())} == {
        c: set(p) for c, p in PATHS.items()
    }


@by_name
def test_every_example_is_a_valid_body(command: type[Any]) -> None:
    parsed = parse(command, command.EXAMPLE, **path_of(command))
    assert isinstance(parsed, command)
    for name, value in path_of(command).items():
        assert getattr(parsed, name) == value


@by_name
def test_unknown_fields_are_refused(command: type[Any]) -> None:
    body = command.EXAMPLE | {"unexpected": 1}
    with pytest.raises(ValidationError):
        body_model(command).model_validate(body)
    assert refused(command, body, **path_of(command)) == (
        "unexpected: Extra inputs are not permitted"
    )


@pytest.mark.parametrize("command", list(PATHS), ids=lambda c: c.__name__)
def test_path_fields_are_not_taken_from_the_body(command: type[Any]) -> None:
    [(name, value)] = path_of(command).items()
    message = refused(command, command.EXAMPLE | {name: value}, **path_of(command))
    assert message == f"{name}: Extra inputs are not permitted"


@by_name
def test_every_required_field_is_named_when_missing(command: type[Any]) -> None:
    assert required(command) <= set(command.EXAMPLE)  # the documented example is complete
    for name in required(command):
        body = {k: v for k, v in command.EXAMPLE.items() if k != name}
        assert refused(command, body, **path_of(command)) == f"{name}: Field required"


def test_several_problems_are_all_named() -> None:
    message = refused(LogProgress, {"percent": "40"})
    assert message.split("; ") == [
        "percent: Input should be a valid integer",
        "as_of: Field required",
        "note: Field required",
    ]


# ---- values ------------------------------------------------------------------------------


@pytest.mark.parametrize("percent", ["40", 40.0, 40.5, True, None])
def test_a_percent_is_a_strict_whole_number(percent: Any) -> None:
    body = {"percent": percent, "as_of": "2026-03-31", "note": "n"}
    assert refused(LogProgress, body).startswith("percent: ")
    assert parse(LogProgress, body | {"percent": 40}).percent == 40


@pytest.mark.parametrize(
    ("command", "field", "value"),
    [
        (LogProgress, "confidence", "7"),
        (LogProgress, "confidence", 7.0),
        (LogProgress, "confidence", 11),
        (LogProgress, "percent", 101),
        (LogProgress, "percent", -1),
        (DefineSchedule, "period_days", "30"),
        (DefineSchedule, "period_days", 30.0),
        (DefineSchedule, "period_days", 0),
        (DefineSchedule, "period_days", 367),
    ],
)
def test_whole_numbers_are_strict_and_bounded(command: type[Any], field: str, value: Any) -> None:
    assert refused(command, command.EXAMPLE | {field: value}).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("command", "changes", "field"),
    [
        (RegisterCommitment, {"title": "x" * 201}, "title"),
        (RegisterCommitment, {"code": "C" * 65}, "code"),
        (RegisterCommitment, {"sectors": [f"s{n:02}" for n in range(31)]}, "sectors"),
        (RegisterCommitment, {"pillar": "wellbeing"}, "pillar"),
        (RegisterCommitment, {"start_date": "2026-02-30"}, "start_date"),
        (RegisterCommitment, {"agencies": {"CA": "Transport Canada"}}, "agencies.CA"),
        (ChangeStatus, {"status": "done"}, "status"),
        (RateHealth, {"rating": "orange"}, "rating"),
        (AddMilestone, {"due_date": "soon"}, "due_date"),
        (LogProgress, {"note": "x" * 10_001}, "note"),
        (DefineIndicator, {"baseline": "lots"}, "baseline"),
        (DefineSchedule, {"formats": ["json"] * 6}, "formats"),
    ],
)
def test_values_are_checked_and_the_field_named(
    command: type[Any], changes: dict[str, Any], field: str
) -> None:
    assert refused(command, command.EXAMPLE | changes).startswith(f"{field}: ")


def test_values_become_the_commands_types() -> None:
    registered = parse(RegisterCommitment, RegisterCommitment.EXAMPLE)
    assert registered.pillar is Pillar.PROSPERITY
    assert registered.sectors == ("railways", "trade") and registered.parties == ("CA", "MX")
    assert registered.start_date == date(2025, 9, 18)
    assert parse(ChangeStatus, ChangeStatus.EXAMPLE).status is Status.STALLED
    assert parse(RateHealth, RateHealth.EXAMPLE).rating is Health.AMBER
    indicator = parse(DefineIndicator, DefineIndicator.EXAMPLE | {"target": "150.25"})
    assert (indicator.baseline, indicator.target) == (Decimal(100), Decimal("150.25"))
    assert isinstance(indicator.baseline, Decimal)
    defaults = parse(DefineSchedule, {"name": "w", "cron": "0 6 * * 1", "formats": ["json"]})
    assert (defaults.timezone, defaults.period_days, defaults.formats) == ("UTC", 30, ("json",))


# ---- revisions: left out means unchanged -------------------------------------------------


def test_fields_left_out_of_a_revision_stay_unchanged() -> None:
    revision = parse(ReviseDetails, {"reason": "re-planned", "title": "New"})
    assert revision.title == "New"
    for name in ("description", "target_date", "agencies", "sectors"):
        assert getattr(revision, name) is UNCHANGED
    assert revision.changes() == {"title": "New"}
    assert parse(ReviseDetails, {"reason": "r"}).changes() == {}


def test_a_null_target_date_clears_it() -> None:
    revision = parse(ReviseDetails, {"reason": "open-ended", "target_date": None})
    assert revision.target_date is None
    assert revision.changes() == {"target_date": None}
    body = body_model(ReviseDetails).model_validate_json('{"reason": "r", "target_date": null}')
    assert to_command(ReviseDetails, body).changes() == {"target_date": None}


@pytest.mark.parametrize("field", ["title", "description", "agencies", "sectors", "reason"])
def test_only_the_target_date_may_be_null(field: str) -> None:
    assert refused(ReviseDetails, {"reason": "r", field: None}).startswith(f"{field}: ")


def test_a_revision_carries_agencies_and_sectors_as_given() -> None:
    revision = parse(
        ReviseDetails,
        {"reason": "r", "agencies": {"CA": ["Transport Canada"]}, "sectors": ["trade"]},
    )
    assert revision.changes() == {"agencies": {"CA": ("Transport Canada",)}, "sectors": ("trade",)}


# ---- nested values ---------------------------------------------------------------------


def test_nested_values_become_their_dataclasses() -> None:
    registered = parse(
        RegisterCommitment,
        RegisterCommitment.EXAMPLE
        | {
            "source": {"title": "Plan", "url": "https://example.org/plan", "quote": "q"},
            "milestones": [{"title": "Study", "due_date": "2026-05-01"}],
        },
    )
    assert registered.source == Source("Plan", "https://example.org/plan", "q")
    assert registered.milestones == (PlannedMilestone(title="Study", due_date=date(2026, 5, 1)),)
    logged = parse(
        LogProgress,
        LogProgress.EXAMPLE
        | {
            "evidence": [
                {"url": "https://example.org/r", "title": "R", "published_on": "2026-01-02"}
            ]
        },
    )
    assert logged.evidence == (Evidence("https://example.org/r", "R", None, date(2026, 1, 2)),)
    assert type(logged.evidence[0]) is Evidence


@pytest.mark.parametrize(
    ("command", "changes", "message"),
    [
        (
            RegisterCommitment,
            {"source": {"title": "Plan", "extra": 1}},
            "source.extra: Extra inputs are not permitted",
        ),
        (RegisterCommitment, {"source": {"url": "https://x.org"}}, "source.title: Field required"),
        (
            RegisterCommitment,
            {"milestones": [{"title": "S", "due_date": "2026-05-01", "owner": "x"}]},
            "milestones.0.owner: Extra inputs are not permitted",
        ),
        (
            RegisterCommitment,
            {"milestones": [{"title": "S"}]},
            "milestones.0.due_date: Field required",
        ),
        (
            LogProgress,
            {"evidence": [{"url": "https://x.org", "title": "T", "bad": 1}]},
            "evidence.0.bad: Extra inputs are not permitted",
        ),
        (LogProgress, {"evidence": [{"title": "T"}]}, "evidence.0.url: Field required"),
        (
            LogProgress,
            {"evidence": [{"url": "https://x.org", "title": "x" * 201}]},
            "evidence.0.title: ",
        ),
    ],
)
def test_nested_values_are_validated(
    command: type[Any], changes: dict[str, Any], message: str
) -> None:
    assert refused(command, command.EXAMPLE | changes).startswith(message)


# ---- round trips -------------------------------------------------------------------------

ROUND_TRIPS: list[Any] = [
    RegisterCommitment(
        code="CMAP-PROS-RAIL",
        title="Rail corridors",
        description="Long.\nText.",
        pillar=Pillar.PROSPERITY,
        sectors=("railways", "trade"),
        parties=("CA", "MX"),
        lead_party="joint",
        agencies={"CA": ("Transport Canada",), "MX": ("SICT", "ARTF")},
        start_date=date(2025, 9, 18),
        target_date=date(2028, 12, 31),
        source=Source("Action Plan", "https://example.org/plan", "rail"),
        milestones=(
            PlannedMilestone(title="Study", due_date=date(2026, 5, 1)),
            PlannedMilestone(title="Tender", due_date=date(2027, 1, 1)),
        ),
    ),
    RegisterCommitment(
        code="CMAP-SEC-CYBER",
        title="Cyber",
        pillar=Pillar.SECURITY,
        sectors=("cyber",),
        parties=("CA",),
        lead_party="CA",
    ),
    ReviseDetails(reason="re-planned", target_date=None, sectors=("trade",)),
    ReviseDetails(
        reason="all of it",
        title="T",
        description="D",
        target_date=date(2027, 1, 1),
        agencies={"CA": ("GAC",)},
        sectors=("a1", "b2"),
    ),
    LogProgress(
        percent=40,
        as_of=date(2026, 3, 31),
        note="half",
        confidence=7,
        evidence=(Evidence("https://example.org/r", "R", "GAC", date(2026, 3, 1)),),
    ),
    LogProgress(percent=0, as_of=date(2026, 1, 1), note="none"),
    ChangeStatus(
        status=Status.SUPERSEDED, reason="merged", superseded_by="CMAP-X-Y", as_of=date(2026, 2, 1)
    ),
    ConfirmClosure(),
    TranslateText(language="fr", title="Corridors", milestones={"m1": "Étude"}),
    TranslateText(language="es", indicators={"i1": "Carga"}),
    ConfirmClosure(note="agreed at the joint review"),
    RejectClosure(reason="the final report is not out"),
    RateHealth(rating=Health.AMBER_GREEN, rationale="ok", as_of=date(2026, 2, 1)),
    AddMilestone(title="Study", due_date=date(2026, 5, 1)),
    ChangeMilestone(milestone_id="m1", due_date=date(2026, 9, 1), reason="late", title="S2"),
    ChangeMilestone(milestone_id="m3", title="Only the title"),
    CompleteMilestone(milestone_id="m2", completed_on=date(2026, 4, 1), note="signed"),
    DefineIndicator(name="Trains", unit="per week", baseline=Decimal(3), target=Decimal("9.25")),
    RecordMeasurement(indicator_id="i2", value=Decimal("-1.5"), as_of=date(2026, 4, 1), note="n"),
    AttachEvidence(
        url="https://example.org/e", title="E", publisher="SRE", published_on=date(2026, 1, 1)
    ),
    AttachEvidence(url="https://example.org/f", title="F"),
    DefineSchedule(
        name="weekly",
        cron="0 6 * * 1",
        formats=("json", "csv"),
        timezone="Europe/Paris",
        period_days=7,
    ),
    IssueToken(
        name="ana.ca",
        role=Role.EDITOR,
        party="CA",
        expires_at=datetime(2027, 1, 1, 12, 30, tzinfo=UTC),
    ),
    IssueToken(name="vera", role=Role.VIEWER),
]


def dump(command: Any) -> tuple[str, dict[str, Any]]:
    """A command as a client sends it: a JSON body (fields it leaves unchanged left out)
    and the path parameters."""
    path_names = set(getattr(command, "PATH", ()))
    body = {
        f.name: jsonable(getattr(command, f.name))
        for f in dataclasses.fields(command)
        if f.name not in path_names and getattr(command, f.name) is not UNCHANGED
    }
    # Decimals as exact JSON numbers, as the API writes and reads them (api/json_body.py).
    return json_body.dumps(body).decode(), {name: getattr(command, name) for name in path_names}


def test_the_round_trips_cover_every_api_command() -> None:
    assert {type(c) for c in ROUND_TRIPS} == set(API_COMMANDS)


@pytest.mark.parametrize("command", ROUND_TRIPS, ids=lambda c: type(c).__name__)
def test_a_command_survives_the_wire(command: Any) -> None:
    kind = type(command)
    text, path = dump(command)
    assert parse(kind, json_body.loads(text.encode()), **path) == command
    body = body_model(kind).model_validate_json(text)
    assert to_command(kind, body, **path) == command


def test_describe_joins_the_errors_with_their_locations() -> None:
    with pytest.raises(ValidationError) as raised:
        body_model(RegisterCommitment).model_validate({"milestones": [{}]})
    message = wire.describe(raised.value)
    assert "code: Field required" in message.split("; ")
    assert "milestones.0.title: Field required" in message.split("; ")
