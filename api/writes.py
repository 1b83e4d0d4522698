"""The one path every write takes: party scope, If-Match, Idempotency-Key, headers.

The Idempotency-Key record is inserted by the Tracker's `on_saved` hook, inside the
transaction that saves the events: a retry after a crash finds either both or neither.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response
from pydantic import BaseModel

from adapters import idempotency
from adapters.event_store import engine_of
from api.dependencies import FollowerDep, TrackerDep, Writer
from api.problems import Problem
from domain.access import Principal
from domain.errors import DomainError
from domain.tracker import Change, Tracker, WriteOptions

_ENTITY_TAG = re.compile(r'^\s*(?:W/)?"([^"]*)"\s*$|^\s*(\d+)\s*$')
_KEY = re.compile(r"[\x21-\x7e]{1,200}")
# A version that no commitment has: a tag that cannot match fails with 412, as it should.
_NO_VERSION = -1


class _DuplicateRequest(Exception):
    """A concurrent request with the same Idempotency-Key committed first."""


def parse_if_match(value: str | None) -> int | None:
    """The version an If-Match names: `"7"` (or W/"7", or 7); `*` means any version."""
    if value is None or value.strip() == "*":
        return None
    if "," in value:
        raise Problem(400, 'If-Match must name one version, like "7"')
    match = _ENTITY_TAG.match(value)
    if match is None:
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise Problem(400, f'If-Match must be a version in quotes, like "7"; got {shown!r}')
    tag = match.group(1) if match.group(1) is not None else match.group(2)
    return int(tag) if tag.isdigit() and len(tag) <= 12 else _NO_VERSION


@dataclass
class WriteContext:
    """What a write endpoint needs from the request, gathered by FastAPI."""

    request: Request
    tracker: Tracker
    principal: Principal
    follower: Any
    if_match: str | None
    idempotency_key: str | None

    def require_party(self, parties: list[str]) -> None:
        if not self.principal.may_write(parties):
            raise Problem(
                403,
                f"token {self.principal.name!r} (party {self.principal.party}) may not write "
                f"to a commitment of {', '.join(parties)}",
                kind="forbidden",
            )

    def execute(
        self,
        *,
        body: BaseModel | None,
        action: Callable[[WriteOptions], Change],
        render: Callable[[Change], Any],
        status_code: int,
        location: Callable[[Change], str] | None = None,
    ) -> Response:
        """Run `action` once (or replay the response stored for its Idempotency-Key)."""
        options: WriteOptions = {"expected_version": parse_if_match(self.if_match)}
        key = self.idempotency_key
        actor = self.principal.name
        engine = engine_of(self.tracker)
        request_hash = ""
        if key is not None:
            if not _KEY.fullmatch(key):
                raise Problem(400, "Idempotency-Key must be 1-200 visible ASCII characters")
            payload = body.model_dump(mode="json") if body is not None else None
            request_hash = idempotency.fingerprint(
                self.request.method, self.request.url.path, payload
            )
            stored = idempotency.find(engine, actor, key)
            if stored is not None:
                return _replay(stored, request_hash)

        def respond(change: Change) -> idempotency.StoredResponse:
            headers = {
                "ETag": f'"{change.commitment.version}"',
                "X-Log-Position": str(change.position),
            }
            if location is not None:
                headers["Location"] = location(change)
            content = json.dumps(jsonable_encoder(render(change)), ensure_ascii=False)
            return idempotency.StoredResponse(request_hash, status_code, headers, content)

        outcome: list[idempotency.StoredResponse] = []

        def on_saved(session: Any, change: Change) -> None:
            response = respond(change)
            if key is not None and not idempotency.record(session, actor, key, response):
                raise _DuplicateRequest
            outcome.append(response)

        options["on_saved"] = on_saved
        try:
            action(options)
        except _DuplicateRequest:
            assert key is not None
            stored = idempotency.find(engine, actor, key)
            if stored is None:  # pragma: no cover - the winner committed before we looked
                raise Problem(409, "a request with this Idempotency-Key is in flight") from None
            return _replay(stored, request_hash)
        except DomainError:
            # A concurrent retry of this very request may have won (the rule now refuses a
            # repeat: evidence already attached, ...): then its stored response is ours.
            stored = idempotency.find(engine, actor, key) if key is not None else None
            if stored is None:
                raise
            return _replay(stored, request_hash)
        if self.follower is not None:
            self.follower.wake()
        response = outcome[-1]
        return Response(
            response.body,
            status_code=response.status_code,
            headers=response.headers,
            media_type="application/json",
        )


def _replay(stored: idempotency.StoredResponse, request_hash: str) -> Response:
    if stored.request_hash != request_hash:
        raise Problem(
            422,
            "this Idempotency-Key was used for a different request; use a new key",
            kind="idempotency-key-reused",
        )
    return Response(
        stored.body,
        status_code=stored.status_code,
        headers=stored.headers | {"Idempotent-Replayed": "true"},
        media_type="application/json",
    )


IfMatch = Annotated[
    str | None,
    Header(description='Make the write conditional on this version, e.g. "7" (412 if stale)'),
]
IdempotencyKey = Annotated[
    str | None,
    Header(description="A retry with the same key returns the first response, unwritten"),
]


def write_context(
    request: Request,
    tracker: TrackerDep,
    principal: Writer,
    follower: FollowerDep,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> WriteContext:
    return WriteContext(request, tracker, principal, follower, if_match, idempotency_key)


def registration_context(
    request: Request,
    tracker: TrackerDep,
    principal: Writer,
    follower: FollowerDep,
    idempotency_key: IdempotencyKey = None,
) -> WriteContext:
    """A new commitment has no version yet, so registration takes no If-Match."""
    return WriteContext(request, tracker, principal, follower, None, idempotency_key)
