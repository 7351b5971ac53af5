"""Alembic environment: the target metadata is mingbai.db.Base after importing every area's tables."""
from __future__ import annotations

from contextlib import contextmanager

from alembic import context
from sqlalchemy import engine_from_config, pool

import mingbai.models  # noqa: F401  (registers every table)
from mingbai.db import Base, get_engine

config = context.config
target_metadata = Base.metadata


def render_item(type_, obj, autogen_context):
    # Our UTCDateTime is a Python-side decorator; the column itself is a plain DateTime.
    if type_ == "type" and obj.__class__.__name__ == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True, render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    connectable = config.attributes.get("connection")
    if connectable is None:
        # Reuse the app's engine (SQLite pragmas, pool) rather than a second one.
        engine = get_engine(url) if url else engine_from_config(
            config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool)
        with engine.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:
    # Several processes may start at once (web, action server): serialise the upgrade.
    with _migration_lock(connection):
        _configure_and_run(connection)


@contextmanager
def _migration_lock(connection):
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SELECT pg_advisory_lock(72016001)")
        connection.commit()
        try:
            yield
        finally:
            connection.exec_driver_sql("SELECT pg_advisory_unlock(72016001)")
            connection.commit()
    elif connection.dialect.name == "sqlite" and connection.engine.url.database not in (None, "", ":memory:"):
        import fcntl

        with open(connection.engine.url.database + ".migrate.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    else:
        yield


def _configure_and_run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", render_item=render_item,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
