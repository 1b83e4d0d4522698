"""FastAPI dependencies: the process's services (adapters/bootstrap.py) and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.bootstrap import Services
from adapters.event_store import StoredTracker
from api.problems import Problem
from domain.access import Principal

_bearer = HTTPBearer(auto_error=False, description="A token from `commitments token create`")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_tracker(request: Request) -> StoredTracker:
    return get_services(request).tracker


ServicesDep = Annotated[Services, Depends(get_services)]
TrackerDep = Annotated[StoredTracker, Depends(get_tracker)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _principal(services: Services, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None:
        raise Problem(
            401, "this endpoint needs `Authorization: Bearer <token>`", headers=_CHALLENGE
        )
    principal = services.authenticate(credentials.credentials)
    if principal is None:
        raise Problem(401, "the bearer token is unknown or revoked", headers=_CHALLENGE)
    return principal


def reader(services: ServicesDep, credentials: Credentials) -> Principal | None:
    """Any valid token reads; with COMMITMENTS_PUBLIC_READ=true no token is needed."""
    if services.settings.public_read and credentials is None:
        return None
    return _principal(services, credentials)


def writer(services: ServicesDep, credentials: Credentials) -> Principal:
    """Editors and admins write (editors only for their party: the domain checks that
    per commitment); viewers and editors without a party are refused before anything."""
    principal = _principal(services, credentials)
    principal.require_writer()
    return principal


def admin(services: ServicesDep, credentials: Credentials) -> Principal:
    principal = _principal(services, credentials)
    principal.require_admin()
    return principal


Reader = Annotated[Principal | None, Depends(reader)]
Writer = Annotated[Principal, Depends(writer)]
Admin = Annotated[Principal, Depends(admin)]
