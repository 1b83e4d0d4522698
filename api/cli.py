"""The `commitments` command line (docs/api.md, CLI), built with Typer.

Every command builds the process's services from the settings (adapters/bootstrap.py)
and writes through the unit of work like the API does. `main(argv)` returns the exit
status; user errors are one line on stderr.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from eventsourcing.persistence import PersistenceError
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from adapters import backup, ledger, open_data
from adapters.bootstrap import Services, services_for
from adapters.history import commitment_history
from adapters.i18n import DEFAULT_LANGUAGE, LANGUAGES
from adapters.log_guard import shrinkage
from adapters.migrate import SchemaNotCurrent, upgrade
from adapters.rebuild import RebuildRefused
from adapters.reports import verification as report_check
from adapters.reports.archive import ReproductionFailed
from adapters.scheduler import list_schedules
from adapters.seeds import SeedError, seed
from adapters.settings import (
    ConfigurationError,
    Settings,
    create_database_folder,
    describe_database,
    load_settings,
)
from adapters.tables import READ_MODEL_TABLES
from adapters.tokens import AUTH_CACHE_SECONDS
from adapters.unit_of_work import Write
from adapters.witness import HttpTransport, WitnessFailed, WitnessRefused, witness
from api import collector
from api.json_body import dumps
from api.logs import configure_logging
from domain import offline_verifier
from domain.access import Principal, Role, system
from domain.checkpoint import NoteError, Signer, Verifier
from domain.commands import DefineSchedule, RemoveSchedule
from domain.errors import DomainError
from domain.tokens import NAME_PATTERN
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
schedule_app = typer.Typer(help="Manage report schedules.", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")
webhooks_app = typer.Typer(
    help="Webhooks (registered with POST /api/v1/webhooks).", no_args_is_help=True
)
app.add_typer(webhooks_app, name="webhooks")


class UserError(Exception):
    """Something the user can fix; printed as one line, exit status 1."""


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as error:
        raise UserError(str(error)) from None


@contextmanager
def services() -> Iterator[Services]:
    """The services of this command's process, on the configured database."""
    with services_for(settings()) as built:
        yield built


def print_json(value: Any) -> None:
    typer.echo(dumps(value, indent=True).decode())


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
    url = settings().database_url
    create_database_folder(url)  # the one command that makes a database
    before, after = upgrade(url)
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
    with services() as s:
        report = seed(s.unit_of_work, s.tracker, demo=demo)
    typer.echo(
        f"commitments: {report.registered} registered, {report.already_registered} already there"
        + f"; titles translated for {report.translated}"
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
    with services() as s:
        commitment = s.tracker.state(ref, version=version, as_of=effective, known_at=recorded)
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
    with services() as s:
        print_json(commitment_history(s.database, s.tracker, ref))


# Who the command line's own writes are recorded as (a reserved token name).
CLI_ACTOR = "cli"


def _operator(actor: str) -> Principal:
    """Someone at the server's command line: `cli`, or `cli:NAME` when they say who, so
    the name can never read as a token holder's or one the system writes under (token
    names hold no ':')."""
    if actor == CLI_ACTOR:
        return system(CLI_ACTOR)
    if not NAME_PATTERN.fullmatch(actor):
        raise UserError(
            f"--actor {actor!r} must be 1-64 letters, digits, '.', '_', '-' or '@', "
            "starting with a letter or digit"
        )
    return system(f"{CLI_ACTOR}:{actor}")


_DURATION = re.compile(r"(\d{1,5})([hdw])")
_DURATION_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(value: str | None, now: datetime) -> datetime | None:
    """`--expires`: a duration from now (`12h`, `30d`, `8w`), a date (the token stops
    working at 00:00 UTC that day) or a date-time (UTC if it has no offset)."""
    if value is None:
        return None
    text = value.strip()
    duration = _DURATION.fullmatch(text)
    if duration:
        return now + timedelta(**{_DURATION_UNITS[duration[2]]: int(duration[1])})
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            "--expires must be a duration (12h, 30d, 8w), a date (2027-01-01) or a "
            f"date-time (2027-01-01T12:00:00Z); got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@token_app.command("create")
def token_create(
    name: Annotated[
        str,
        typer.Option(
            "--name",
            help="Unique whatever its case; recorded as the actor (name#<id>) of its events",
        ),
    ],
    role: Annotated[Role, typer.Option("--role", case_sensitive=False)],
    party: Annotated[
        str | None,
        typer.Option("--party", help="Party an editor writes for (editors need one): CA, MX..."),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires",
            help="When it stops working: 30d, 12h, 8w from now, a date (00:00 UTC that day) "
            "or a date-time; default never",
        ),
    ] = None,
) -> None:
    """Issue a bearer token and print it alone on stdout (only its hash is kept)."""
    with services() as s:
        expires_at = parse_expiry(expires, s.tokens.now())
        secret, token = s.tokens.issue(
            system(CLI_ACTOR), name=name, role=role, party=party, expires_at=expires_at
        )
    typer.echo(secret)
    until = f"until {token.expires_at.isoformat()}" if token.expires_at else "with no expiry"
    typer.echo(
        f"token {token.name} ({token.role.value}{' for ' + token.party if token.party else ''}), "
        f"id {token.id}, {until}; its events will name {token.actor}",
        err=True,
    )


