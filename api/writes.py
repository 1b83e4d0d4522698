"""The one way a write endpoint runs: a command through the unit of work, then the answer.

The endpoint turns its body into a command (adapters/wire.py); `WriteRequest.run` hands
it to the unit of work with the caller, If-Match and Idempotency-Key; the answer is built
after the commit from the aggregate the write left, or, when the Idempotency-Key was
answered before, from the event store at the version recorded then. Both are judged on
the day that version was recorded, so a replay carries the same body.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from inspect import Parameter, Signature
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from adapters.bootstrap import Services
from adapters.idempotency import IdempotencyKey, fingerprint
from adapters.unit_of_work import Beside, Write, Written
from adapters.wire import body_model, to_command
from api.dependencies import Credentials, client_address, principal_of
from api.json_body import dumps
from api.problems import Problem
from api.schemas import written
from domain.access import Principal
from domain.commands import Command, CommitmentCommand
from domain.commitment import Commitment
from domain.views import (
    CommitmentResource,
    IndicatorResource,
    MilestoneResource,
    describe,
    indicator_resource,
    milestone_resource,
)

PREFIX = "/api/v1/commitments"

_ENTITY_TAG = re.compile(r'^\s*(W/)?"([^"]*)"\s*$|^\s*(\d+)\s*$')
_KEY = re.compile(r"[\x21-\x7e]{1,200}")

# What a write answers with: from the aggregate the write left (a commitment or a
# schedule) and what the command made in it, the body (None: no content).
Render = Callable[[Any, str | None], Any]
# The URL of what a write created, from the same.
Locate = Callable[[Any, str | None], str]
# Whether the write, as the aggregate it left shows, was only accepted (202), not done.
Accepted = Callable[[Any], bool]


@dataclass(frozen=True)
class Answer:
    render: Render
    model: Any  # the response model documented in OpenAPI


def _commitment_body(commitment: Commitment, _: str | None) -> Any:
    return describe(commitment, commitment.modified_on.date())


def _milestone_body(commitment: Commitment, milestone_id: str | None) -> Any:
    assert milestone_id is not None
    return milestone_resource(commitment.milestone(milestone_id), commitment.modified_on.date())


def _indicator_body(commitment: Commitment, indicator_id: str | None) -> Any:
    assert indicator_id is not None
    return indicator_resource(commitment.indicator(indicator_id))


COMMITMENT = Answer(_commitment_body, CommitmentResource)
MILESTONE = Answer(_milestone_body, MilestoneResource)
INDICATOR = Answer(_indicator_body, IndicatorResource)


def parse_if_match(value: str | None) -> int | None:
    """The version an If-Match names: `"7"` (or 7); `*` means any version. A well-formed
    tag that is no version of ours (W/"7", "abc") matches nothing: 412 (RFC 9110)."""
    if value is None or value.strip() == "*":
        return None
    if "," in value:
        raise Problem(400, 'If-Match must name one version, like "7"')
    match = _ENTITY_TAG.match(value)
    if match is None:
        raise Problem(400, 'If-Match must be a version in quotes, like "7"')
    weak, quoted, bare = match.groups()
    tag = quoted if quoted is not None else bare
    if weak or not (tag.isdigit() and len(tag) <= 12):
        raise Problem(
            412,
            # The header is not echoed: what a client sent is theirs to see, not ours to
            # quote back (it may be long, or hold what a log or a terminal would misread).
            "If-Match matches no version: an ETag here is a version in quotes, "
            'like "7" (a weak W/ tag never matches)',
            kind="version-mismatch",
        )
    return int(tag)


@dataclass
class WriteRequest:
    """What a write endpoint needs from the request, gathered by FastAPI."""

    request: Request
    services: Services
    principal: Principal
    if_match: str | None
    idempotency_key: str | None

    def run(
        self,
        command: Command,
        body: BaseModel | None,
        *,
        ref: str | None = None,
        status_code: int,
        render: Render = _commitment_body,
        location: Locate | None = None,
        accepted: Accepted | None = None,
        beside: Beside | None = None,
    ) -> Response:
        """Run the command; answer with `render` of the result, and `location` of what it
        created; with 202 instead of `status_code` when `accepted` says the write is a
        proposal that waits for someone else. `body` is what the client sent (None:
        nothing), for the Idempotency-Key; `beside` stores rows of its own with the events
        (a token's)."""
        written = self.services.unit_of_work.run(
            Write(
                self.principal,
                command,
                ref=ref,
                expected_version=parse_if_match(self.if_match),
                idempotency=self.idempotency(body),
                beside=beside,
            )
        )
        return self._respond(written, status_code, render, location, accepted)

    def idempotency(self, body: BaseModel | None) -> IdempotencyKey | None:
        """The request's Idempotency-Key and fingerprint (None: no key)."""
        key = self.idempotency_key
        if key is None:
            return None
        if not _KEY.fullmatch(key):
            raise Problem(400, "Idempotency-Key must be 1-200 visible ASCII characters")
        # What the client sent: a field left out and one sent as null are different requests.
        payload = None if body is None else body.model_dump(mode="json", exclude_unset=True)
        return IdempotencyKey(key, fingerprint(self.request.method, self.request.url.path, payload))

    def _respond(
        self,
        written: Written,
        status_code: int,
        render: Render,
        location: Locate | None,
        accepted: Accepted | None = None,
    ) -> Response:
        if written.change is not None:
            aggregate = written.change.aggregate
        else:  # a replay: the aggregate as that write left it
            aggregate = self.services.tracker.version_of(written.aggregate_id, written.version)
        if accepted is not None and accepted(aggregate):
            status_code = 202
        headers = {"ETag": f'"{written.version}"', "X-Log-Position": str(written.position)}
        if location is not None:
            headers["Location"] = location(aggregate, written.result)
        if written.replayed:
            headers["Idempotent-Replayed"] = "true"
        if status_code == 204:
            return Response(status_code=204, headers=headers)
        content = dumps(render(aggregate, written.result))
        return Response(
            content, status_code=status_code, headers=headers, media_type="application/json"
        )


# The write headers, read in write_request and documented here (as parameters of the
# endpoint, FastAPI would extract them at a cost on every request).
_IDEMPOTENCY_KEY = {
    "name": "idempotency-key",
    "in": "header",
    "required": False,
    "description": "A retry with the same key returns the first response, unwritten",
    "schema": {"type": "string", "maxLength": 200},
}
_IF_MATCH = {
    "name": "if-match",
    "in": "header",
    "required": False,
    "description": 'Make the write conditional on this version, e.g. "7" (412 if stale)',
    "schema": {"type": "string"},
}
WRITE_HEADERS = {"parameters": [_IF_MATCH, _IDEMPOTENCY_KEY]}
IDEMPOTENCY_HEADERS = {"parameters": [_IDEMPOTENCY_KEY]}  # writes of what has no version


# One dependency per write, with no others below it but the bearer token: FastAPI's
# solving of each dependency costs more than many a write's own work.


async def write_request(request: Request, credentials: Credentials) -> WriteRequest:
    """The caller must be a writer (an editor with a party, or an admin)."""
    services: Services = request.app.state.services
    principal = await principal_of(services, credentials, client_address(request))
    principal.require_writer()
    headers = request.headers
    return WriteRequest(
        request, services, principal, headers.get("if-match"), headers.get("idempotency-key")
    )


async def admin_write_request(request: Request, credentials: Credentials) -> WriteRequest:
    """The caller must be an admin (schedules, tokens)."""
    write = await write_request(request, credentials)
    write.principal.require_admin()
    return write


WriteDep = Annotated[WriteRequest, Depends(write_request)]
AdminWriteDep = Annotated[WriteRequest, Depends(admin_write_request)]


@dataclass(frozen=True)
class CommandRoute:
    """An endpoint that runs one command on a commitment: its body is the command's
    model (adapters/wire.py), the command's PATH fields come from the URL."""

    method: str
    path: str
    command: type[CommitmentCommand]
    status_code: int
    summary: str
    answer: Answer = COMMITMENT
    created: str | None = None  # the collection a 201 creates in: Location names it
    # When the write may be only a proposal (202): what 202 means, and how to tell.
    accepted: tuple[str, Accepted] | None = None
    # The body may be left out (a command whose fields all have defaults): none is `{}`.
    optional_body: bool = False

    def add_to(self, router: APIRouter, *, responses: dict[int | str, dict[str, Any]]) -> None:
        location = self.created is not None
        documented = responses | written(self.status_code, location=location)
        if self.accepted is not None:
            described, _ = self.accepted
            documented |= {
                202: written(202)[202] | {"description": described, "model": self.answer.model}
            }
        router.add_api_route(
            self.path,
            self.endpoint(),
            methods=[self.method],
            name=re.sub(r"(?<!^)(?=[A-Z])", "_", self.command.__name__).lower(),
            status_code=self.status_code,
            response_model=self.answer.model,
            summary=self.summary,
            description=self.command.__doc__,
            responses=documented,
            openapi_extra=WRITE_HEADERS,
        )

    def endpoint(self) -> Callable[..., Response]:
        """The endpoint function. FastAPI reads its signature: `ref` and the command's
        PATH fields from the path, `body` as the command's model, `write` injected."""
        route = self
        location = None if self.created is None else _created_in(self.created)
        accepted = None if self.accepted is None else self.accepted[1]

        model = body_model(self.command)

        def endpoint(
            *, ref: str, body: BaseModel | None, write: WriteRequest, **path: str
        ) -> Response:
            if body is None:  # left out: the same request as `{}` (Idempotency-Key too)
                body = model()
            command = to_command(route.command, body, **path)
            return write.run(
                command,
                body,
                ref=ref,
                status_code=route.status_code,
                render=route.answer.render,
                location=location,
                accepted=accepted,
            )

        parameters = [
            Parameter(name, Parameter.KEYWORD_ONLY, annotation=str)
            for name in ("ref", *self.command.PATH)
        ]
        if self.optional_body:
            parameters.append(
                Parameter("body", Parameter.KEYWORD_ONLY, annotation=model | None, default=None)
            )
        else:
            parameters.append(Parameter("body", Parameter.KEYWORD_ONLY, annotation=model))
        parameters.append(Parameter("write", Parameter.KEYWORD_ONLY, annotation=WriteDep))
        endpoint.__signature__ = Signature(parameters, return_annotation=Response)  # type: ignore[attr-defined]
        return endpoint


def _created_in(collection: str) -> Locate:
    def locate(commitment: Commitment, created: str | None) -> str:
        return f"{PREFIX}/{commitment.code}/{collection}/{created}"

    return locate
