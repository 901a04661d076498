"""Fixtures: one real PostgreSQL per session, a template migrated to head once, a fresh database per test.

The server is ``GREENLANG_TEST_PG_DSN`` when set, else one started from
pgserver's or the machine's binaries (``greenlang_pg.testing.server``). With
neither, tests skip naming what to install, except under ``CI=true``, where
they fail: a CI run that silently tested nothing would look green.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool
from stores import Store, open_store

from greenlang_pg.config import DatabaseConfig
from greenlang_pg.testing import ServerUnavailable, TestServer, find_bin_dir, open_server, start_server


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def no_server(reason: str) -> NoReturn:
    """Skip naming the fix, or fail under CI=true."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: PostgreSQL tests may not be skipped)", pytrace=False)
    pytest.skip(reason)


def upgrade_to_head(database: DatabaseConfig) -> None:
    """Run the packaged Alembic migrations on ``database`` over one connection."""
    from greenlang_pg import migrations

    config = Config(str(migrations.INI))
    config.set_main_option("script_location", str(migrations.SCRIPT_LOCATION))
    engine = create_engine(database.sync_url(), connect_args=database.sync_connect_args(), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_bin_dir() -> Path:
    """PostgreSQL's binaries, for tests that start servers of their own."""
    try:
        return find_bin_dir()
    except ServerUnavailable as exc:
        no_server(str(exc))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TestServer]:
    """The session's server: GREENLANG_TEST_PG_DSN, else a launched one."""
    try:
        server = open_server()
    except ServerUnavailable as exc:
        no_server(str(exc))
    with server:
        yield server


@pytest.fixture(scope="session")
def pg_launched(pg_server: TestServer, pg_bin_dir: Path) -> Iterator[TestServer]:
    """A server this process launched (for tests of the launcher itself): the session's, unless that is a DSN."""
    if pg_server.launched:
        yield pg_server
        return
    with start_server(bin_dir=pg_bin_dir) as server:
        yield server


@pytest.fixture(scope="session")
def pg_tls_server() -> Iterator[TestServer]:
    """A launched server that accepts TLS connections only; its ``ca_file`` verifies it."""
    try:
        server = start_server(tls=True)
    except ServerUnavailable as exc:
        no_server(str(exc))
    with server:
        yield server


@pytest.fixture(scope="session")
def pg_template(pg_server: TestServer) -> Iterator[str]:
    """The name of a database migrated to head, cloned by ``pg_config``."""
    name = pg_server.create_database()
    try:
        upgrade_to_head(pg_server.config(name))
        yield name
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def pg_config(pg_server: TestServer, pg_template: str) -> Iterator[DatabaseConfig]:
    """A fresh database with the schema at head, as the app user; dropped after the test."""
    name = pg_server.create_database(template=pg_template)
    try:
        yield pg_server.config(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def empty_pg_config(pg_server: TestServer) -> Iterator[DatabaseConfig]:
    """A fresh database with no schema at all (for migration tests); dropped after the test."""
    name = pg_server.create_database()
    try:
        yield pg_server.config(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def pg_env(pg_config: DatabaseConfig, monkeypatch: pytest.MonkeyPatch) -> DatabaseConfig:
    """``pg_config``'s database in ``GL_DB_*`` variables, for code that reads the environment."""
    values = {
        "GL_DB_HOST": pg_config.host,
        "GL_DB_PORT": str(pg_config.port),
        "GL_DB_NAME": pg_config.database,
        "GL_DB_USER": pg_config.username,
        "GL_DB_PASSWORD": pg_config.password.get_secret_value() if pg_config.password else None,
        "GL_DB_SSLMODE": pg_config.sslmode,
        "GL_DB_SSLROOTCERT": str(pg_config.sslrootcert) if pg_config.sslrootcert else None,
    }
    for name in ("GL_DB_URL", "GL_DB_SSLCERT", "GL_DB_SSLKEY", "GL_DB_POOL_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return pg_config


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    """Run the test against the psycopg backend and the asyncpg one."""
    return str(request.param)


@pytest.fixture
def store(pg_config: DatabaseConfig, flavour: str) -> Iterator[Store]:
    backend = open_store(pg_config, flavour)
    yield backend
    backend.close()
