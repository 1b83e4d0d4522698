"""API tokens (admins only): listed without secrets, issued (the secret in that answer
only) and revoked; issuing and revoking are events in the log like every write."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from adapters.tokens import TokenInfo
from api.dependencies import Admin, ServicesDep
from api.json_body import JsonRoute
from api.schemas import (
    ADMIN_PROBLEMS,
    TOKEN_WRITE_PROBLEMS,
    TokenCreated,
    TokenIn,
    TokenOut,
    problems,
    written,
)
from api.writes import WRITE_HEADERS, AdminWriteDep
from domain.tokens import ApiToken
from domain.vocabulary import MAX_TITLE

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"], route_class=JsonRoute)


@router.get(
    "",
    response_model=list[TokenOut],
    summary="Every token, oldest first (revoked and expired ones too), without secrets",
    responses=ADMIN_PROBLEMS,
)
def list_tokens(
    _: Admin,
    services: ServicesDep,
    status: Literal["active", "expired", "revoked"] | None = None,
) -> Any:
    now = services.tokens.now()
    listed = [token.as_dict(now) for token in services.tokens.list()]
    return [token for token in listed if status is None or token["status"] == status]


@router.get(
    "/{ref}",
    response_model=TokenOut,
    summary="One token, by its id, its name or its actor (name#1a2b3c4d, # as %23)",
    responses=ADMIN_PROBLEMS | problems(e404="No such token"),
)
def get_token(ref: str, _: Admin, services: ServicesDep) -> Any:
    return services.tokens.get(ref).as_dict(services.tokens.now())


@router.post(
    "",
    status_code=201,
    response_model=TokenCreated,
    summary="Issue a token: the answer carries its secret, which is never shown again",
    responses=TOKEN_WRITE_PROBLEMS | written(201, location=True),
    openapi_extra=WRITE_HEADERS,
)
def issue_token(body: TokenIn, write: AdminWriteDep) -> Response:
    tokens = write.services.tokens
    issuing = tokens.issuing(**body.model_dump(exclude_unset=True))

    def render(token: ApiToken, _: str | None) -> dict[str, Any]:
        shown = issuing.secret_of(token)  # None when replaying an Idempotency-Key
        return TokenInfo.of_token(token).as_dict(tokens.now()) | {"token": shown}

    return write.run(
        issuing.command,
        body,
        status_code=201,
        render=render,
        location=_url,
        beside=issuing.beside,
    )


@router.delete(
    "/{ref}",
    status_code=204,
    summary="Revoke a token at once (it stays listed, and its name taken)",
    responses=TOKEN_WRITE_PROBLEMS | written(204),
    openapi_extra=WRITE_HEADERS,
)
def revoke_token(
    ref: str,
    write: AdminWriteDep,
    reason: Annotated[str, Query(max_length=MAX_TITLE, description="Recorded with it")] = "",
) -> Response:
    command, beside = write.services.tokens.revoking(ref, reason=reason)
    return write.run(command, None, status_code=204, beside=beside)


def _url(token: ApiToken, _: str | None) -> str:
    return f"{router.prefix}/{token.token_id}"
