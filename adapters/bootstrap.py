"""The composition root: everything a process needs, built once from the settings.

FastAPI's lifespan (api/app.py), every CLI command (api/cli.py), the seed loader and the
scheduler receive what they need from here; nothing else makes an engine or a Tracker.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from adapters.checkpoints import Checkpoints, read_signer
from adapters.database import Database
from adapters.event_store import StoredTracker
from adapters.follower import ProjectionFollower
from adapters.leases import Lease, process_holder
from adapters.metrics import Metrics, Watched
from adapters.migrate import SchemaNotCurrent, require_current_schema
from adapters.projection import ReadModelProjection, log_head
from adapters.rate_limit import FailureLimit
from adapters.rebuild import Rebuilder, shadow_name
from adapters.reports.archive import ReportArchive, chain_head_at
from adapters.scheduler import LEASE_NAME, ReportScheduler
from adapters.seals import Sealer
from adapters.sessions import SessionStore
from adapters.settings import ConfigurationError, Settings, describe_database, require_database
from adapters.tokens import Authenticator, TokenStore
from adapters.unit_of_work import UnitOfWork
from adapters.webhooks import LEASE_NAME as WEBHOOKS_LEASE
from adapters.webhooks import WebhookDeliverer, WebhookStore
from domain.checkpoint import Verifier


@dataclass
class Replica:
    """Reads that may lag behind the log by what a streaming replica has not replayed yet
    (lists, reports, feeds, the dashboard), on COMMITMENTS_READ_DATABASE_URL."""

    database: Database  # read-only: it cannot write, by construction
    reports: ReportArchive  # generates reports from the replica (archiving writes refused)


@dataclass
class Services:
    """What one process runs on. `start` runs the follower and scheduler in threads."""

    settings: Settings
    database: Database
    tracker: StoredTracker
    unit_of_work: UnitOfWork
    projection: ReadModelProjection
    follower: ProjectionFollower
    reports: ReportArchive
    scheduler: ReportScheduler
    authenticate: Authenticator
    checkpoints: Checkpoints
    tokens: TokenStore
    metrics: Metrics
    rebuilder: Rebuilder
    webhooks: WebhookStore
    deliverer: WebhookDeliverer
    sessions: SessionStore  # dashboard sign-ins (adapters/sessions.py)
    # Seals derivatives with a key derived from the signing key (None: no signing key).
    sealer: Sealer | None = None
    # COMMITMENTS_READ_DATABASE_URL's (None: every read on `database`, as without it).
    replica: Replica | None = None

    @property
    def read_database(self) -> Database:
        """Where lists, reports, feeds and the dashboard read: the replica if any."""
        return self.replica.database if self.replica is not None else self.database

    @property
    def read_reports(self) -> ReportArchive:
        """Live reports for readers, built on `read_database`."""
        return self.replica.reports if self.replica is not None else self.reports

    def start(self, *, follower: bool, scheduler: bool, webhooks: bool = False) -> None:
        if follower:
            self.follower.start()
        if scheduler:
            self.scheduler.start()
        if webhooks:
            self.deliverer.start()

    def close(self) -> None:
        self.metrics.watch(None)
        self.deliverer.stop()
        self.scheduler.stop()
        self.rebuilder.stop()
        self.follower.stop()
        self.tracker.close()
        self.database.close()
        if self.replica is not None:
            self.replica.database.close()


def bootstrap(
    settings: Settings,
    *,
    check_schema: bool = True,
    metrics: Metrics | None = None,
    readers: bool = False,
) -> Services:
    """Build the services of a process on the configured database.

    `check_schema`: refuse a database that is not migrated to this code's schema (only
    `commitments migrate` itself does without). `metrics`: where they count (an app's
    own, which outlives the services its lifespan builds; else new ones). `readers`: the
    API's, which reads from COMMITMENTS_READ_DATABASE_URL when it is set (the CLI's
    commands, workers among them, use the primary alone)."""
    metrics = metrics or Metrics()
    if check_schema:
        require_database(settings.database_url)
    signer = read_signer(settings.signing_key_file)
    sealer = Sealer.from_signer(signer) if signer is not None else None
    database = Database(settings.database_url)
    try:
        if check_schema:
            require_current_schema(database)
        tracker = StoredTracker(database, sealer)
    except BaseException:
        database.close()
        raise
    unit_of_work = UnitOfWork(database, tracker)
    projection = ReadModelProjection(database, tracker)
    holder = process_holder()  # one name for this process in every lease it takes
    follower = ProjectionFollower(
        projection,
        lease=Lease(database, projection.name, seconds=settings.lease_seconds, holder=holder),
    )
    unit_of_work.after_commit.append(follower.wake)
    unit_of_work.events_committed.append(metrics.written)
    checkpoints = Checkpoints(
        database,
        origin=settings.log_origin,
        signer=signer,
        operator=Verifier.parse(settings.operator_key) if settings.operator_key else None,
        witnesses=[Verifier.parse(key) for key in settings.witness_keys],
        metrics=metrics,
    )
    reports = ReportArchive(database, tracker, checkpoints, metrics=metrics, sealer=sealer)
    scheduler = ReportScheduler(
        database,
        reports,
        projection,
        checkpoints=checkpoints,
        checkpoint_seconds=settings.checkpoint_seconds,
        lease=Lease(database, LEASE_NAME, seconds=settings.lease_seconds, holder=holder),
    )
    authenticate = Authenticator(
        database, failures=FailureLimit(settings.auth_failure_limit), metrics=metrics
    )
    deliverer = WebhookDeliverer(
        database,
        tracker,
        log_origin=settings.log_origin,
        lease=Lease(database, WEBHOOKS_LEASE, seconds=settings.lease_seconds, holder=holder),
    )
    unit_of_work.after_commit.append(deliverer.wake)
    watched = Watched(database, follower.active.is_set, scheduler.active.is_set)
    replica = None
    if readers and settings.read_database_url is not None:
        try:
            replica = open_replica(
                settings.read_database_url, database, tracker, checkpoints, metrics, sealer
            )
        except BaseException:
            tracker.close()
            database.close()
            raise
        watched = replace(watched, replica=replica.database)
    metrics.watch(watched)
    return Services(
        settings,
        database,
        tracker,
        unit_of_work,
        projection,
        follower,
        reports,
        scheduler,
        authenticate,
        checkpoints,
        TokenStore(database, unit_of_work, authenticate),
        metrics,
        Rebuilder(
            database,
            tracker,
            lease=Lease(
                database,
                shadow_name(projection.name),
                seconds=settings.lease_seconds,
                holder=holder,
            ),
        ),
        WebhookStore(database),
        deliverer,
        SessionStore(
            database,
            idle_seconds=settings.session_idle_seconds,
            max_seconds=settings.session_max_seconds,
        ),
        sealer,
        replica,
    )


def open_replica(
    url: str,
    primary: Database,
    tracker: StoredTracker,
    checkpoints: Checkpoints,
    metrics: Metrics,
    sealer: Sealer | None,
) -> Replica:
    """The replica, checked at start-up: reachable, on this code's schema, and a copy of
    the primary's database (one line naming COMMITMENTS_READ_DATABASE_URL otherwise)."""
    database = Database(url, read_only=True)
    try:
        require_current_schema(database)
        not_a_copy = _not_a_copy_of(primary, database)
        if not_a_copy is not None:
            raise SchemaNotCurrent(
                f"{describe_database(url)} is not a replica of COMMITMENTS_DATABASE_URL: "
                f"{not_a_copy}"
            )
    except SchemaNotCurrent as error:
        database.close()
        raise ConfigurationError(f"COMMITMENTS_READ_DATABASE_URL: {error}") from None
    except SQLAlchemyError as error:
        database.close()
        first_line = str(error).strip().splitlines()[0]
        raise ConfigurationError(
            f"COMMITMENTS_READ_DATABASE_URL: cannot read {describe_database(url)}: {first_line}"
        ) from None
    reports = ReportArchive(database, tracker, checkpoints, metrics=metrics, sealer=sealer)
    return Replica(database, reports)


