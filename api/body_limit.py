"""Refuse request bodies over 64 KiB (413) before anything reads them; a report sent to
be verified may be larger (LARGER_BODIES)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response

MAX_BODY_BYTES = 64 * 1024
# Paths whose bodies are files, with their own limits (an HTML report with charts is ~1 MB).
LARGER_BODIES = {"/api/v1/reports/verify": 32 * 1024 * 1024}


class BodyLimit:
    """ASGI middleware: checks Content-Length, and reads (and counts) the body before the
    application does, so a chunked body over the limit is a 413 too, never half-parsed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = LARGER_BODIES.get(scope["path"], self.limit)
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._refuse(scope, receive, send, limit)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away: there is no one to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, receive, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        buffered: Message | None = {"type": "http.request", "body": b"".join(chunks)}

        async def replay() -> Message:
            nonlocal buffered
            if buffered is not None:
                message, buffered = buffered, None
                return message
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(
            413,
            f"request bodies here are limited to {limit // 1024} KiB",
            kind="payload-too-large",
        )
        await response(scope, receive, send)
