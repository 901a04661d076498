"""The storage contract's conformance suite, against a real PostgreSQL, through psycopg and through asyncpg."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from greenlang.auth.backends.base import AuthBackend
from greenlang.testing import SyncFacade
from greenlang_pg import AsyncPostgreSQLBackend, DatabaseConfig, PostgreSQLBackend
from greenlang_pg.testing.conformance import PostgreSQLConformance


class TestSyncPostgreSQL(PostgreSQLConformance):
    @pytest.fixture
    def backend(self, pg_config: DatabaseConfig) -> Iterator[AuthBackend]:
        backend = PostgreSQLBackend(pg_config)
        yield backend
        backend.close()


class TestAsyncPostgreSQL(PostgreSQLConformance):
    @pytest.fixture
    def backend(self, pg_config: DatabaseConfig) -> Iterator[AuthBackend]:
        backend = SyncFacade(AsyncPostgreSQLBackend(pg_config))
        yield backend
        backend.close()
