"""Configuration from the environment (docs/api.md, Configuration)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from adapters.rate_limit import DEFAULT_AUTH_FAILURE_LIMIT, parse_limit

DEFAULT_DATABASE_URL = "sqlite:///./var/commitments.sqlite"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigurationError(Exception):
    """A setting has a value the program cannot use; the message says which."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    public_read: bool
    scheduler: bool
    projector: bool
    # Failed authentications allowed per client address, in limits' notation, or "off".
    auth_failure_limit: str = DEFAULT_AUTH_FAILURE_LIMIT


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    return Settings(
        database_url=normalise_database_url(
            env.get("COMMITMENTS_DATABASE_URL") or DEFAULT_DATABASE_URL
        ),
        public_read=_flag(env, "COMMITMENTS_PUBLIC_READ", False),
        scheduler=_flag(env, "COMMITMENTS_SCHEDULER", True),
        projector=_flag(env, "COMMITMENTS_PROJECTOR", True),
        auth_failure_limit=_limit(env, "COMMITMENTS_AUTH_FAILURE_LIMIT"),
    )


def _limit(env: Mapping[str, str], name: str) -> str:
    raw = (env.get(name) or "").strip() or DEFAULT_AUTH_FAILURE_LIMIT
    try:
        parse_limit(raw)
    except ValueError:
        raise ConfigurationError(
            f"{name} must be a rate like 10/minute or '20 per 5 minutes', or off; got {raw!r}"
        ) from None
    return raw


def normalise_database_url(url: str) -> str:
    """Accept plain `postgresql://` (use psycopg 3) and create a SQLite file's folder."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"COMMITMENTS_DATABASE_URL is not a database URL: {url!r}"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername not in ("postgresql+psycopg", "sqlite", "sqlite+pysqlite"):
        raise ConfigurationError(
            f"unsupported database {parsed.drivername!r}: use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST/DB"
        )
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    return parsed.render_as_string(hide_password=False)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false; got {raw!r}")