@token_app.command("bootstrap")
def token_bootstrap(
    name: Annotated[str, typer.Option("--name", help="admin-2, admin-3... if taken")] = "admin",
) -> None:
    """Issue and print an admin token only if no admin token works yet (`make run`)."""
    with services() as s:
        secret = s.tokens.bootstrap(system(CLI_ACTOR), name)
    if secret is None:
        typer.echo("an admin token exists already; create more with `token create`", err=True)
        return
    typer.echo(secret)


@token_app.command("list")
def token_list() -> None:
    """Print every token as JSON (revoked and expired ones too), never a secret or hash."""
    with services() as s:
        now = s.tokens.now()
        print_json([token.as_dict(now) for token in s.tokens.list()])


@token_app.command("revoke")
def token_revoke(
    ref: Annotated[str, typer.Argument(help="The token's id, name or actor (name#1a2b3c4d)")],
    reason: Annotated[str, typer.Option("--reason", help="Recorded with the revocation")] = "",
) -> None:
    """Revoke a token at once; it stays listed, and its name taken."""
    with services() as s:
        token = s.tokens.revoke(system(CLI_ACTOR), ref, reason=reason)
    typer.echo(
        f"token {token.name} ({token.id}) revoked; servers refuse it within "
        f"{AUTH_CACHE_SECONDS:g} s",
        err=True,
    )


@app.command()
def project(
    once: Annotated[bool, typer.Option("--once", help="Catch up, then exit")] = False,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Replay the log into new read models beside the ones in use, then switch",
        ),
    ] = False,
) -> None:
    """Run the projection worker: catch up on the event log, then follow it."""
    configure_logging()
    with services() as s:
        follower, rebuilder = s.follower, s.rebuilder

        def stop(*_: Any) -> None:
            follower.stop(timeout=0)
            rebuilder.stop(timeout=0)

        # First of all, so a stop asked for during start-up is honoured.
        signal.signal(signal.SIGTERM, stop)
        if rebuild:
            rebuilder.on_switch.append(
                lambda position: typer.echo(f"read models rebuilt up to {position}", err=True)
            )
            try:
                rebuilder.start()  # in a thread, while the follower keeps the live ones going
            except RebuildRefused as error:
                raise UserError(f"rebuild refused: {error}") from None
            typer.echo("rebuilding the read models; readers keep the old ones until then", err=True)
        if once:
            target = s.projection.head()
            started = time.monotonic()
            follower.start()
            try:
                # Whichever worker holds the projection (this one, or one elsewhere on
                # PostgreSQL) brings it to the head as it was when we started; a log that
                # shrank stops every worker, so say so rather than wait for ever.
                while (
                    s.projection.position() < target or rebuilder.running
                ) and not follower.stopped:
                    with s.database.reading() as connection:
                        refused = shrinkage(connection)
                    if refused is not None:
                        raise UserError(f"the projection cannot catch up: {refused}")
                    time.sleep(0.1)
            finally:
                follower.stop()
                rebuilder.stop()
            if rebuild and rebuilder.last_error is not None:
                raise UserError(f"rebuild failed: {rebuilder.last_error}")
            typer.echo(
                f"projection at position {s.projection.position()} "
                f"(head {s.projection.head()}), {time.monotonic() - started:.1f} s",
                err=True,
            )
            return
        typer.echo(
            f"following the log from position {s.projection.position()}; Ctrl-C stops", err=True
        )
        try:
            follower.run()
        except KeyboardInterrupt:
            follower.stop(timeout=0)
        typer.echo(f"stopped at position {s.projection.position()}", err=True)


