"""Configuration from the environment (docs/api.md, Configuration)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from adapters.rate_limit import DEFAULT_AUTH_FAILURE_LIMIT, parse_limit
from domain.checkpoint import NoteError, Verifier

DEFAULT_DATABASE_URL = "sqlite:///./var/commitments.sqlite"
# The checkpoint origin (C2SP tlog-checkpoint): names this log; set it to your own.
DEFAULT_LOG_ORIGIN = "tracker.example/canada-mexico-action-plan-2025-2028"
DEFAULT_CHECKPOINT_SECONDS = 300.0
DEFAULT_MAX_POSITION_WAITERS = 64
# The leases of the projection follower and the report scheduler (adapters/leases.py): a
# stopped leader is replaced this long after its last renewal.
DEFAULT_LEASE_SECONDS = 5.0
# Dashboard sessions (adapters/sessions.py): one ends after this long without a page
# view (idle), and this long after its sign-in whatever happens (absolute).
DEFAULT_SESSION_IDLE_SECONDS = 3600.0
DEFAULT_SESSION_MAX_SECONDS = 12 * 3600.0

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
    # Checkpoints (adapters/checkpoints.py): the log's name, the operator's signing key
    # (a file holding a PRIVATE+KEY+... string), the public keys readers trust.
    log_origin: str = DEFAULT_LOG_ORIGIN
    signing_key_file: str | None = None
    operator_key: str | None = None
    witness_keys: tuple[str, ...] = ()
    checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS
    # Failed authentications allowed per client address, in limits' notation, or "off".
    auth_failure_limit: str = DEFAULT_AUTH_FAILURE_LIMIT
    # Signs the dashboard's CSRF tokens; None: a random one per process (api/security.py).
    secret_key: str | None = field(default=None, repr=False)
    # Readers waiting at once for `?min_position=`; more are answered 503 at once.
    max_position_waiters: int = DEFAULT_MAX_POSITION_WAITERS
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    # Run the webhook deliverer inside `commitments serve` (adapters/webhooks.py).
    webhooks: bool = True
    session_idle_seconds: float = DEFAULT_SESSION_IDLE_SECONDS
    session_max_seconds: float = DEFAULT_SESSION_MAX_SECONDS
    # A streaming replica of the PostgreSQL database for list, report, feed and dashboard
    # reads (None: every read goes to database_url, as without a replica).
    read_database_url: str | None = None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    operator = _keys(env, "COMMITMENTS_OPERATOR_KEY", "ed25519")
    return Settings(
        database_url=normalise_database_url(
            env.get("COMMITMENTS_DATABASE_URL") or DEFAULT_DATABASE_URL
        ),
        public_read=_flag(env, "COMMITMENTS_PUBLIC_READ", False),
        scheduler=_flag(env, "COMMITMENTS_SCHEDULER", True),
        projector=_flag(env, "COMMITMENTS_PROJECTOR", True),
        log_origin=_origin(env),
        signing_key_file=(env.get("COMMITMENTS_SIGNING_KEY_FILE") or "").strip() or None,
        operator_key=operator[0] if operator else None,
        witness_keys=tuple(_keys(env, "COMMITMENTS_WITNESS_KEYS", "cosignature")),
        checkpoint_seconds=_seconds(env, "COMMITMENTS_CHECKPOINT_SECONDS"),
        auth_failure_limit=_limit(env, "COMMITMENTS_AUTH_FAILURE_LIMIT"),
        secret_key=(env.get("COMMITMENTS_SECRET_KEY") or "").strip() or None,
        max_position_waiters=_count(env, "COMMITMENTS_MAX_POSITION_WAITERS"),
        lease_seconds=_lease_seconds(env, "COMMITMENTS_LEASE_SECONDS"),
        webhooks=_flag(env, "COMMITMENTS_WEBHOOKS", True),
        session_idle_seconds=_session_seconds(
            env, "COMMITMENTS_SESSION_IDLE_SECONDS", DEFAULT_SESSION_IDLE_SECONDS
        ),
        session_max_seconds=_session_seconds(
            env, "COMMITMENTS_SESSION_MAX_SECONDS", DEFAULT_SESSION_MAX_SECONDS
        ),
        read_database_url=_read_database_url(env),
    )


def _read_database_url(env: Mapping[str, str]) -> str | None:
    """COMMITMENTS_READ_DATABASE_URL: a PostgreSQL replica of COMMITMENTS_DATABASE_URL."""
    name = "COMMITMENTS_READ_DATABASE_URL"
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    url = normalise_database_url(raw, name)
    primary = normalise_database_url(env.get("COMMITMENTS_DATABASE_URL") or DEFAULT_DATABASE_URL)
    # Streaming replication is PostgreSQL's: a SQLite file has no replica to read from.
    if make_url(url).get_backend_name() != "postgresql" or not primary.startswith("postgresql"):
        raise ConfigurationError(
            f"{name} needs PostgreSQL on both sides: postgresql+psycopg://USER@HOST/DB of a "
            "streaming replica of COMMITMENTS_DATABASE_URL"
        )
    return url


def _origin(env: Mapping[str, str]) -> str:
    origin = (env.get("COMMITMENTS_LOG_ORIGIN") or "").strip() or DEFAULT_LOG_ORIGIN
    if any(ord(c) < 0x20 or c == "\x7f" for c in origin):
        raise ConfigurationError("COMMITMENTS_LOG_ORIGIN must be one line of text")
    return origin


def _keys(env: Mapping[str, str], name: str, kind: str) -> list[str]:
    """Verifier key strings (name+keyid+base64), separated by commas or spaces."""
    keys = [k for k in (env.get(name) or "").replace(",", " ").split() if k]
    for key in keys:
        try:
            verifier = Verifier.parse(key)
        except NoteError as error:
            raise ConfigurationError(f"{name}: {key!r} is not a verifier key: {error}") from None
        if verifier.kind != kind:
            raise ConfigurationError(
                f"{name}: {verifier.name} is a {verifier.kind} key; this needs {kind} keys "
                "(commitments keygen --witness makes cosignature keys)"
            )
    if name == "COMMITMENTS_OPERATOR_KEY" and len(keys) > 1:
        raise ConfigurationError(f"{name} holds one key; got {len(keys)}")
    return keys


def _seconds(env: Mapping[str, str], name: str) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return DEFAULT_CHECKPOINT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86_400 or value != value:
        raise ConfigurationError(f"{name} must be seconds from 0 (never) to 86400; got {raw!r}")
    return value


def _lease_seconds(env: Mapping[str, str], name: str) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return DEFAULT_LEASE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 1 <= value <= 600 or value != value:
        raise ConfigurationError(f"{name} must be seconds from 1 to 600; got {raw!r}")
    return value


def _session_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 60 <= value <= 30 * 86_400 or value != value:
        raise ConfigurationError(f"{name} must be seconds from 60 to 2592000; got {raw!r}")
    return value


def _count(env: Mapping[str, str], name: str) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return DEFAULT_MAX_POSITION_WAITERS
    if not raw.isdigit() or not 0 <= int(raw) <= 100_000:
        raise ConfigurationError(f"{name} must be a whole number from 0 to 100000; got {raw!r}")
    return int(raw)


def _limit(env: Mapping[str, str], name: str) -> str:
    raw = (env.get(name) or "").strip() or DEFAULT_AUTH_FAILURE_LIMIT
    try:
        parse_limit(raw)
    except ValueError:
        raise ConfigurationError(
            f"{name} must be a rate like 10/minute or '20 per 5 minutes', or off; got {raw!r}"
        ) from None
    return raw


def normalise_database_url(url: str, name: str = "COMMITMENTS_DATABASE_URL") -> str:
    """Accept plain `postgresql://` (use psycopg 3); `name` is the setting, for errors."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(f"{name} is not a database URL: {url!r}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername not in ("postgresql+psycopg", "sqlite", "sqlite+pysqlite"):
        raise ConfigurationError(
            f"{name}: unsupported database {parsed.drivername!r}: use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST/DB"
        )
    # No folder or file is made here: only `commitments migrate` makes a database
    # (create_database_folder), so a command run from the wrong folder makes none.
    return parsed.render_as_string(hide_password=False)


