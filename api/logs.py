"""Logs as JSON lines, through structlog.

`configure_logging` is called once by the long-running commands (`serve`, `project`,
`scheduler`): every `logging` logger, uvicorn's included, then writes one JSON object a
line, with the request id of the request it ran for (bound by api/observability.py).
Other commands keep Python's default: warnings only, as plain text, beside their one-line
messages.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

import orjson
import structlog

# What an access line carries beside the timestamp, level, logger, event and request id.
ACCESS_FIELDS = ("method", "path", "status", "duration_ms", "client")
_HANDLER_NAME = "commitments-json"


def _json(value: Any, **_: Any) -> str:
    # orjson: a third of the standard library's time, on every access line; str() for
    # whatever it does not know (an exception's argument, a Path).
    return orjson.dumps(value, default=str).decode()


def configure_logging(level: int | str = logging.INFO, stream: IO[str] | None = None) -> None:
    """Every `logging` record (ours, uvicorn's, the libraries') as one JSON object a line
    on `stream` (stderr): timestamp, level, logger, event, the request id when there is
    one, an access line's fields, and a traceback as `exception`. Calling it again
    replaces the handler it installed."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(allow=ACCESS_FIELDS)],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_json),
        ],
    )
    handler = logging.StreamHandler(stream) if stream is not None else _Stderr()
    handler.setFormatter(formatter)
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's loggers write through the root's handler, not their own.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler on whatever `sys.stderr` is when a record is written, not when it was
    configured (a test's captured stream, replaced since, would be closed)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass  # always sys.stderr