@app.command()
def verify(
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Also check this report: regenerate it from the inputs it records and "
            "compare, and check its chain head (offline: check its footer's tree head "
            "against the checkpoints)",
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Read no database: check the files given against signed checkpoints "
            "(implied by --export, --checkpoint, --event and --proof)",
        ),
    ] = False,
    export: Annotated[
        Path | None,
        typer.Option("--export", metavar="FILE", help="A file written by `commitments export`"),
    ] = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint", metavar="FILE", help="A signed checkpoint (C2SP note); repeatable"
        ),
    ] = None,
    event: Annotated[
        Path | None,
        typer.Option(
            "--event", metavar="FILE", help="One event's line from an export, to prove it is logged"
        ),
    ] = None,
    proof: Annotated[
        list[Path] | None,
        typer.Option(
            "--proof",
            metavar="FILE",
            help="The JSON of GET /api/v1/proofs/inclusion or /proofs/consistency; repeatable",
        ),
    ] = None,
    operator_key: Annotated[
        str | None,
        typer.Option(
            "--operator-key",
            metavar="KEY",
            help="The operator's public key (default: COMMITMENTS_OPERATOR_KEY)",
        ),
    ] = None,
    witness_key: Annotated[
        list[str] | None,
        typer.Option(
            "--witness-key",
            metavar="KEY",
            help="A witness's public key; repeatable (default: COMMITMENTS_WITNESS_KEYS)",
        ),
    ] = None,
    witnesses: Annotated[
        int | None,
        typer.Option(
            "--witnesses",
            min=0,
            metavar="N",
            help="Cosignatures each checkpoint needs (default: all keys)",
        ),
    ] = None,
    origin: Annotated[
        str | None,
        typer.Option(
            "--origin",
            metavar="ORIGIN",
            help="The log's origin line (default: the first checkpoint's)",
        ),
    ] = None,
) -> None:
    """Recompute the event log's hash chain; exit 1 naming the first bad position.
    With --offline: open no database, and check an export, a report or one event against
    signed checkpoints and the public keys (domain/offline_verifier.py)."""
    if offline or export or checkpoint or event or proof:
        keys = _trusted_keys(operator_key, witness_key, witnesses, origin)
        _verify_offline(keys, checkpoint or [], export, report, event, proof or [])
        return
    for given, option in [
        (operator_key, "--operator-key"),
        (witness_key, "--witness-key"),
        (witnesses, "--witnesses"),
        (origin, "--origin"),
    ]:
        if given is not None:
            raise UserError(f"{option} is for offline verification: add --offline --checkpoint")
    with services() as s:
        result = ledger.verify(s.database, s.checkpoints.operator, s.sealer)
        summary = result.as_dict()
        checked = None
        if report is not None:
            content = _read_file(report)
            try:
                checked = s.reports.check(content, result)
            except report_check.UnreadableReport as error:
                raise UserError(f"{report}: {error}") from None
            summary["report"] = {"file": str(report)} | checked
    print_json(summary)
    if checked is not None and not checked["verified"]:
        raise UserError(f"the report {report} does not verify: {_why(checked)}")
    if not result.verified:
        raise UserError(f"the event log does not verify{result.why()}")


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None


def _public_key(text: str, kind: str, where: str) -> Verifier:
    try:
        key = Verifier.parse(text)
    except NoteError as error:
        raise UserError(f"{where}: not a public key: {error}") from None
    if key.kind != kind:
        raise UserError(f"{where}: {key.name} is a {key.kind} key; expected {kind}")
    return key