_IDENTITY = text("SELECT current_database(), (SELECT system_identifier FROM pg_control_system())")


def _not_a_copy_of(primary: Database, replica: Database) -> str | None:
    """Why `replica` cannot be a streaming copy of `primary`'s database, or None: another
    cluster (its system identifier), another database, or a log that is ahead of the
    primary's or differs from it (the chain hash at the replica's head)."""
    with primary.one_query() as connection:
        primary_identity = tuple(connection.execute(_IDENTITY).one())
        primary_head = log_head(connection)
    with replica.one_query() as connection:
        replica_identity = tuple(connection.execute(_IDENTITY).one())
        replica_head = log_head(connection)
        replica_chain = chain_head_at(connection, replica_head)
    if replica_identity[1] != primary_identity[1]:
        return "another PostgreSQL cluster (its system identifier differs)"
    if replica_identity[0] != primary_identity[0]:
        return f"database {replica_identity[0]!r}, not {primary_identity[0]!r}"
    if replica_head > primary_head:
        return f"its log reaches position {replica_head}, beyond the primary's {primary_head}"
    with primary.one_query() as connection:
        if chain_head_at(connection, replica_head) != replica_chain:
            return f"its log differs from the primary's at position {replica_head}"
    return None


@contextmanager
def services_for(settings: Settings, *, readers: bool = False) -> Iterator[Services]:
    """Services for the length of a block (a CLI command, a test)."""
    services = bootstrap(settings, readers=readers)
    try:
        yield services
    finally:
        services.close()
