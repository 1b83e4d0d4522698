"""A request id per request, bound to the log context (api/logs.py writes it into every
line logged for the request) and returned as X-Request-ID; each request's latency counted
in the app's metrics (adapters/metrics.py), and its access log line.

`RequestContext` is the outermost middleware of the app (pure ASGI: a BaseHTTPMiddleware
would cost a task and a stream per request).
"""

from __future__ import annotations

import logging
import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.metrics import Metrics
from api.problems import problem_response

REQUEST_ID_HEADER = b"x-request-id"
# A client's id is kept if it is 1-128 visible ASCII characters (no spaces, no control
# characters: it goes into logs and a response header); otherwise a new one is made.
_VALID_ID = re.compile(rb"[\x21-\x7e]{1,128}")
# Methods outside these are counted as "other": a label per invented method would grow
# the metrics without bound.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

access_log = logging.getLogger("api.access")
log = logging.getLogger(__name__)


def request_id_of(scope: Scope) -> str:
    """The client's X-Request-ID if it is acceptable, else a new one (uuid4, hex)."""
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            if _VALID_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return uuid.uuid4().hex


class RequestContext:
    """Gives each HTTP request an id (bound to the log context and sent back as
    X-Request-ID on every response, errors included), counts its latency by route
    template and status, and writes its access log line."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope)
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 499  # nginx's "client closed request": no answer was sent
        responded = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status = message["status"]
                responded = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # A bug: the app's handlers answered nothing. Logged with its traceback here,
            # where the request id is known, and answered as a problem that carries it.
            log.exception("unexpected error")
            if responded:
                raise  # half an answer was sent: only closing the connection is left
            response = problem_response(500, "an unexpected error occurred; it has been logged")
            await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.http_requests.labels(method, template, str(status)).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                access_log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": client[0] if client else None,
                    },
                )
            structlog.contextvars.reset_contextvars(**tokens)