def _trusted_keys(
    operator_key: str | None,
    witness_keys: list[str] | None,
    required: int | None,
    origin: str | None,
) -> offline_verifier.TrustedKeys:
    """The keys an offline check trusts: the options, else the environment's (read
    directly: the settings would look at the database URL)."""
    operator_text = operator_key or os.environ.get("COMMITMENTS_OPERATOR_KEY", "").strip()
    if not operator_text:
        raise UserError(
            "the operator's public key is needed: --operator-key or COMMITMENTS_OPERATOR_KEY"
        )
    where = "--operator-key" if operator_key else "COMMITMENTS_OPERATOR_KEY"
    operator = _public_key(operator_text, "ed25519", where)
    if witness_keys:
        texts, where = witness_keys, "--witness-key"
    else:
        texts = os.environ.get("COMMITMENTS_WITNESS_KEYS", "").replace(",", " ").split()
        where = "COMMITMENTS_WITNESS_KEYS"
    found = tuple(_public_key(text, "cosignature", where) for text in texts)
    try:
        return offline_verifier.TrustedKeys(operator, found, required, origin)
    except ValueError as error:
        raise UserError(f"--witnesses: {error}") from None


def _verify_offline(
    keys: offline_verifier.TrustedKeys,
    checkpoints: list[Path],
    export: Path | None,
    report: Path | None,
    event: Path | None,
    proofs: list[Path],
) -> None:
    """No services, no settings: only the files named and the keys."""
    if not checkpoints:
        raise UserError(
            "--offline needs a --checkpoint: a tree head signed by the operator "
            "(`commitments checkpoint`, GET /api/v1/checkpoint)"
        )
    notes = [_read_file(path) for path in checkpoints]
    report_bytes = None if report is None else _read_file(report)
    event_bytes = None if event is None else _read_file(event)
    proof_texts = [_read_file(path) for path in proofs]
    with ExitStack() as stack:
        lines = None
        if export is not None:
            try:
                lines = stack.enter_context(export.open("rb"))
            except OSError as error:
                raise UserError(f"cannot read {export}: {error.strerror}") from None
        outcome = offline_verifier.verify(
            keys, notes, export=lines, report=report_bytes, event=event_bytes, proofs=proof_texts
        )
    print_json({"offline": True} | outcome.as_dict())
    if not outcome.verified:
        raise UserError(f"offline verification failed: {outcome.problem}")


def _why(checked: dict[str, Any]) -> str:
    if not checked["matches_content"]:
        if not checked["regenerated"]:
            return "its format version cannot be regenerated and no archived report has its bytes"
        return f"it differs from the report its inputs give: {checked['differences'][0]}"
    return str(checked["problem"] or checked["checkpoint_problem"])


@app.command()
def keygen(
    name: Annotated[str, typer.Option("--name", help="The key's name, e.g. cmap.mx-witness")],
    out: Annotated[
        Path, typer.Option("--out", help="File for the private key (created, mode 0600)")
    ],
    witness_key: Annotated[
        bool,
        typer.Option("--witness", help="A witness's cosignature key, not the operator's"),
    ] = False,
) -> None:
    """Make a signing key pair: the private key goes to --out (never overwritten), the
    public verifier key is printed for the configuration of those who check signatures."""
    try:
        signer = Signer.generate(name, "cosignature" if witness_key else "ed25519")
    except NoteError as error:
        raise UserError(f"--name: {error}") from None
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UserError(f"{out} exists already: a key is never overwritten") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(signer.encode() + "\n")
    typer.echo(signer.verifier().encode())
    variable = "COMMITMENTS_WITNESS_KEYS" if witness_key else "COMMITMENTS_OPERATOR_KEY"
    typer.echo(f"private key written to {out}; give the line above as {variable}", err=True)


@app.command()
def checkpoint(
    public_key: Annotated[
        bool,
        typer.Option(
            "--public-key", help="Print the signing key's public verifier key; sign nothing"
        ),
    ] = False,
) -> None:
    """Sign the log's current Merkle tree head and print the checkpoint (a C2SP note)."""
    with services() as s:
        if public_key:
            if s.checkpoints.operator is None:
                raise UserError("no operator key: set COMMITMENTS_SIGNING_KEY_FILE")
            typer.echo(s.checkpoints.operator.encode())
            return
        signed = s.checkpoints.sign(whole_log=True)
    typer.echo(signed.note.text(), nl=False)


