"""Signed checkpoints of the log (C2SP tlog-checkpoint notes) and witnesses'
cosignatures (docs/trust.md). Notes travel as text/plain, as C2SP clients expect."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse

from adapters.checkpoints import Signed
from api.dependencies import Admin, Reader, ServicesDep
from api.json_body import JsonRoute
from api.schemas import MAX_POSITION, problems

router = APIRouter(prefix="/api/v1/checkpoint", tags=["checkpoints"], route_class=JsonRoute)

_NOTE: dict[str, Any] = {"content": {"text/plain": {"schema": {"type": "string"}}}}
_AUTH = {"e401": "No token, or an unknown or revoked one"}


def _described(status: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"description": "The checkpoint as a C2SP signed note", **_NOTE}}


def _note(signed: Signed, status_code: int = 200) -> PlainTextResponse:
    return PlainTextResponse(
        signed.note.text(),
        status_code=status_code,
        headers={"X-Tree-Size": str(signed.size), "X-Root-Hash": signed.root_hash},
    )


@router.get(
    "",
    response_class=PlainTextResponse,
    summary="The newest signed checkpoint (or the one of ?tree_size=), with every signature",
    responses=_described(200) | problems(**_AUTH, e404="No checkpoint signed yet, or of that size"),
)
def get_checkpoint(
    services: ServicesDep,
    _: Reader,
    tree_size: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None,
) -> PlainTextResponse:
    checkpoints = services.checkpoints
    return _note(checkpoints.latest() if tree_size is None else checkpoints.at(tree_size))


@router.post(
    "",
    response_class=PlainTextResponse,
    status_code=201,
    summary="Sign the log's tree head now (admin); the same checkpoint if the log has not grown",
    responses=_described(201)
    | problems(
        **_AUTH,
        e403="Not an admin token",
        e409="The log does not extend the last checkpoint (or is empty): nothing signed",
        e422="No signing key is configured",
    ),
)
async def sign_checkpoint(services: ServicesDep, _: Admin) -> PlainTextResponse:
    signed = await run_in_threadpool(lambda: services.checkpoints.sign(whole_log=True))
    return _note(signed, 201)


@router.post(
    "/cosignatures",
    response_class=PlainTextResponse,
    summary="Add a witness's cosignature: the body is the checkpoint note with it added",
    description="The cosignature (C2SP tlog-cosignature, Ed25519 cosignature/v1) must be "
    "by a key in COMMITMENTS_WITNESS_KEYS and over a checkpoint this log signed. The answer "
    "is the checkpoint with every signature it now has.",
    responses=_described(200)
    | problems(
        **_AUTH,
        e404="This log signed no checkpoint with that text",
        e422="Not a signed note, or no valid cosignature by a configured witness key",
    ),
    openapi_extra={"requestBody": {"required": True, **_NOTE}},
)
async def cosign_checkpoint(
    request: Request, services: ServicesDep, _: Reader
) -> PlainTextResponse:
    body = await request.body()
    return _note(await run_in_threadpool(services.checkpoints.cosign, body))
