"""Alembic, driven from code: `commitments migrate` and the schema check at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, inspect, text

import migrations
from adapters.database import Database
from adapters.settings import describe_database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent
# The head of migrations/versions: what this code needs (tests/integration/test_migrations.py
# checks it is Alembic's head). Known here so a process starts without loading Alembic.
SCHEMA_REVISION = "0019"


class SchemaNotCurrent(Exception):
    """The database is not migrated to the schema this code expects."""


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config  # Alembic is slow to import: only where it is used

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' is ConfigParser's interpolation character; escape it in URLs.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def current_revision(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            heads = MigrationContext.configure(connection).get_current_heads()
    finally:
        engine.dispose()
    return ",".join(sorted(heads)) or None


def upgrade(database_url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade; returns the revisions before and after."""
    from alembic import command

    before = current_revision(database_url)
    command.upgrade(alembic_config(database_url), revision)
    return before, current_revision(database_url)


def downgrade(database_url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(database_url), revision)


def require_current_schema(database: Database) -> None:
    with database.reading() as connection:
        found = []  # no alembic_version table: never migrated
        if inspect(connection).has_table("alembic_version"):
            query = text("SELECT version_num FROM alembic_version")
            found = sorted(connection.execute(query).scalars())
    if found != [SCHEMA_REVISION]:
        url = database.engine.url.render_as_string(hide_password=False)
        raise SchemaNotCurrent(
            f"the schema of the database {describe_database(url)} is "
            f"{', '.join(found) or 'empty'}, this program needs "
            f"{SCHEMA_REVISION}: run `commitments migrate` first"
        )
