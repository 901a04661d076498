"""Alembic's environment: where the database comes from, and the models autogenerate compares against.

A caller in Python hands over an open connection (``config.attributes``);
the ``alembic`` command line gives ``-x url=...`` or the GL_DB_* environment.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from greenlang_pg.config import DatabaseConfig
from greenlang_pg.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    url = context.get_x_argument(as_dictionary=True).get("url")
    database = DatabaseConfig(url=url) if url else DatabaseConfig.from_env()
    engine = create_engine(database.sync_url(), connect_args=database.sync_connect_args(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("greenlang-pg migrations run online only; give a database with -x url=... or GL_DB_*")
run_migrations_online()
