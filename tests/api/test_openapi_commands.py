"""The OpenAPI document and the commands agree: every write route's request body is the
command of domain/commands.py it runs, field for field, with the same bounds and enums.

The request models are generated from the commands (adapters/wire.py); this reads the
published document (what clients see) and compares it with the command classes
themselves, so neither can drift from the other unnoticed.
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

import pytest
from annotated_types import Ge, Le, MaxLen
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from api.json_body import JsonRoute
from domain import commands
from domain.commands import (
    AddMilestone,
    AttachEvidence,
    ChangeMilestone,
    ChangeStatus,
    CompleteMilestone,
    ConfirmClosure,
    DefineIndicator,
    DefineSchedule,
    EarlierToken,
    IssueToken,
    LogProgress,
    PlannedMilestone,
    RateHealth,
    RecordMeasurement,
    RegisterCommitment,
    RejectClosure,
    RemoveSchedule,
    ReviseDetails,
    RevokeToken,
    Together,
    TranslateText,
    Unchanged,
)
from tests.conftest import settings

C = "/api/v1/commitments"
# Each write route and the command it runs.
COMMAND_ROUTES: dict[tuple[str, str], type[Any]] = {
    ("post", C): RegisterCommitment,
    ("patch", f"{C}/{{ref}}"): ReviseDetails,
    ("post", f"{C}/{{ref}}/progress"): LogProgress,
    ("post", f"{C}/{{ref}}/status"): ChangeStatus,
    ("post", f"{C}/{{ref}}/closure/confirm"): ConfirmClosure,
    ("post", f"{C}/{{ref}}/closure/reject"): RejectClosure,
    ("post", f"{C}/{{ref}}/health"): RateHealth,
    ("post", f"{C}/{{ref}}/milestones"): AddMilestone,
    ("patch", f"{C}/{{ref}}/milestones/{{milestone_id}}"): ChangeMilestone,
    ("post", f"{C}/{{ref}}/milestones/{{milestone_id}}/complete"): CompleteMilestone,
    ("post", f"{C}/{{ref}}/indicators"): DefineIndicator,
    ("post", f"{C}/{{ref}}/indicators/{{indicator_id}}/measurements"): RecordMeasurement,
    ("post", f"{C}/{{ref}}/evidence"): AttachEvidence,
    ("put", f"{C}/{{ref}}/translations/{{language}}"): TranslateText,
    ("post", "/api/v1/schedules"): DefineSchedule,
    ("delete", "/api/v1/schedules/{name}"): RemoveSchedule,
    ("post", "/api/v1/tokens"): IssueToken,
}
# Writes whose command the server completes: the URL names the token by id, name or actor,
# and the server adds what the token's row says of it (EarlierToken, a value).
SERVER_MADE = {("delete", "/api/v1/tokens/{ref}"): RevokeToken}
# Writes that are not commands on an aggregate (they write no events).
OTHER_WRITES = {
    ("post", "/api/v1/reports"),
    ("post", "/api/v1/admin/projections/rebuild"),
    ("post", "/api/v1/checkpoint"),
    ("post", "/api/v1/checkpoint/cosignatures"),
    # Webhooks are configuration rows, not events (adapters/webhooks.py).
    ("post", "/api/v1/webhooks"),
    ("delete", "/api/v1/webhooks/{webhook_id}"),
}
# POSTs that write nothing (a report file sent to be checked).
NOT_WRITES = {("post", "/api/v1/reports/verify")}
WRITE_METHODS = {"post", "put", "patch", "delete"}
# Parts of the schema a command's annotations decide.
BOUNDS = ("maxLength", "maxItems", "minimum", "maximum")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    # The document needs no database: the app is not started (no lifespan).
    client = TestClient(create_app(settings("sqlite:///unused.sqlite")))
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        prefix = "#/components/schemas/"
        assert schema["$ref"].startswith(prefix)
        schema = spec["components"]["schemas"][schema["$ref"][len(prefix) :]]
    return schema


def bounds_of(annotation: Any, metadata: list[Any]) -> dict[str, Any]:
    """The JSON Schema bounds an annotation's metadata stands for."""
    sequence = get_origin(annotation) is tuple
    found: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, MaxLen):
            found["maxItems" if sequence else "maxLength"] = item.max_length
        elif isinstance(item, Ge):
            found["minimum"] = item.ge
        elif isinstance(item, Le):
            found["maximum"] = item.le
    return found