@app.command("witness")
def witness_command(
    url: Annotated[str, typer.Option("--url", help="The tracker's base URL")],
    key: Annotated[Path, typer.Option("--key", help="This witness's private key file")],
    state: Annotated[
        Path, typer.Option("--state", help="This witness's state file (made on the first run)")
    ],
    operator_key: Annotated[
        str | None,
        typer.Option(
            "--operator-key",
            help="The operator's public key (default: COMMITMENTS_OPERATOR_KEY)",
        ),
    ] = None,
    origin: Annotated[
        str | None, typer.Option("--origin", help="The log's expected origin line")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", help="A bearer token for the API (default: COMMITMENTS_TOKEN)"),
    ] = None,
) -> None:
    """Co-sign the tracker's newest checkpoint if the log extends the one co-signed last;
    refuse (exit 1, naming both checkpoints) if it does not."""
    operator_text = operator_key or os.environ.get("COMMITMENTS_OPERATOR_KEY", "").strip()
    if not operator_text:
        raise UserError(
            "the operator's public key is needed: --operator-key or COMMITMENTS_OPERATOR_KEY"
        )
    try:
        operator = Verifier.parse(operator_text)
        signer = Signer.parse(key.read_text(encoding="utf-8").strip())
    except NoteError as error:
        raise UserError(f"bad key: {error}") from None
    try:
        transport = HttpTransport(url, token or os.environ.get("COMMITMENTS_TOKEN") or None)
        done = witness(
            transport, signer, operator, state, origin=origin, now=lambda: int(time.time())
        )
    except WitnessRefused as error:
        raise UserError(f"witness refuses to co-sign: {error}") from None
    except WitnessFailed as error:
        raise UserError(str(error)) from None
    typer.echo(done.message())


EXPORT_FORMATS = ("jsonl", "datapackage", "cloudevents")


@app.command("export")
def export_command(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="jsonl: the file to write; datapackage: the folder; "
            "cloudevents: the file (default stdout)",
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="jsonl (default: the full backup, for `commitments import`), datapackage "
            "(open data: a Frictionless data package of CSVs) or cloudevents (the "
            "commitments' events as CloudEvents JSON lines)",
        ),
    ] = "jsonl",
) -> None:
    """Write the whole event log, with its hash chain and the report archive, as JSON
    lines (streaming); or, with --format, the commitments as open data."""
    if fmt not in EXPORT_FORMATS:
        raise UserError(f"--format must be one of {', '.join(EXPORT_FORMATS)}; got {fmt!r}")
    if fmt == "cloudevents":
        _export_cloudevents(out)
        return
    if out is None:
        raise UserError(f"--format {fmt} needs --out")
    if fmt == "datapackage":
        _export_datapackage(out)
        return
    with services() as s, out.open("w", encoding="utf-8") as handle:
        summary = backup.export_log(s.database, handle)
    typer.echo(
        f"exported {summary.events} events up to position {summary.head_position}, "
        f"chain head {summary.chain_head}, {summary.reports} archived reports and "
        f"{summary.checkpoints} signed checkpoints",
        err=True,
    )


def _export_datapackage(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--out {folder} is a file; the data package needs a folder")
    with services() as s:
        rows = open_data.write_datapackage(
            s.database,
            s.tracker,
            folder,
            log_origin=s.settings.log_origin,
            today=datetime.now(UTC).date(),
            now=lambda: datetime.now(UTC),
        )
    counts = ", ".join(f"{count} {name}" for name, count in rows.items())
    typer.echo(f"data package written to {folder}/datapackage.json: {counts}", err=True)


def _export_cloudevents(out: Path | None) -> None:
    with services() as s, ExitStack() as stack:
        handle = sys.stdout.buffer if out is None else stack.enter_context(out.open("wb"))
        count = open_data.write_cloudevents(
            s.database, s.tracker, handle, log_origin=s.settings.log_origin
        )
        handle.flush()
    typer.echo(f"exported {count} events as CloudEvents", err=True)


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="A file written by `commitments export`")],
) -> None:
    """Restore an exported log into an empty database, then rebuild the projections."""
    with services() as s:
        try:
            summary = backup.import_log(s.database, file, s.sealer)
        except backup.ImportRefused as error:
            raise UserError(f"import refused: {error}") from None
        # The database was empty: its read models too, so no reader misses them meanwhile.
        s.projection.reset()
        s.projection.catch_up()
        s.database.analyze(*READ_MODEL_TABLES)  # filled since the import's ANALYZE
    typer.echo(
        f"imported {summary.events} events up to position {summary.head_position}, "
        f"chain head {summary.chain_head}, {summary.reports} archived reports and "
        f"{summary.checkpoints} signed checkpoints; "
        "projections rebuilt",
        err=True,
    )


