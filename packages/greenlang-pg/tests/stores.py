"""Opening a store of either flavour, for tests that run against both (the async one through ``SyncFacade``)."""

from __future__ import annotations

from typing import Any

from greenlang.testing import SyncFacade
from greenlang_pg import AsyncPostgreSQLBackend, DatabaseConfig, PostgreSQLBackend

Store = PostgreSQLBackend | SyncFacade


def open_store(config: DatabaseConfig, flavour: str, **options: Any) -> Store:
    if flavour == "sync":
        return PostgreSQLBackend(config, **options)
    return SyncFacade(AsyncPostgreSQLBackend(config, **options))


def database(config: DatabaseConfig) -> str:
    assert config.database is not None
    return config.database