def agree(spec: dict[str, Any], annotation: Any, schema: dict[str, Any], where: str) -> None:
    """Assert that `schema` says what `annotation` does (types, bounds, enums, nesting)."""
    schema = resolve(spec, schema)
    if get_origin(annotation) in (Union, types.UnionType):
        arms = [a for a in get_args(annotation) if a is not Unchanged]
        nullable = type(None) in arms
        arms = [a for a in arms if a is not type(None)]
        if "anyOf" in schema:
            assert not any(k in schema for k in BOUNDS), where
            options = [resolve(spec, o) for o in schema["anyOf"]]
            assert ({"type": "null"} in options) == nullable, where
            options = [o for o in options if o != {"type": "null"}]
        else:  # one arm: its schema is the field's
            assert not nullable, f"{where}: null is allowed but not documented"
            options = [schema]
        assert len(options) == len(arms), where
        for arm, option in zip(arms, options, strict=True):
            agree(spec, arm, option, where)
        return
    expected_bounds: dict[str, Any] = {}
    if get_origin(annotation) is Annotated:
        annotation, *metadata = get_args(annotation)
        expected_bounds = bounds_of(annotation, metadata)
    assert {k: schema[k] for k in BOUNDS if k in schema} == expected_bounds, where
    origin = get_origin(annotation)
    if origin is tuple:
        assert schema["type"] == "array", where
        item, _ = get_args(annotation)
        agree(spec, item, schema["items"], f"{where}[]")
    elif origin in (dict, Mapping):
        assert schema["type"] == "object", where
        _, value = get_args(annotation)
        agree(spec, value, schema["additionalProperties"], f"{where}{{}}")
    elif isinstance(annotation, type) and issubclass(annotation, Enum):
        assert schema["enum"] == [member.value for member in annotation], where
    elif dataclasses.is_dataclass(annotation):
        assert isinstance(annotation, type)
        agree_fields(spec, annotation, schema, skip=())
    elif annotation is str:
        assert schema["type"] == "string", where
    elif annotation is int:
        assert schema["type"] == "integer", where
    elif annotation is bool:
        assert schema["type"] == "boolean", where
    elif annotation is datetime:
        assert (schema["type"], schema["format"]) == ("string", "date-time"), where
    elif annotation is date:
        assert (schema["type"], schema["format"]) == ("string", "date"), where
    else:
        assert annotation is Decimal, f"{where}: no check for {annotation!r}"


