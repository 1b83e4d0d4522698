"""Alembic environment: target metadata is adapters.tables.metadata (event store included)."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlalchemy.types import LargeBinary, TypeEngine

from adapters.settings import load_settings
from adapters.tables import metadata

config = context.config
if not config.get_main_option("sqlalchemy.url"):
    # Plain `alembic ...` from a shell: use the configured database.
    config.set_main_option("sqlalchemy.url", load_settings().database_url.replace("%", "%%"))


def compare_type(
    ctx: Any,
    inspected_column: Any,
    metadata_column: Any,
    inspected_type: TypeEngine[Any],
    metadata_type: TypeEngine[Any],
) -> bool | None:
    """False positives to ignore. SQLite reflects sqlalchemy-utils' UUIDType (a
    BINARY(16) there) as NUMERIC or BINARY, which is the same column."""
    if type(metadata_type).__name__ == "UUIDType":
        if ctx.dialect.name == "sqlite":
            return False
        return None
    if isinstance(metadata_type, LargeBinary) and ctx.dialect.name == "sqlite":
        return False
    return None


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        compare_type=compare_type,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            compare_type=compare_type,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    connectable.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
