"""FastAPI dependencies: the process's services (adapters/bootstrap.py) and the caller.

They are `async def`: FastAPI runs a plain `def` dependency in the thread pool, one
hand-over per dependency per request, which cost more than a write's own work. Nothing
here blocks: a token's holder comes from the authenticator's memory, and only a token
not seen lately is looked up, in the thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.bootstrap import Services
from adapters.event_store import StoredTracker
from adapters.tokens import TooManyFailures
from api.problems import Problem
from domain.access import Principal

_bearer = HTTPBearer(auto_error=False, description="A token from `commitments token create`")


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_tracker(request: Request) -> StoredTracker:
    return (await get_services(request)).tracker


ServicesDep = Annotated[Services, Depends(get_services)]
TrackerDep = Annotated[StoredTracker, Depends(get_tracker)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def client_address(request: Request) -> str:
    """Who failed authentications are counted against. (Behind a reverse proxy on this
    host, uvicorn takes the address from X-Forwarded-For: --forwarded-allow-ips.)"""
    return request.client.host if request.client is not None else "unknown"


def too_many_failures(error: TooManyFailures) -> Problem:
    return Problem(
        429, str(error), kind="too-many-failures", headers={"Retry-After": str(error.seconds)}
    )


async def principal_of(
    services: Services, credentials: HTTPAuthorizationCredentials | None, address: str
) -> Principal:
    """The holder of the bearer token (401 without one, or for an unknown, revoked or
    expired one; 429 while `address` has failed too often lately, without a look-up)."""
    if credentials is None:
        raise Problem(
            401, "this endpoint needs `Authorization: Bearer <token>`", headers=_CHALLENGE
        )
    authenticate = services.authenticate
    try:
        authenticate.refuse_if_limited(address)
    except TooManyFailures as error:
        raise too_many_failures(error) from None
    token = credentials.credentials
    principal = authenticate.remembered(token)
    if principal is None:
        principal = await run_in_threadpool(authenticate, token)
    if principal is None:
        authenticate.failed(address)
        raise Problem(
            401, "the bearer token is unknown or revoked, or has expired", headers=_CHALLENGE
        )
    return principal


# The services are taken from the app here, not as a dependency of their own: FastAPI
# solves each sub-dependency with its whole machinery, per request, before its cache.


async def reader(request: Request, credentials: Credentials) -> Principal | None:
    """Any valid token reads; with COMMITMENTS_PUBLIC_READ=true no token is needed."""
    services: Services = request.app.state.services
    if services.settings.public_read and credentials is None:
        return None
    return await principal_of(services, credentials, client_address(request))


async def writer(request: Request, credentials: Credentials) -> Principal:
    """Editors and admins write (editors only for their party: the domain checks that
    per commitment); viewers and editors without a party are refused before anything."""
    principal = await principal_of(request.app.state.services, credentials, client_address(request))
    principal.require_writer()
    return principal


async def admin(request: Request, credentials: Credentials) -> Principal:
    principal = await principal_of(request.app.state.services, credentials, client_address(request))
    principal.require_admin()
    return principal


Reader = Annotated[Principal | None, Depends(reader)]
Writer = Annotated[Principal, Depends(writer)]
Admin = Annotated[Principal, Depends(admin)]
