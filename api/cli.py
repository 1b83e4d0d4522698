"""The `commitments` command line (CONTRACT section 3), built with Typer."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from eventsourcing.persistence import PersistenceError
from sqlalchemy.exc import SQLAlchemyError

from adapters import backup, ledger
from adapters.event_store import engine_of, open_tracker
from adapters.follower import ProjectionFollower
from adapters.history import commitment_history
from adapters.migrate import SchemaNotCurrent, upgrade
from adapters.projection import ReadModelProjection
from adapters.seeds import SeedError, seed
from adapters.settings import ConfigurationError, Settings, load_settings
from adapters.tokens import create_token, has_admin_token
from domain.access import Role
from domain.errors import DomainError
from domain.tracker import Tracker
from domain.views import describe, judgement_day

app = typer.Typer(
    help="Event-sourced tracker of the Canada-Mexico Action Plan 2025-2028.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
token_app = typer.Typer(help="Manage API bearer tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


class UserError(Exception):
    """Something the user can fix; printed as one line, exit status 1."""


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as error:
        raise UserError(str(error)) from None


@contextmanager
def tracker_session() -> Iterator[Tracker]:
    tracker = open_tracker(settings().database_url)
    try:
        yield tracker
    finally:
        tracker.close()


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option} must be a date like 2026-03-31; got {value!r}") from None


def parse_datetime(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"{option} must be a date-time like 2026-04-01T12:00:00Z; got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def migrate() -> None:
    """Upgrade the configured database to the latest schema (alembic upgrade head)."""
    before, after = upgrade(settings().database_url)
    if before == after:
        typer.echo(f"database schema already at {after}; nothing to do", err=True)
    else:
        typer.echo(f"database schema migrated from {before or 'empty'} to {after}", err=True)


@app.command("seed")
def seed_command(
    demo: Annotated[
        bool, typer.Option("--demo", help="Also load the SAMPLE progress history")
    ] = False,
) -> None:
    """Load the Action Plan's commitments from seeds/ (idempotent)."""
    with tracker_session() as tracker:
        report = seed(tracker, demo=demo)
    typer.echo(
        f"commitments: {report.registered} registered, {report.already_registered} already there"
        + (
            f"; sample histories: {report.samples_applied} applied, "
            f"{report.samples_already_applied} already there"
            if demo
            else ""
        ),
        err=True,
    )


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="Code (e.g. CMAP-PROS-RAIL) or UUID")],
    version: Annotated[int | None, typer.Option("--version", help="A past version", min=1)] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Effective date YYYY-MM-DD")] = None,
    known_at: Annotated[
        str | None, typer.Option("--known-at", help="Recorded time, ISO 8601 (UTC if no offset)")
    ] = None,
) -> None:
    """Print a commitment's state as JSON, optionally as it was."""
    effective = parse_date(as_of, "--as-of")
    recorded = parse_datetime(known_at, "--known-at")
    with tracker_session() as tracker:
        commitment = tracker.state(ref, version=version, as_of=effective, known_at=recorded)
        day = judgement_day(
            commitment,
            today=datetime.now(UTC).date(),
            version=version,
            as_of=effective,
            known_at=recorded,
        )
        print_json(describe(commitment, day))


@app.command()
def history(ref: Annotated[str, typer.Argument(help="Code or UUID")]) -> None:
    """Print the commitment's events as JSON, oldest first."""
    with tracker_session() as tracker:
        print_json(commitment_history(tracker, ref))


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="Recorded as the actor of every event")],
    role: Annotated[Role, typer.Option("--role", case_sensitive=False)],
    party: Annotated[
        str | None, typer.Option("--party", help="Party an editor may write for: CA, MX, US...")
    ] = None,
) -> None:
    """Create a bearer token and print it alone on stdout (only its hash is kept)."""
    with tracker_session() as tracker:
        typer.echo(create_token(engine_of(tracker), name=name, role=role, party=party))