def agree_fields(
    spec: dict[str, Any], cls: type[Any], schema: dict[str, Any], *, skip: tuple[str, ...]
) -> None:
    """The object schema has the dataclass's fields (but `skip`), requires exactly those
    without a default, refuses others, and agrees with each field's annotation."""
    hints = get_type_hints(cls, include_extras=True)
    fields = [f for f in dataclasses.fields(cls) if f.name not in skip]
    assert list(schema["properties"]) == [f.name for f in fields], cls.__name__
    required = [
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    assert sorted(schema.get("required", [])) == sorted(required), cls.__name__
    assert schema["additionalProperties"] is False, cls.__name__
    for f in fields:
        agree(spec, hints[f.name], schema["properties"][f.name], f"{cls.__name__}.{f.name}")


def test_every_write_route_is_listed_here(spec: dict[str, Any]) -> None:
    writes = {
        (method, path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in WRITE_METHODS
    }
    assert writes - NOT_WRITES == set(COMMAND_ROUTES) | set(SERVER_MADE) | OTHER_WRITES


def test_every_command_has_a_route() -> None:
    defined = {
        value
        for value in vars(commands).values()
        if isinstance(value, type)
        and dataclasses.is_dataclass(value)
        and value.__module__ == commands.__name__
    }
    # Together is the seeds' way to save several commands at once; PlannedMilestone and
    # EarlierToken are values.
    assert set(COMMAND_ROUTES.values()) | set(SERVER_MADE.values()) == defined - {
        Together,
        PlannedMilestone,
        EarlierToken,
    }


@pytest.mark.parametrize(
    ("method", "path"), list(COMMAND_ROUTES), ids=[f"{m} {p}" for m, p in COMMAND_ROUTES]
)
def test_the_request_body_is_the_command(spec: dict[str, Any], method: str, path: str) -> None:
    command = COMMAND_ROUTES[method, path]
    operation = spec["paths"][path][method]
    path_parameters = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
    in_path = tuple(getattr(command, "PATH", ()))
    fields = [f.name for f in dataclasses.fields(command)]
    if "requestBody" not in operation:
        # A command named entirely by its URL.
        assert set(fields) == path_parameters
        return
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    if command is ConfirmClosure:
        # A confirmation may be sent without a body (its only field is optional): as {}.
        assert operation["requestBody"].get("required", False) is False
        [schema] = [s for s in schema["anyOf"] if s != {"type": "null"}]
    else:
        assert operation["requestBody"]["required"] is True
    schema = resolve(spec, schema)
    agree_fields(spec, command, schema, skip=in_path)
    # The fields left out of the body are named in the path; the rest of it names the
    # commitment the command is for.
    assert set(in_path) <= set(fields) and set(in_path) <= path_parameters
    target = {"ref"} if issubclass(command, commands.CommitmentCommand) else set()
    assert path_parameters == set(in_path) | target
    if hasattr(command, "EXAMPLE"):
        assert schema["examples"] == [command.EXAMPLE]


def test_operation_ids_are_the_route_names_and_unique(spec: dict[str, Any]) -> None:
    """A generated client calls `log_progress`, not FastAPI's name+path+method default."""
    named: dict[tuple[str, str], str] = {}
    for router in _routers():
        for route in router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                for method in route.methods or ():
                    named[route.path, method.lower()] = route.name
                if not route.name.startswith(tuple(_command_names())):
                    # Not a command route: the endpoint function's own name.
                    assert route.name == getattr(route.endpoint, "__name__", None)
    ids = {
        (path, method): operation["operationId"]
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }
    assert ids == named
    assert len(set(ids.values())) == len(ids), "operation ids must be unique"
    assert ids["/api/v1/commitments/{ref}/progress", "post"] == "log_progress"
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", i) and "api_v1" not in i for i in ids.values())


def test_every_route_reads_json_bodies_as_decimals() -> None:
    """Routes made without JsonRoute would read JSON numbers through float."""
    routes = [r for router in _routers() for r in router.routes if isinstance(r, APIRoute)]
    assert routes
    assert all(isinstance(r, JsonRoute) for r in routes)


def test_every_operation_documents_its_problems(spec: dict[str, Any]) -> None:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            expected = {"422", "503"} | ({"400", "413"} if "requestBody" in operation else set())
            assert expected <= set(responses), (method, path)
            for code in expected - ({"503"} if path == "/readyz" else set()):
                assert list(responses[code]["content"]) == ["application/problem+json"]
    for path in (
        "/api/v1/commitments",
        "/api/v1/schedules",
        "/api/v1/schedules/{name}",
    ):
        assert "min_position" in spec["paths"][path]["get"]["responses"]["503"]["description"]
    artefacts = spec["paths"]["/api/v1/reports/progress"]["get"]["responses"]["200"]["content"]
    assert set(artefacts) == {
        "application/json",
        "text/csv",
        "text/markdown",
        "text/html",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def _routers() -> list[Any]:
    from api.routers import (
        admin,
        checkpoints,
        commitments,
        events,
        feeds,
        health,
        ledger,
        metrics,
        proofs,
        reports,
        schedules,
        tokens,
        webhooks,
    )

    modules = (admin, checkpoints, commitments, events, feeds, health, ledger, metrics, proofs)
    return [m.router for m in (*modules, reports, schedules, tokens, webhooks)]


def _command_names() -> set[str]:
    return {
        re.sub(r"(?<!^)(?=[A-Z])", "_", command.__name__).lower()
        for command in COMMAND_ROUTES.values()
    }
