"""The seed's import path and ``open_backend`` reach this plugin through the registry, and only through it."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

import greenlang_pg
from greenlang import plugins
from greenlang.auth.backends import open_async_backend, open_backend
from greenlang.auth.permissions import Permission
from greenlang.errors import MissingPluginError
from greenlang_pg import AsyncPostgreSQLBackend, DatabaseConfig, PostgreSQLBackend
from greenlang_pg.backend import PostgreSQLBackend as BackendHome
from greenlang_pg.config import DatabaseConfig as ConfigHome

INSTALL = "pip install 'greenlang-core[pg]'"


@pytest.fixture
def registry_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Lets a test change ``GREENLANG_PLUGINS``; the registry is loaded again from the real environment after."""
    yield monkeypatch
    monkeypatch.undo()
    plugins.reset_registry()


def without_plugins(monkeypatch: pytest.MonkeyPatch, allow: str) -> None:
    monkeypatch.setenv("GREENLANG_PLUGINS", allow)
    plugins.reset_registry()


def test_the_seed_import_gives_the_plugins_classes() -> None:
    from greenlang.auth.backends.postgresql import AsyncPostgreSQLBackend as SeedAsync
    from greenlang.auth.backends.postgresql import DatabaseConfig as SeedConfig
    from greenlang.auth.backends.postgresql import PostgreSQLBackend as SeedBackend

    assert SeedBackend is PostgreSQLBackend is BackendHome
    assert SeedConfig is DatabaseConfig is ConfigHome
    assert SeedAsync is AsyncPostgreSQLBackend


def test_the_seed_module_offers_nothing_else() -> None:
    seed = importlib.import_module("greenlang.auth.backends.postgresql")
    with pytest.raises(AttributeError, match="Session"):
        seed.DatabaseSession  # noqa: B018
    with pytest.raises(ImportError):
        exec("from greenlang.auth.backends.postgresql import DatabaseSession", {})  # noqa: S102


@pytest.mark.parametrize("allow", ["", "some-other-plugin", "greenlang-sample, not-postgresql"])
def test_without_the_plugin_the_seed_import_says_what_to_install(
    registry_restored: pytest.MonkeyPatch, allow: str
) -> None:
    without_plugins(registry_restored, allow)
    assert "postgresql" not in plugins.registry().backends
    assert "sqlite" in plugins.registry().backends  # built-ins always load
    with pytest.raises(ImportError) as caught:
        exec("from greenlang.auth.backends.postgresql import PostgreSQLBackend, DatabaseConfig", {})  # noqa: S102
    assert INSTALL in str(caught.value)
    assert "'postgresql'" in str(caught.value)
    with pytest.raises(MissingPluginError, match=r"greenlang-core\[pg\]"):
        open_backend("postgresql")
    with pytest.raises(MissingPluginError, match=r"greenlang-core\[pg\]"):
        open_async_backend("postgresql")


def test_the_plugin_comes_back_when_allowed_again(registry_restored: pytest.MonkeyPatch) -> None:
    without_plugins(registry_restored, "")
    with pytest.raises(ImportError):
        exec("from greenlang.auth.backends.postgresql import PostgreSQLBackend", {})  # noqa: S102
    without_plugins(registry_restored, "postgresql")
    namespace: dict[str, object] = {}
    exec("from greenlang.auth.backends.postgresql import PostgreSQLBackend", namespace)  # noqa: S102
    assert namespace["PostgreSQLBackend"] is PostgreSQLBackend


def test_the_core_never_imports_the_plugin_module_by_name() -> None:
    """In a fresh interpreter with the plugin filtered out, ``greenlang_pg`` is never imported."""
    code = (
        "import sys\n"
        "try:\n"
        "    from greenlang.auth.backends.postgresql import PostgreSQLBackend\n"
        "except ImportError as exc:\n"
        "    print('ImportError:', exc)\n"
        "from greenlang.auth.backends import open_backend\n"
        "open_backend('sqlite', path=':memory:').close()\n"
        "print('loaded:', any(name.split('.')[0] == 'greenlang_pg' for name in sys.modules))\n"
    )
    env = {**os.environ, "GREENLANG_PLUGINS": "nothing"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert INSTALL in result.stdout
    assert "loaded: False" in result.stdout


def test_open_backend_builds_the_plugins_backend(pg_config: DatabaseConfig) -> None:
    backend = open_backend("postgresql", config=pg_config)
    try:
        assert isinstance(backend, PostgreSQLBackend)
        created = backend.create_permission(Permission(resource="emissions:data", action="read", effect="allow"))
        assert backend.get_permission(created.permission_id) == created
        assert backend.verify_audit().ok
    finally:
        backend.close()


def test_open_backend_passes_keyword_options_on(pg_config: DatabaseConfig) -> None:
    backend = open_backend("postgresql", config=pg_config, pool_size=3, max_overflow=1)
    try:
        assert isinstance(backend, PostgreSQLBackend)
        assert backend._engine.pool.size() == 3
        assert backend.list_permissions() == []
    finally:
        backend.close()


def test_open_backend_reads_the_environment_without_arguments(pg_env: DatabaseConfig) -> None:
    backend = open_backend("postgresql")
    try:
        assert isinstance(backend, PostgreSQLBackend)
        assert backend.config.database == pg_env.database
        assert backend.list_roles() == []
    finally:
        backend.close()


def test_open_async_backend_builds_the_plugins_async_backend(pg_config: DatabaseConfig) -> None:
    async def scenario() -> None:
        backend = open_async_backend("postgresql", config=pg_config)
        assert isinstance(backend, AsyncPostgreSQLBackend)
        async with backend:
            created = await backend.create_permission(
                {"resource": "emissions:data", "action": "read", "effect": "deny"}
            )
            assert await backend.get_permission(created.permission_id) == created
            assert (await backend.verify_audit()).ok

    asyncio.run(scenario())
    with PostgreSQLBackend(pg_config) as sync:
        assert [p.effect.value for p in sync.list_permissions()] == ["deny"]


def test_the_package_exports_match_the_seed_modules() -> None:
    seed = importlib.import_module("greenlang.auth.backends.postgresql")
    assert sorted(seed.__all__) == sorted(greenlang_pg.__all__)