@token_app.command("bootstrap")
def token_bootstrap(
    name: Annotated[str, typer.Option("--name")] = "admin",
) -> None:
    """Create and print an admin token only if no admin token exists yet (`make run`)."""
    with tracker_session() as tracker:
        engine = engine_of(tracker)
        if has_admin_token(engine):
            typer.echo("an admin token exists already; create more with `token create`", err=True)
            return
        typer.echo(create_token(engine, name=name, role=Role.ADMIN, party=None))


@app.command()
def project(
    once: Annotated[bool, typer.Option("--once", help="Catch up, then exit")] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Wipe the read models and replay from the first event")
    ] = False,
) -> None:
    """Run the projection worker: catch up on the event log, then follow it."""
    with tracker_session() as tracker:
        projection = ReadModelProjection(tracker)
        if rebuild:
            projection.rebuild()
            typer.echo("read models wiped; replaying the log", err=True)
        if once:
            follower = ProjectionFollower(projection)
            target = projection.head()
            started = time.monotonic()
            follower.start()
            try:
                # Whichever worker holds the projection (this one, or one elsewhere on
                # PostgreSQL) brings it to the head as it was when we started.
                while projection.position() < target:
                    time.sleep(0.1)
            finally:
                follower.stop()
            typer.echo(
                f"projection at position {projection.position()} "
                f"(head {projection.head()}), {time.monotonic() - started:.1f} s",
                err=True,
            )
            return
        follower = ProjectionFollower(projection)
        typer.echo(
            f"following the log from position {projection.position()}; Ctrl-C stops", err=True
        )
        signal.signal(signal.SIGTERM, lambda *_: follower.stop(timeout=0))
        try:
            follower.run()
        except KeyboardInterrupt:
            follower.stop(timeout=0)
        typer.echo(f"stopped at position {projection.position()}", err=True)


@app.command()
def verify() -> None:
    """Recompute the event log's hash chain; exit 1 naming the first bad position."""
    with tracker_session() as tracker:
        result = ledger.verify(engine_of(tracker))
    print_json(result.as_dict())
    if not result.verified:
        raise UserError(
            f"the event log does not verify at position {result.first_bad_position}: "
            f"{result.problem}"
        )


@app.command("export")
def export_command(
    out: Annotated[Path, typer.Option("--out", help="File to write (JSON lines)")],
) -> None:
    """Write the whole event log, with its hash chain, as JSON lines (streaming)."""
    with tracker_session() as tracker, out.open("w", encoding="utf-8") as handle:
        summary = backup.export_log(engine_of(tracker), handle)
    typer.echo(
        f"exported {summary.events} events up to position {summary.head_position}, "
        f"chain head {summary.chain_head}",
        err=True,
    )


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="A file written by `commitments export`")],
) -> None:
    """Restore an exported log into an empty database, then rebuild the projections."""
    with tracker_session() as tracker:
        try:
            summary = backup.import_log(engine_of(tracker), file)
        except backup.ImportRefused as error:
            raise UserError(f"import refused: {error}") from None
        projection = ReadModelProjection(tracker)
        projection.rebuild()
        projection.catch_up()
    typer.echo(
        f"imported {summary.events} events up to position {summary.head_position}, "
        f"chain head {summary.chain_head}; projections rebuilt",
        err=True,
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
) -> None:
    """Serve the REST API."""
    import uvicorn

    from api.app import create_app

    config = settings()
    with tracker_session():
        pass  # Fail fast, with one line, when the database is not ready.
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")


def main() -> None:
    """Console-script entry point: user errors become one line on stderr."""
    try:
        status = app(standalone_mode=False)
    except typer.Abort:
        _exit_with("aborted", 130)
    except typer.TyperException as error:  # usage errors: unknown command, bad option
        _exit_with(error.format_message().replace("\n", " "), error.exit_code)
    except (UserError, SeedError, SchemaNotCurrent, ConfigurationError) as error:
        _exit_with(str(error))
    except DomainError as error:
        _exit_with(error.message)
    except (SQLAlchemyError, PersistenceError) as error:
        _exit_with(f"database error: {str(error).strip().splitlines()[0]}")
    sys.exit(status if isinstance(status, int) else 0)


def _exit_with(message: str, status: int = 1) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


if __name__ == "__main__":
    main()
