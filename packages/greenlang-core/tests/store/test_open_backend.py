"""Backends are opened by name through the plugin registry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from greenlang.auth.backends import AsyncAuthBackend, AuthBackend, open_async_backend, open_backend
from greenlang.auth.backends.sqlite import AsyncSQLiteBackend, SQLiteBackend
from greenlang.errors import MissingPluginError
from greenlang.plugins import Registration, registry
from greenlang.testing.samples import sample_permission


def test_open_backend_builds_the_registered_sqlite_store(tmp_path: Path) -> None:
    store = open_backend("sqlite", path=tmp_path / "x.db")
    try:
        assert isinstance(store, SQLiteBackend)
        assert isinstance(store, AuthBackend)
        assert store.path == str(tmp_path / "x.db")
        store.create_permission(sample_permission())
    finally:
        store.close()
    with open_backend(path=tmp_path / "x.db") as again:  # type: ignore[attr-defined]
        assert len(again.list_permissions()) == 1


def test_open_async_backend_builds_the_async_flavour(tmp_path: Path) -> None:
    store = open_async_backend(path=tmp_path / "x.db")
    assert isinstance(store, AsyncSQLiteBackend)
    assert isinstance(store, AsyncAuthBackend)

    async def count() -> int:
        await store.create_permission(sample_permission())
        n = len(await store.list_permissions())
        await store.close()
        return n

    assert asyncio.run(count()) == 1


def test_unknown_backend_names_the_install_command(only_builtin_plugins: None) -> None:
    with pytest.raises(MissingPluginError, match=r"pip install 'greenlang-core\[pg\]'"):
        open_backend("postgresql")
    with pytest.raises(MissingPluginError, match="nosuch"):
        open_async_backend("nosuch")


def test_backend_without_async_flavour_says_so() -> None:
    registry().backends["synconly"] = Registration(SQLiteBackend, "test-plugin")
    with pytest.raises(MissingPluginError, match="'synconly' \\(from test-plugin\\) has no asyncio flavour"):
        open_async_backend("synconly", path=":memory:")
    with open_backend("synconly", path=":memory:") as store:  # type: ignore[attr-defined]
        assert store.list_permissions() == []
