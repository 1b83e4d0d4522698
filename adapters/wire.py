"""Commands from outside data: pydantic models made from the domain's command classes.

The REST API takes these models as request bodies (so /docs shows the commands' own
fields, bounds and examples) and the seed loader validates its YAML with them: one
definition of every write's parameters (domain/commands.py), one way to read them.

Whole numbers are strict (40.0 and "40" are not a percent); unknown fields are refused;
a revision's fields that are left out stay unchanged.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin, get_type_hints

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    create_model,
)

from domain.commands import UNCHANGED, Unchanged
from domain.errors import InvalidValue

C = TypeVar("C")

_models: dict[type[Any], type[BaseModel]] = {}
_adapters: dict[type[Any], TypeAdapter[Any]] = {}


def body_model(command: type[Any]) -> type[BaseModel]:
    """The request body of a command: its fields but those named in the URL path."""
    if command not in _models:
        _models[command] = _make_model(command)
    return _models[command]


def _make_model(command: type[Any]) -> type[BaseModel]:
    hints = get_type_hints(command, include_extras=True)
    path = getattr(command, "PATH", ())
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(command):
        if f.name in path:
            continue
        if f.default is not dataclasses.MISSING:
            default: Any = Field(
                default=None if f.default is UNCHANGED else f.default,
                description=f.metadata.get("doc"),
            )
        elif f.default_factory is not dataclasses.MISSING:
            default = Field(default_factory=f.default_factory, description=f.metadata.get("doc"))
        else:
            default = Field(description=f.metadata.get("doc"))
        fields[f.name] = (_wire(hints[f.name]), default)
    example = getattr(command, "EXAMPLE", None)
    config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [example]} if example else None
    )
    model: type[BaseModel] = create_model(
        command.__name__, __config__=config, __doc__=command.__doc__, **fields
    )
    return model


def to_command(command: type[C], body: BaseModel, **path: Any) -> C:
    """The command a validated body (and the URL's path parameters) stand for."""
    data = body.model_dump(exclude_unset=True) | path
    return _adapter(command).validate_python(data)  # type: ignore[no-any-return]


def _adapter(command: type[Any]) -> TypeAdapter[Any]:
    if command not in _adapters:
        _adapters[command] = TypeAdapter(command)
    return _adapters[command]


def parse(command: type[C], data: Mapping[str, Any], **path: Any) -> C:
    """A command from plain data (seed files); InvalidValue names what is wrong."""
    try:
        body = body_model(command).model_validate(dict(data))
    except ValidationError as error:
        raise InvalidValue(describe(error)) from None
    return to_command(command, body, **path)


def describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in error.errors()
    )


# Annotations are built at run time here, out of the type checker's sight.
_Annotated: Any = Annotated
_Union: Any = Union
_tuple: Any = tuple
_dict: Any = dict


def _wire(annotation: Any) -> Any:
    """The annotation a body field has: nested dataclasses as models of their own, whole
    numbers strict, revisions' `Unchanged` left out (a field not sent is unchanged)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *metadata = get_args(annotation)
        return _Annotated[(_wire(inner), *metadata)]
    if origin in (Union, types.UnionType):
        return _Union[tuple(_wire(a) for a in get_args(annotation) if a is not Unchanged)]
    if origin is tuple:
        item, _ = get_args(annotation)
        return _tuple[_wire(item), ...]
    if origin in (dict, Mapping):
        key, value = get_args(annotation)
        return _dict[key, _wire(value)]
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return body_model(annotation)
    if annotation is int:
        return _Annotated[int, Strict()]
    return annotation
