"""JSON as the API reads and writes it: UTF-8 only (RFC 8259), numbers with a fraction
or exponent as exact decimals, never through float (`99999999999999.999999` stays
itself, `1e-999999` is refused by the domain rather than stored as 0); answers write a
Decimal as a JSON number with its own digits (`dumps`, `ExactJSONResponse`).

Every API router makes its routes with `route_class=JsonRoute`; FastAPI then reads the
body with `DecimalJsonRequest.json`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

import orjson
from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

INVALID_UTF8 = "the body is not UTF-8 text (byte {at} is not UTF-8); send JSON as UTF-8"


def _no_constant(name: str) -> Any:
    raise HTTPException(400, f"the body is not JSON: {name} is not a JSON number")


def loads(body: bytes) -> Any:
    """A JSON document as the API takes it (HTTPException 400 for what is not UTF-8;
    json.JSONDecodeError, a 422 naming the character, for what is not JSON)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise HTTPException(400, INVALID_UTF8.format(at=error.start)) from None
    return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)


class DecimalJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class JsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            return await handle(DecimalJsonRequest(request.scope, request.receive))

        return handler


def _exact(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Its digits as they are: FastAPI's serializers would write a string or a float.
        return orjson.Fragment(format(value, "f"))
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(value: Any, *, indent: bool = False) -> bytes:
    """JSON bytes of `value`, Decimals as exact JSON numbers."""
    return orjson.dumps(value, default=_exact, option=orjson.OPT_INDENT_2 if indent else None)


class ExactJSONResponse(Response):
    """A JSON answer holding decimals (domain/views.py `Number`). A route returns it
    itself; its response_model then only documents the body."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
