"""The backend conformance suite, run against both flavours of the built-in SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from greenlang.auth.backends import AuthBackend
from greenlang.auth.backends.sqlite import AsyncSQLiteBackend, SQLiteBackend
from greenlang.testing import SyncFacade
from greenlang.testing.sqlite import SQLiteConformance


class TestSQLiteBackend(SQLiteConformance):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[AuthBackend]:
        store = SQLiteBackend(tmp_path / "store" / "greenlang.db")
        yield store
        store.close()


class TestAsyncSQLiteBackend(SQLiteConformance):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[AuthBackend]:
        store = SyncFacade(AsyncSQLiteBackend(tmp_path / "greenlang.db"))
        yield store
        store.close()
