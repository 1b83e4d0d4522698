"""Refuse text no route can take before any route sees it: a NUL byte, another control
character, or bytes that are not UTF-8 in the URL's path or query string is a 422
naming the parameter (PostgreSQL text cannot hold NUL: let through, such a value failed
in the database as a retryable 503)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote_to_bytes

from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import problem_response

# C0 controls and DEL: no code, cursor, search or name holds them (tab neither).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What a URL needs no decoding check for: printable ASCII without escapes.
_PLAIN = re.compile(rb"[\x21-\x24\x26-\x7e]*")


def _decoded(raw: bytes) -> str | None:
    """The text percent-encoded `raw` stands for; None when it is not clean UTF-8."""
    if _PLAIN.fullmatch(raw):
        return raw.decode("ascii")
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _CONTROL.search(text) else text


class InputGuard:
    """ASGI middleware: the path's segments and the query's names and values must be
    UTF-8 text without control characters. `templates` gives the API's path templates
    (`/api/v1/reports/{report_id}`), to name the path parameter at fault."""

    def __init__(self, app: ASGIApp, templates: Callable[[], Iterable[str]]) -> None:
        self.app = app
        self.templates = templates
        self._compiled: list[re.Pattern[str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            fault = self._fault(scope)
            if fault is not None:
                await _refuse(scope, receive, send, fault)
                return
        await self.app(scope, receive, send)

    def _fault(self, scope: Scope) -> str | None:
        query: bytes = scope.get("query_string", b"")
        if query and not _PLAIN.fullmatch(query):
            for pair in query.split(b"&"):
                name, _, value = pair.partition(b"=")
                name, value = name.replace(b"+", b" "), value.replace(b"+", b" ")
                shown = _decoded(name)
                if shown is None:
                    return "query"
                if _decoded(value) is None:
                    return f"query.{shown}"
        raw_path: bytes | None = scope.get("raw_path")
        path_ok = (
            _decoded(raw_path) is not None
            if raw_path is not None
            else not _CONTROL.search(scope["path"])
        )
        if not path_ok:
            return self._path_parameter(scope)
        return None

    def _path_parameter(self, scope: Scope) -> str:
        """`path.<name>` of the route parameter holding the bad text (`path`: none)."""
        if self._compiled is None:  # only now: bad paths are rare, templates are static
            self._compiled = [compile_path(t)[0] for t in self.templates()]
        for template in self._compiled:
            match = template.match(scope["path"])
            if match is not None:
                for name, value in match.groupdict().items():
                    if _CONTROL.search(value) or "\ufffd" in value:
                        return f"path.{name}"
        return "path"


async def _refuse(scope: Scope, receive: Receive, send: Send, field: str) -> None:
    message = "must be UTF-8 text without NUL or other control characters"
    response = problem_response(
        422,
        f"{field}: {message}",
        kind="invalid-request",
        extra={"errors": [{"field": field, "message": message}]},
    )
    await response(scope, receive, send)
