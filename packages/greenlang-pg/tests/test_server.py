"""The test server launcher: a real PostgreSQL, reachable only as configured, and gone when done."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from greenlang_pg import migrations
from greenlang_pg.config import DatabaseConfig
from greenlang_pg.testing import (
    APP_USER,
    INSTALL_HINT,
    ServerStartError,
    ServerUnavailable,
    TestServer,
    find_bin_dir,
    start_server,
)
from greenlang_pg.testing import server as launcher

SSL_IN_USE = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def _accepts(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def _other_local_addresses() -> set[str]:
    """IPv4 addresses of this machine other than 127.0.0.1 that a wildcard listener would answer on."""
    found = {"127.0.0.2"} if sys.platform.startswith("linux") else set()
    with contextlib.suppress(OSError):
        found.update(str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe, contextlib.suppress(OSError):
        probe.connect(("192.0.2.1", 9))  # no packet is sent; this picks the outgoing interface
        found.add(probe.getsockname()[0])
    return {address for address in found if address != "127.0.0.1" and not address.startswith("0.")}


# the server is real -------------------------------------------------------------------
def test_server_is_a_real_postgresql(pg_server: TestServer) -> None:
    [(version,)] = pg_server.execute("SELECT version()")
    assert "PostgreSQL" in version
    assert pg_server.execute("SELECT 6 * 7") == [(42,)]


def test_new_databases_are_utf8_and_keep_text_intact(pg_server: TestServer) -> None:
    name = pg_server.create_database()
    try:
        assert pg_server.execute("SHOW server_encoding", name) == [("UTF8",)]
        assert pg_server.execute(
            "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = %s", params=[name]
        ) == [("UTF8",)]
        sample = "CO₂e · Zürich · 東京 · 🌍"
        with pg_server.connect(name, superuser=False) as connection:
            connection.execute("CREATE TABLE notes (body text)")
            connection.execute("INSERT INTO notes VALUES (%s)", [sample])
            assert connection.execute("SELECT body, length(body) FROM notes").fetchall() == [(sample, len(sample))]
    finally:
        pg_server.drop_database(name)


def test_databases_are_isolated_and_dropped(pg_server: TestServer) -> None:
    first, second = pg_server.create_database(), pg_server.create_database()
    assert first != second
    try:
        pg_server.execute("CREATE TABLE only_here (x int)", first, superuser=False)
        assert pg_server.execute("SELECT to_regclass('only_here') IS NOT NULL", first) == [(True,)]
        assert pg_server.execute("SELECT to_regclass('only_here') IS NULL", second) == [(True,)]
        with pg_server.connect(first, superuser=False):  # an open session does not block the drop
            pg_server.drop_database(first)
        with pytest.raises(psycopg.OperationalError, match="does not exist"):
            pg_server.connect(first)
    finally:
        pg_server.drop_database(first)
        pg_server.drop_database(second)


# reachable only as configured ------------------------------------------------------------
def test_listens_on_127_0_0_1_only(pg_launched: TestServer) -> None:
    assert pg_launched.host == "127.0.0.1"
    assert pg_launched.execute("SHOW listen_addresses") == [("127.0.0.1",)]
    assert pg_launched.execute("SHOW unix_socket_directories") == [("",)]
    assert _accepts("127.0.0.1", pg_launched.port)
    for address in _other_local_addresses():
        assert not _accepts(address, pg_launched.port), f"the server answered on {address}"


def test_logins_need_the_right_password(pg_launched: TestServer) -> None:
    rules = pg_launched.execute("SELECT type, address, auth_method FROM pg_hba_file_rules WHERE error IS NULL")
    assert rules == [("host", "127.0.0.1", "scram-sha-256")]
    assert pg_launched.execute("SELECT current_user", superuser=False) == [(APP_USER,)]
    assert pg_launched.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", params=[APP_USER]) == [(False,)]
    base: dict[str, Any] = {
        "host": pg_launched.host,
        "port": pg_launched.port,
        "dbname": "postgres",
        "connect_timeout": 5,
    }
    for user in (pg_launched.app_user, pg_launched.superuser):
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(**base, user=user, password="wrong")
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(**base, user=user, password="")


def test_dsn_and_config_carry_the_awkward_password(pg_launched: TestServer) -> None:
    password = pg_launched.app_password
    assert password is not None
    assert any(char in password for char in "@:/%")
    with psycopg.connect(pg_launched.dsn("postgres")) as connection:
        assert connection.execute("SELECT current_user").fetchall() == [(APP_USER,)]
    config = pg_launched.config("postgres")
    assert isinstance(config, DatabaseConfig)
    assert password not in repr(config)
    assert password not in repr(pg_launched)
    assert str(pg_launched.superuser_password) not in repr(pg_launched)
    engine = create_engine(config.sync_url(), connect_args=config.sync_connect_args(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT current_user")).scalar_one() == APP_USER
    finally:
        engine.dispose()


# TLS ------------------------------------------------------------------------------------------
def test_tls_server_refuses_plain_connections(pg_tls_server: TestServer) -> None:
    password = pg_tls_server.app_password
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(
            host="127.0.0.1",
            port=pg_tls_server.port,
            dbname="postgres",
            user=pg_tls_server.app_user,
            password=password,
            sslmode="disable",
            connect_timeout=5,
        )

    async def plain() -> None:
        await asyncpg.connect(
            host="127.0.0.1",
            port=pg_tls_server.port,
            database="postgres",
            user=pg_tls_server.app_user,
            password=password,
            ssl=False,
            timeout=5,
        )

    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="no encryption"):
        asyncio.run(plain())


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_tls_verify_full_with_psycopg(pg_tls_server: TestServer, host: str) -> None:
    assert pg_tls_server.ca_file is not None
    assert pg_tls_server.ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
    with psycopg.connect(
        host=host,
        port=pg_tls_server.port,
        dbname="postgres",
        user=pg_tls_server.app_user,
        password=pg_tls_server.app_password,
        sslmode="verify-full",
        sslrootcert=str(pg_tls_server.ca_file),
        connect_timeout=5,
    ) as connection:
        assert connection.execute(SSL_IN_USE).fetchall() == [(True,)]
        assert connection.info.pgconn.ssl_in_use


def test_tls_verify_full_with_asyncpg(pg_tls_server: TestServer) -> None:
    assert pg_tls_server.ca_file is not None
    trusted = ssl.create_default_context(cafile=str(pg_tls_server.ca_file))
    assert trusted.check_hostname
    assert trusted.verify_mode == ssl.CERT_REQUIRED

    async def connect(context: ssl.SSLContext) -> Any:
        connection = await asyncpg.connect(
            host="127.0.0.1",
            port=pg_tls_server.port,
            database="postgres",
            user=pg_tls_server.app_user,
            password=pg_tls_server.app_password,
            ssl=context,
            timeout=5,
        )
        try:
            return await connection.fetchval(SSL_IN_USE)
        finally:
            await connection.close()

    assert asyncio.run(connect(trusted)) is True
    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(connect(ssl.create_default_context()))  # the system's CAs do not know the test CA


def test_tls_config_works_through_both_drivers(pg_tls_server: TestServer) -> None:
    config = pg_tls_server.config("postgres")
    assert config.sslmode == "verify-full"
    assert config.sslrootcert == pg_tls_server.ca_file
    engine = create_engine(config.sync_url(), connect_args=config.sync_connect_args(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            assert connection.execute(text(SSL_IN_USE)).scalar_one() is True
    finally:
        engine.dispose()

    async def check() -> Any:
        async_engine = create_async_engine(
            config.async_url(), connect_args=config.async_connect_args(), poolclass=pool.NullPool
        )
        try:
            async with async_engine.connect() as connection:
                return (await connection.execute(text(SSL_IN_USE))).scalar_one()
        finally:
            await async_engine.dispose()

    assert asyncio.run(check()) is True


# an existing server ------------------------------------------------------------------------
def test_from_dsn_creates_and_drops_only_its_own_databases(pg_launched: TestServer) -> None:
    existing = TestServer.from_dsn(pg_launched.dsn(superuser=True))
    assert not existing.launched
    assert existing.port == pg_launched.port
    name = existing.create_database()
    listed = "SELECT count(*) FROM pg_database WHERE datname = %s"
    assert pg_launched.execute(listed, params=[name]) == [(1,)]
    existing.stop()
    assert pg_launched.execute(listed, params=[name]) == [(0,)]
    assert pg_launched.execute("SELECT 1") == [(1,)]


def test_from_dsn_with_a_wrong_password_says_so_without_echoing_it(pg_launched: TestServer) -> None:
    dsn = f"postgresql://{pg_launched.superuser}:not-the-password-123@127.0.0.1:{pg_launched.port}/postgres"
    with pytest.raises(ServerStartError, match="GREENLANG_TEST_PG_DSN") as caught:
        TestServer.from_dsn(dsn)
    assert "not-the-password-123" not in str(caught.value)


# lifetime --------------------------------------------------------------------------------------
def test_stop_removes_the_server_and_its_directory(tmp_path: Path, pg_bin_dir: Path) -> None:
    directory = tmp_path / "pg"
    started = time.perf_counter()
    with start_server(directory, bin_dir=pg_bin_dir) as launched:
        elapsed = time.perf_counter() - started
        port = launched.port
        assert (directory / "data" / "PG_VERSION").exists()
        assert _accepts("127.0.0.1", port)
    assert elapsed < 10, f"start_server took {elapsed:.1f} s"
    assert not directory.exists()
    assert not _accepts("127.0.0.1", port)
    launched.stop()  # a second stop is harmless


def test_a_killed_owner_still_leaves_nothing_behind(pg_bin_dir: Path) -> None:
    script = (
        "import json, os, pathlib, signal, sys\n"
        "from greenlang_pg.testing import start_server\n"
        "s = start_server(bin_dir=pathlib.Path(sys.argv[1]))\n"
        "print(json.dumps({'port': s.port, 'directory': str(s.directory)}), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(pg_bin_dir)], capture_output=True, text=True, timeout=60)
    assert result.returncode == -9, result.stderr
    started = json.loads(result.stdout)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
        Path(started["directory"]).exists() or _accepts("127.0.0.1", started["port"])
    ):
        time.sleep(0.1)
    assert not _accepts("127.0.0.1", started["port"])
    assert not Path(started["directory"]).exists()


def test_start_server_refuses_a_directory_in_use(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    with pytest.raises(ServerStartError, match="not empty"):
        start_server(tmp_path)
    assert (tmp_path / "something").exists()


def test_missing_binaries_name_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(launcher, "_candidates", lambda: iter(()))
    with pytest.raises(ServerUnavailable, match=INSTALL_HINT):
        find_bin_dir({})
    with pytest.raises(ServerUnavailable, match="GREENLANG_TEST_PG_BIN"):
        find_bin_dir({"GREENLANG_TEST_PG_BIN": str(tmp_path)})


# the fixtures --------------------------------------------------------------------------------
def test_pg_config_is_a_fresh_database_at_head(pg_server: TestServer, pg_config: DatabaseConfig) -> None:
    assert pg_config.database is not None
    assert pg_server.execute("SELECT version_num FROM alembic_version", pg_config.database) == [(migrations.HEAD,)]
    assert pg_config.username == pg_server.app_user


def test_empty_pg_config_has_no_tables(pg_server: TestServer, empty_pg_config: DatabaseConfig) -> None:
    assert empty_pg_config.database is not None
    tables = "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    assert pg_server.execute(tables, empty_pg_config.database) == [(0,)]


def test_pg_env_describes_the_same_database(pg_env: DatabaseConfig) -> None:
    from_env = DatabaseConfig.from_env()
    assert from_env.describe() == pg_env.describe()
    assert from_env.password == pg_env.password
