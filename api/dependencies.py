"""FastAPI dependencies: the application instance, the settings and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.event_store import engine_of
from adapters.follower import ProjectionFollower
from adapters.settings import Settings
from adapters.tokens import authenticate
from api.problems import Problem
from domain.access import Principal, Role
from domain.tracker import Tracker

_bearer = HTTPBearer(auto_error=False, description="A token from `commitments token create`")


def get_tracker(request: Request) -> Tracker:
    tracker: Tracker = request.app.state.tracker
    return tracker


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


TrackerDep = Annotated[Tracker, Depends(get_tracker)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _principal(tracker: Tracker, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None:
        raise Problem(
            401, "this endpoint needs `Authorization: Bearer <token>`", headers=_CHALLENGE
        )
    principal = authenticate(engine_of(tracker), credentials.credentials)
    if principal is None:
        raise Problem(401, "the bearer token is unknown or revoked", headers=_CHALLENGE)
    return principal


def reader(
    tracker: TrackerDep, settings: SettingsDep, credentials: Credentials
) -> Principal | None:
    """Any valid token reads; with COMMITMENTS_PUBLIC_READ=true no token is needed."""
    if settings.public_read and credentials is None:
        return None
    return _principal(tracker, credentials)


Reader = Annotated[Principal | None, Depends(reader)]


def writer(tracker: TrackerDep, credentials: Credentials) -> Principal:
    """Editors and admins write (editors only for their party: checked per commitment)."""
    principal = _principal(tracker, credentials)
    if principal.role is Role.VIEWER:
        raise Problem(403, "a viewer token may only read", kind="forbidden")
    if principal.role is Role.EDITOR and principal.party is None:
        raise Problem(403, "an editor token without a party writes nothing", kind="forbidden")
    return principal


def admin(tracker: TrackerDep, credentials: Credentials) -> Principal:
    principal = _principal(tracker, credentials)
    if not principal.may_administer():
        raise Problem(403, "this needs an admin token", kind="forbidden")
    return principal


Writer = Annotated[Principal, Depends(writer)]
Admin = Annotated[Principal, Depends(admin)]


def get_follower(request: Request) -> ProjectionFollower | None:
    follower: ProjectionFollower | None = getattr(request.app.state, "follower", None)
    return follower


FollowerDep = Annotated[ProjectionFollower | None, Depends(get_follower)]