@app.command()
def report(
    fmt: Annotated[str, typer.Option("--format", help="json, csv, md, html or xlsx")] = "json",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date YYYY-MM-DD; default today")
    ] = None,
    at_position: Annotated[
        int | None,
        typer.Option(
            "--at-position", min=0, help="Build from the log as it stood at this position"
        ),
    ] = None,
    period_days: Annotated[
        int | None, typer.Option("--period-days", min=1, max=366, help="Default 30")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="File to write; default stdout")] = None,
    reproduce: Annotated[
        str | None,
        typer.Option(
            "--reproduce",
            help="Regenerate the archived report with this id (its bytes are the archived ones)",
        ),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="en, fr or es (default en); recorded in the report"),
    ] = None,
) -> None:
    """Write a progress report: the log up to --at-position (default: all of it), as of
    --as-of (default: today), over --period-days (default 30), in --lang (default en);
    the same inputs always give the same bytes. --reproduce ID regenerates an archived
    report from its own inputs."""
    if lang is not None and lang not in LANGUAGES:
        raise UserError(f"--lang must be one of {', '.join(LANGUAGES)}; got {lang!r}")
    with services() as s:
        if reproduce is not None:
            if as_of is not None or at_position is not None or period_days is not None or lang:
                raise UserError(
                    "--reproduce takes the archived report's own inputs: give no others"
                )
            try:
                artefact = s.reports.reproduce(reproduce, fmt)
            except ReproductionFailed as error:
                raise UserError(str(error)) from None
            described = s.reports.get(reproduce)
            made = f"archived report {reproduce} as of {described['as_of']}"
            position = described["log_position"]
        else:
            inputs = s.reports.inputs(
                at_position=at_position,
                as_of=parse_date(as_of, "--as-of"),
                period_days=period_days,
                today=datetime.now(UTC).date(),
                # The language is one of the report's inputs (its footer records it).
                language=lang or DEFAULT_LANGUAGE,
            )
            [artefact] = s.reports.generate(inputs, [fmt])
            made, position = f"report as of {inputs.as_of}", inputs.at_position
    if out is None:
        sys.stdout.buffer.write(artefact.content)
        sys.stdout.flush()
    else:
        out.write_bytes(artefact.content)
    typer.echo(f"{fmt} {made} at log position {position}, sha256 {artefact.sha256}", err=True)


@schedule_app.command("add")
def schedule_add(
    name: Annotated[str, typer.Option("--name")],
    cron: Annotated[str, typer.Option("--cron", help='5 fields, e.g. "0 6 1 * *"')],
    fmt: Annotated[list[str], typer.Option("--format", help="Repeat for several formats")],
    timezone: Annotated[str, typer.Option("--timezone")] = "UTC",
    period_days: Annotated[int, typer.Option("--period-days", min=1, max=366)] = 30,
    lang: Annotated[str, typer.Option("--lang", help="en, fr or es")] = "en",
    actor: Annotated[
        str, typer.Option("--actor", help="Who changes it, recorded as cli:ACTOR")
    ] = CLI_ACTOR,
) -> None:
    """Define a report schedule (or redefine the one with that name)."""
    command = DefineSchedule(
        name=name,
        cron=cron,
        formats=tuple(fmt),
        timezone=timezone,
        period_days=period_days,
        language=lang,
    )
    with services() as s:
        written = s.unit_of_work.run(Write(_operator(actor), command))
    assert written.change is not None
    schedule = written.change.aggregate
    typer.echo(
        f"schedule {schedule.name}: {schedule.cron} ({schedule.timezone}), "
        f"{', '.join(schedule.formats)}; log position {written.position}",
        err=True,
    )


