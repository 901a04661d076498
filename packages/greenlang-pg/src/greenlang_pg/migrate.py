"""Run the packaged Alembic migrations against a ``DatabaseConfig`` from Python (the CLI uses these)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import create_engine, pool
from sqlalchemy.exc import SQLAlchemyError

from greenlang.errors import InputError, StoreError
from greenlang_pg.config import DatabaseConfig
from greenlang_pg.migrations import INI, SCRIPT_LOCATION

_MIGRATION_LOCK = 0x67726E6C616E67  # "grnlang"

__all__ = ["upgrade", "downgrade", "current", "history", "alembic_config", "known_revisions"]


def alembic_config(output: io.StringIO | None = None) -> Config:
    """The packaged configuration; ``output`` collects what Alembic prints."""
    config = Config(str(INI), stdout=output or io.StringIO())
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return config


@contextmanager
def _connected(database: DatabaseConfig, output: io.StringIO, action: str) -> Iterator[Config]:
    """One connection in one transaction, with Alembic's progress lines written to ``output``."""
    engine = create_engine(
        database.sync_url(), connect_args=database.sync_connect_args(), poolclass=pool.NullPool, hide_parameters=True
    )
    progress = logging.StreamHandler(output)
    progress.setFormatter(logging.Formatter("%(message)s"))
    progress.addFilter(lambda record: record.getMessage().startswith("Running "))
    migration_log = logging.getLogger("alembic.runtime.migration")
    level = migration_log.level
    migration_log.addHandler(progress)
    migration_log.setLevel(logging.INFO)
    try:
        with engine.begin() as connection:
            # Several replicas upgrading on boot take turns; the later ones then find nothing to do.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            config = alembic_config(output)
            config.attributes["connection"] = connection
            yield config
    except CommandError as exc:
        raise InputError(f"{exc}; see `greenlang db history` for the revisions") from None
    except SQLAlchemyError as exc:
        text = str(getattr(exc, "orig", exc)).strip().splitlines()
        raise StoreError(
            f"cannot {action} on {database.describe()} ({text[0] if text else type(exc).__name__}); nothing was changed"
        ) from None
    finally:
        migration_log.removeHandler(progress)
        migration_log.setLevel(level)
        engine.dispose()


def upgrade(database: DatabaseConfig, revision: str = "head") -> str:
    """Upgrade to ``revision`` in one transaction; returns Alembic's report."""
    output = io.StringIO()
    with _connected(database, output, f"upgrade to {revision}") as config:
        command.upgrade(config, revision)
    return output.getvalue()


def downgrade(database: DatabaseConfig, revision: str) -> str:
    """Downgrade to ``revision`` (``base`` removes every table) in one transaction."""
    output = io.StringIO()
    with _connected(database, output, f"downgrade to {revision}") as config:
        command.downgrade(config, revision)
    return output.getvalue()


def current(database: DatabaseConfig) -> str:
    """The revision the database is at (empty when it has none)."""
    output = io.StringIO()
    with _connected(database, output, "read the schema revision") as config:
        command.current(config)
    return output.getvalue()


def known_revisions() -> list[str]:
    """Every packaged revision id, oldest first."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def history() -> str:
    """Every packaged revision, newest first; needs no database."""
    output = io.StringIO()
    command.history(alembic_config(output))
    return output.getvalue()
