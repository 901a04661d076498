"""SQLAlchemy engines built from a ``DatabaseConfig``: pooling, TLS and timeouts in one place.

Pooled connections are in autocommit mode and are not reset on return: the
runners open and end every transaction themselves, and throw a connection away
(``invalidate``) whenever they cannot be sure how it was left.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from greenlang_pg.config import DatabaseConfig
from greenlang_pg.protocol import statement_log

__all__ = ["sync_engine", "async_engine"]


def _pool_options(config: DatabaseConfig) -> dict[str, Any]:
    return {
        "pool_size": config.pool_size,
        "max_overflow": config.max_overflow,
        "pool_timeout": config.pool_timeout,
        "pool_recycle": config.pool_recycle,
        "pool_pre_ping": config.pool_pre_ping,
        "pool_reset_on_return": None,
        "isolation_level": "AUTOCOMMIT",
        "hide_parameters": True,
    }


def _echo(config: DatabaseConfig) -> None:
    """``echo=True`` shows each statement's SQL on stderr, as SQLAlchemy's own echo does."""
    if config.echo and not statement_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        statement_log.addHandler(handler)
        statement_log.setLevel(logging.INFO)


def sync_engine(config: DatabaseConfig) -> Engine:
    """An engine over psycopg 3."""
    _echo(config)
    return create_engine(config.sync_url(), connect_args=config.sync_connect_args(), **_pool_options(config))


def async_engine(config: DatabaseConfig) -> AsyncEngine:
    """An engine over asyncpg."""
    _echo(config)
    return create_async_engine(config.async_url(), connect_args=config.async_connect_args(), **_pool_options(config))