@schedule_app.command("list")
def schedule_list() -> None:
    """Print the active report schedules as JSON."""
    with services() as s:
        s.projection.catch_up()  # schedules are read from the projection: bring it up to date
        with s.database.reading() as connection:
            print_json(list_schedules(connection))


@schedule_app.command("remove")
def schedule_remove(
    name: Annotated[str, typer.Argument()],
    actor: Annotated[
        str, typer.Option("--actor", help="Who removes it, recorded as cli:ACTOR")
    ] = CLI_ACTOR,
) -> None:
    """Remove a report schedule (its history stays in the log)."""
    with services() as s:
        written = s.unit_of_work.run(Write(_operator(actor), RemoveSchedule(name=name)))
    typer.echo(f"schedule {name} removed; log position {written.position}", err=True)


@app.command()
def scheduler() -> None:
    """Run the report scheduler alone (serve runs it too unless COMMITMENTS_SCHEDULER=false)."""
    configure_logging()
    with services() as s:
        runner = s.scheduler
        signal.signal(signal.SIGTERM, lambda *_: runner.stop(timeout=0))
        s.follower.start()  # schedules are read from the projection
        typer.echo("report scheduler running; Ctrl-C stops", err=True)
        try:
            runner.run()
        except KeyboardInterrupt:
            runner.stop(timeout=0)
    typer.echo("report scheduler stopped", err=True)


@webhooks_app.command("deliver")
def webhooks_deliver() -> None:
    """Run the webhook deliverer alone (serve runs it too unless COMMITMENTS_WEBHOOKS=false);
    one is active at a time across processes."""
    configure_logging()
    with services() as s:
        deliverer = s.deliverer
        signal.signal(signal.SIGTERM, lambda *_: deliverer.stop(timeout=0))
        typer.echo("webhook deliverer running; Ctrl-C stops", err=True)
        try:
            deliverer.run()
        except KeyboardInterrupt:
            deliverer.stop(timeout=0)
    typer.echo("webhook deliverer stopped", err=True)


@webhooks_app.command("list")
def webhooks_list() -> None:
    """Print the registered webhooks as JSON (without their secrets)."""
    with services() as s:
        print_json([webhook.as_dict() for webhook in s.webhooks.list()])


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
) -> None:
    """Serve the REST API."""
    import uvicorn

    from api.app import create_app

    config = settings()
    with services_for(config, readers=True):
        pass  # Fail fast, with one line, when the database (or the replica) is not ready.
    try:  # and when the address is taken (uvicorn would log its start-up first)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        socket.create_server((host, port), family=family).close()
    except OSError as error:
        raise UserError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    app = create_app(config)
    collector.settle()  # the app's objects too (api/collector.py)
    # (Not uvicorn.Server.run(sockets=[...]) with the socket bound above: served that
    # way, writes under load took twice as long; bench/http_throughput.py.)
    # Logs as JSON lines through structlog (api/observability.py): uvicorn's own logging
    # configuration is not applied, and its access log gives way to the app's, which
    # carries the request id and the duration.
    configure_logging()
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: the exit status; user errors are one line on stderr."""
    if argv is None:  # a process of its own (not a caller passing arguments, as tests do)
        collector.settle()
    try:
        status = app(args=argv, standalone_mode=False)
    except typer.Abort:
        return _error("aborted", 130)
    except typer.TyperException as error:  # usage errors: unknown command, bad option
        return _error(error.format_message().replace("\n", " "), error.exit_code)
    except (UserError, SeedError, SchemaNotCurrent, ConfigurationError) as error:
        return _error(str(error))
    except DomainError as error:
        return _error(error.message)
    except (SQLAlchemyError, PersistenceError) as error:
        first_line = str(error).strip().splitlines()[0]
        return _error(f"database error at {_database_named()}: {first_line}")
    except OSError as error:  # a file the user named cannot be written or read
        return _error(f"{error.strerror}: {error.filename}")
    return status if isinstance(status, int) else 0


def _database_named() -> str:
    """The configured database, its password hidden (for an error that names it)."""
    try:
        return describe_database(load_settings().database_url)
    except (ConfigurationError, ArgumentError):
        return "the configured database"


def _error(message: str, status: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
