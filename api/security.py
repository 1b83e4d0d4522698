"""Browser safety: security headers on every response, and CSRF tokens for forms.

The pages run no scripts, so the Content-Security-Policy allows none; styles are inline
(the pages' <style> and the report's SVG charts carry style attributes, which hashes
cannot cover), so `style-src 'unsafe-inline'`. The interactive API docs (/docs, /redoc)
are FastAPI's Swagger UI and ReDoc pages, with their assets served from this server
(fastapi-offline, under DOCS_ASSETS) and an inline script that starts them: they get a
policy of their own that lets exactly that work, and nothing from elsewhere.
"""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_ASSETS = "/docs-assets"  # Swagger UI's and ReDoc's files (fastapi-offline)
DOCS_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _encoded(policy: str) -> tuple[tuple[bytes, bytes], ...]:
    pairs = [*HEADERS.items(), ("Content-Security-Policy", policy)]
    return tuple((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in pairs)


_PAGE_HEADERS = _encoded(PAGE_POLICY)
_DOCS_HEADERS = _encoded(DOCS_POLICY)


class SecurityHeaders:
    """ASGI middleware wrapped around the whole application (error pages included): adds
    the headers to every response, JSON too (a CSP there costs nothing and covers a JSON
    document opened in a browser)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = _DOCS_HEADERS if scope["path"] in DOCS_PATHS else _PAGE_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # What the response does not set itself, found in one pass over its
                # headers (each MutableHeaders.setdefault was a pass of its own).
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [header for header in added if header[0] not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ---- CSRF: signed double-submit --------------------------------------------------------

CSRF_COOKIE = "commitments_csrf"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE = 2 * 60 * 60  # a form older than this is sent again with a new token


class CsrfTokens:
    """OWASP's signed double-submit cookie: a random value in an HttpOnly, SameSite=Strict
    cookie, and in the form the value signed with the server's secret (itsdangerous).
    A POST is accepted only when the form's token is validly signed, recent, and signs
    the cookie's value: another site can neither read the cookie nor forge the signature.
    The secret comes from COMMITMENTS_SECRET_KEY (so that several servers share it) or
    is made per process (a form is then accepted only by the process that served it)."""

    def __init__(self, secret: str | None) -> None:
        self._serializer = URLSafeTimedSerializer(
            secret or secrets.token_urlsafe(32), salt="commitments-csrf"
        )

    def issue(self, request: Request) -> tuple[str, str]:
        """(cookie value, form token): the cookie the browser has, else a new one."""
        value = request.cookies.get(CSRF_COOKIE) or ""
        if len(value) != 43:  # secrets.token_urlsafe(32): anything else is not ours
            value = secrets.token_urlsafe(32)
        return value, self._serializer.dumps(value)

    def valid(self, request: Request, token: str) -> bool:
        value = request.cookies.get(CSRF_COOKIE) or ""
        try:
            signed = self._serializer.loads(token, max_age=CSRF_MAX_AGE)
        except BadSignature:  # SignatureExpired is a BadSignature too
            return False
        return bool(value) and isinstance(signed, str) and hmac.compare_digest(signed, value)


def set_csrf_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        value,
        httponly=True,
        samesite="strict",
        secure=served_over_https(request),
        path="/",
    )


def served_over_https(request: Request) -> bool:
    """uvicorn sets the scheme from X-Forwarded-Proto when the proxy is trusted
    (--proxy-headers, FORWARDED_ALLOW_IPS), so this holds behind a TLS proxy too."""
    return request.url.scheme == "https"
