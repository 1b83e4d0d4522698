"""Opening the Tracker on the configured database (eventsourcing-sqlalchemy)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from adapters.migrate import require_current_schema
from domain.tracker import Tracker

_PREFIX = Tracker.name.upper() + "_"


def open_tracker(database_url: str, *, check_schema: bool = True) -> Tracker:
    """A Tracker on `database_url`. Tables are Alembic's job, so table creation is off.

    Keys carry the application-name prefix because eventsourcing lets a prefixed
    key in the process environment beat a plain one passed here.
    """
    tracker = Tracker(
        env={
            # eventsourcing-sqlalchemy, whose recorder also writes the hash chain.
            _PREFIX + "PERSISTENCE_MODULE": "adapters.ledger:ChainedSQLAlchemyFactory",
            _PREFIX + "SQLALCHEMY_URL": database_url,
            _PREFIX + "CREATE_TABLE": "no",
            _PREFIX + "IS_SNAPSHOTTING_ENABLED": "yes",
        }
    )
    recorder = tracker.recorder
    # Hooks of a write (idempotency records) join the transaction that saves the events.
    tracker.unit_of_work = lambda: recorder.transaction(commit=True)  # type: ignore[attr-defined]
    if check_schema:
        try:
            require_current_schema(engine_of(tracker), database_url)
        except Exception:
            tracker.close()
            raise
    return tracker


def engine_of(tracker: Tracker) -> Engine:
    """The one engine of this process, shared by the event store and our own tables."""
    engine = tracker.recorder.datastore.engine  # type: ignore[attr-defined]
    assert isinstance(engine, Engine)
    return engine
