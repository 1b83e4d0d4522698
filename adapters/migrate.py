"""Alembic, driven from code: `commitments migrate` and the schema check at start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

import migrations
from adapters.database import Database

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


class SchemaNotCurrent(Exception):
    """The database is not migrated to the schema this code expects."""


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' is ConfigParser's interpolation character; escape it in URLs.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def current_revision(database_url: str) -> str | None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            heads = MigrationContext.configure(connection).get_current_heads()
    finally:
        engine.dispose()
    return ",".join(sorted(heads)) or None


def upgrade(database_url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade; returns the revisions before and after."""
    before = current_revision(database_url)
    command.upgrade(alembic_config(database_url), revision)
    return before, current_revision(database_url)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def require_current_schema(database: Database) -> None:
    heads = set(ScriptDirectory.from_config(alembic_config(database.url)).get_heads())
    with database.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    if current != heads:
        found = ", ".join(sorted(current)) or "empty"
        raise SchemaNotCurrent(
            f"the database schema is {found}, this program needs {', '.join(sorted(heads))}: "
            "run `commitments migrate` first"
        )
