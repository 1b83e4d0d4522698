"""Conditional reads (RFC 9110 §13): validators, `If-None-Match` → 304, `Cache-Control`.

Routers compute the ETag of what they would answer and ask `none_match`; on a match they
answer `not_modified` (no body, the same ETag and Cache-Control). The comparison is the
weak one §13.1.2 prescribes for If-None-Match: `W/"x"` and `"x"` match each other, `*`
matches any representation, and a list of tags matches if any of them does.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any

from fastapi import Header, Response

# Reads that change (the head of the log): a cache may keep them but must ask first.
REVALIDATE = "no-cache"
# Content-addressed bytes that never change. Private: they are answered to a bearer
# token, so only the reader's own cache keeps them, not a shared one.
IMMUTABLE = "private, max-age=31536000, immutable"

_TAG = re.compile(r'(?:W/)?"([^"]*)"')

IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        description='ETags of a copy the client holds (`"x"`, `W/"x"`, a list, or `*`): '
        "304 Not Modified if one of them is the current one",
    ),
]


def opaque(tag: str) -> str | None:
    """The opaque part of one entity tag (`"x"` or `W/"x"` → `x`); None if malformed."""
    match = _TAG.fullmatch(tag.strip())
    return None if match is None else match.group(1)


def none_match(header: str | None, etag: str) -> bool:
    """Whether an If-None-Match header matches `etag` (weak comparison). Malformed
    members are ignored, so a header that names no tag matches nothing."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    ours = opaque(etag)
    return ours is not None and ours in _TAG.findall(header)


def body_tag(value: Any) -> str:
    """A strong ETag for a JSON-able value: the start of the sha256 of its canonical
    JSON, so equal representations share it and any change gives another."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return bytes_tag(canonical.encode())


def bytes_tag(body: bytes) -> str:
    """A strong ETag for the very bytes of an answer (the start of their sha256)."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def not_modified(etag: str, cache_control: str) -> Response:
    """The 304 answer: no body; the validator and caching headers a cache updates."""
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache_control})


def cache_headers(response: Response, etag: str, cache_control: str) -> None:
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = cache_control


_TEXT = {"type": "string"}
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {
        "description": "Not Modified: If-None-Match names the current ETag (no body)",
        "headers": {
            "ETag": {"description": "The current validator", "schema": _TEXT},
            "Cache-Control": {"description": "How caches may keep it", "schema": _TEXT},
        },
    }
}
