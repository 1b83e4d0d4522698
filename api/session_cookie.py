"""The dashboard's sign-in cookie: a session id (adapters/sessions.py), never the token.

HttpOnly (no script reads it), SameSite=Strict (no other site's request carries it),
`Secure` when the page was served over HTTPS (api/security.py:served_over_https), and
a browser-session cookie: the server's idle and absolute limits decide how long it works.
"""

from __future__ import annotations

from fastapi import Request, Response

from adapters.bootstrap import Services
from adapters.tokens import TooManyFailures
from api.dependencies import client_address
from api.security import served_over_https
from domain.access import Principal

SESSION_COOKIE = "commitments_session"
LEGACY_COOKIE = "commitments_token"  # before 0.9: held the token itself; now ignored


def session_holder(request: Request, services: Services) -> Principal | None:
    """Who the request's session is of (None: no session, or one that no longer works).
    A cookie that names no working session counts as a failed sign-in of the address, as
    a wrong token does; while the address is throttled, nobody is signed in from it."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    authenticate = services.authenticate
    address = client_address(request)
    try:
        authenticate.refuse_if_limited(address)
    except TooManyFailures:
        return None  # as if signed out: signing in says why it cannot be done now
    principal = services.sessions.holder(session_id)
    if principal is None:
        authenticate.failed(address)
    return principal


def set_session_cookie(response: Response, request: Request, session_id: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        secure=served_over_https(request),
        path="/",
    )


def forget_session_cookie(response: Response, request: Request) -> None:
    for name in (SESSION_COOKIE, LEGACY_COOKIE):
        if name in request.cookies:
            response.delete_cookie(name, path="/", httponly=True, samesite="strict")