class DatabaseMissing(ConfigurationError):
    """The configured SQLite file does not exist (never migrated, or the wrong folder)."""


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (relative paths are relative to the working folder)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # a URI filename: leave it to SQLite
        return None
    return Path(database)


def describe_database(url: str) -> str:
    """The URL with its password hidden (in `user:password@` or as a `password=` query
    parameter, as libpq also takes it), and a SQLite file's absolute path."""
    parsed = make_url(url)
    hidden = {key: "***" for key in parsed.query if "password" in key.lower()}
    shown = parsed.update_query_dict(hidden).render_as_string(hide_password=True)
    shown = shown.replace("=%2A%2A%2A", "=***")  # as the rendered URL escapes it
    path = _sqlite_file(url)
    return shown if path is None else f"{shown} ({path.resolve()})"


def require_database(url: str) -> None:
    """Refuse a SQLite file that is not there, before anything opens it (which would make
    an empty one)."""
    path = _sqlite_file(url)
    if path is not None and not path.is_file():
        raise DatabaseMissing(
            f"no database at {describe_database(url)}: run `commitments migrate` first, "
            "or set COMMITMENTS_DATABASE_URL"
        )


def create_database_folder(url: str) -> None:
    """For `commitments migrate`, which makes the database: a SQLite file's folder."""
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


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
