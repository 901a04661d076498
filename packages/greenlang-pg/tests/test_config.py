"""``DatabaseConfig``: built from components, a URL or ``GL_DB_*``; clear errors; no password anywhere; TLS and pool
settings that really reach psycopg and asyncpg."""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
import secrets
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from psycopg import sql
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from greenlang.errors import InputError, StoreError
from greenlang_pg import AsyncPostgreSQLBackend, DatabaseConfig, PostgreSQLBackend
from greenlang_pg.migrate import upgrade
from greenlang_pg.testing import TestServer

PASSWORD = "S3cr:et@pa/ss%word?#&= ;'\"\\x"
"""Every character a URL or a connection string could mangle, so leaks in any encoding are caught."""

LEAKS = (PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD), "S3cr")

SSL_IN_USE = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
APP_NAME = "SELECT current_setting('application_name')"

ENV_NAMES = (
    "GL_DB_URL",
    "GL_DB_HOST",
    "GL_DB_PORT",
    "GL_DB_NAME",
    "GL_DB_USER",
    "GL_DB_PASSWORD",
    "GL_DB_SSLMODE",
    "GL_DB_SSLROOTCERT",
    "GL_DB_SSLCERT",
    "GL_DB_SSLKEY",
    "GL_DB_POOL_SIZE",
)


def assert_no_password(*texts: str) -> None:
    for piece in texts:
        for leak in LEAKS:
            assert leak not in piece, f"the password leaked into: {piece[:200]!r}"


def assert_one_sentence_naming(error: BaseException, field: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert field in message, message
    assert_no_password(message, repr(error))


# the two flavours, run the same way ---------------------------------------------------------
def sync_query(config: DatabaseConfig, query: str) -> Any:
    """Open ``PostgreSQLBackend`` (which checks the schema) and run ``query`` on its own engine."""
    with PostgreSQLBackend(config, cache_ttl=0) as backend, backend._engine.connect() as connection:
        backend.list_roles()
        return connection.execute(text(query)).scalar()


def async_query(config: DatabaseConfig, query: str) -> Any:
    """The same through ``AsyncPostgreSQLBackend`` and asyncpg."""

    async def scenario() -> Any:
        async with AsyncPostgreSQLBackend(config, cache_ttl=0) as backend:
            await backend.list_roles()
            async with backend._engine.connect() as connection:
                return (await connection.execute(text(query))).scalar()

    return asyncio.run(scenario())


FLAVOURS: dict[str, Callable[[DatabaseConfig, str], Any]] = {"psycopg": sync_query, "asyncpg": async_query}
flavours = pytest.mark.parametrize("run", list(FLAVOURS.values()), ids=list(FLAVOURS))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# components and URLs ---------------------------------------------------------------------------
def test_defaults_are_the_seeds_pool_and_a_local_server() -> None:
    config = DatabaseConfig()
    assert (config.pool_size, config.max_overflow) == (20, 10)
    assert config.pool_timeout == 30.0
    assert config.pool_recycle == 1800
    assert config.sslmode is None
    assert config.describe() == "postgresql://localhost:5432/greenlang"


def test_components_make_a_url_for_each_driver() -> None:
    config = DatabaseConfig(
        host="db.example", port=6543, database="carbon", username="gl_user", password=PASSWORD, pool_size=5
    )
    sync, asynchronous = config.sync_url(), config.async_url()
    assert sync.drivername == "postgresql+psycopg"
    assert asynchronous.drivername == "postgresql+asyncpg"
    for url in (sync, asynchronous):
        assert (url.host, url.port, url.database, url.username, url.password) == (
            "db.example",
            6543,
            "carbon",
            "gl_user",
            PASSWORD,
        )
    assert config.libpq_params()["password"] == PASSWORD
    assert config.pool_size == 5


def test_a_url_gives_the_same_urls_and_its_tls_query_becomes_connect_arguments(other_ca: Path) -> None:
    ca = other_ca
    config = DatabaseConfig(
        url=f"postgresql://gl_user:{quote(PASSWORD, safe='')}@db.example:6543/carbon"
        f"?sslmode=verify-full&sslrootcert={ca}"
    )
    for url in (config.sync_url(), config.async_url()):
        assert (url.host, url.port, url.database, url.username, url.password) == (
            "db.example",
            6543,
            "carbon",
            "gl_user",
            PASSWORD,
        )
        assert "sslmode" not in url.query
        assert "sslrootcert" not in url.query
    assert config.sync_connect_args()["sslmode"] == "verify-full"
    assert config.sync_connect_args()["sslrootcert"] == str(ca)
    assert "ssl" in config.async_connect_args()


@pytest.mark.parametrize(
    "component", [{"host": "h"}, {"port": 5432}, {"database": "d"}, {"username": "u"}, {"password": PASSWORD}]
)
def test_url_and_components_together_are_refused(component: dict[str, Any]) -> None:
    with pytest.raises(InputError) as caught:
        DatabaseConfig(url="postgresql://u:other@h:5432/d", **component)
    (name,) = component
    assert_one_sentence_naming(caught.value, "url")
    assert name in str(caught.value)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"port": 0}, "port"),
        ({"port": 65536}, "port"),
        ({"port": "fifty"}, "port"),
        ({"pool_size": 0}, "pool_size"),
        ({"pool_size": "many"}, "pool_size"),
        ({"max_overflow": -1}, "max_overflow"),
        ({"pool_timeout": 0}, "pool_timeout"),
        ({"pool_recycle": -2}, "pool_recycle"),
        ({"connect_timeout": -1}, "connect_timeout"),
        ({"sslmode": "verify"}, "sslmode"),
        ({"password": ["x"]}, "password"),
        ({"pool_sise": 3}, "pool_sise"),
        ({"url": "mysql://u:p@h/d"}, "url"),
        ({"url": "not a url at all"}, "url"),
        ({"url": "postgresql://u:p@h:fifty/d"}, "url"),
        ({"url": "postgresql://u:p@h:99999/d"}, "url"),
    ],
)
def test_bad_values_are_one_sentence_naming_the_field(values: dict[str, Any], field: str) -> None:
    extra = {} if "url" in values else {"password": PASSWORD}
    with pytest.raises(InputError) as caught:
        DatabaseConfig(**{**extra, **values})
    assert_one_sentence_naming(caught.value, field)


def test_a_copy_with_changes_is_validated_like_a_new_config() -> None:
    config = DatabaseConfig(host="h", username="u", password="old")
    changed = config.model_copy(update={"password": PASSWORD, "pool_size": 3})
    assert changed.password is not None
    assert changed.password.get_secret_value() == PASSWORD
    assert changed.pool_size == 3
    assert_no_password(repr(changed), changed.describe())
    with pytest.raises(InputError) as caught:
        config.model_copy(update={"pool_size": -1})
    assert_one_sentence_naming(caught.value, "pool_size")
    with pytest.raises(InputError):
        config.model_copy(update={"url": "postgresql://u@h/d"})


def test_keyword_options_to_the_backend_are_validated(pg_config: DatabaseConfig) -> None:
    with pytest.raises(InputError) as caught:
        PostgreSQLBackend(pg_config, pool_size=0)
    assert_one_sentence_naming(caught.value, "pool_size")
    with pytest.raises(InputError) as caught:
        AsyncPostgreSQLBackend(pg_config, max_overflow=-3)
    assert_one_sentence_naming(caught.value, "max_overflow")


# the environment ---------------------------------------------------------------------------------
def test_from_env_reads_the_components(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in {
        "GL_DB_HOST": "db.example",
        "GL_DB_PORT": "6543",
        "GL_DB_NAME": "carbon",
        "GL_DB_USER": "gl_user",
        "GL_DB_PASSWORD": PASSWORD,
    }.items():
        clean_env.setenv(name, value)
    config = DatabaseConfig.from_env()
    assert (config.host, config.port, config.database, config.username) == ("db.example", 6543, "carbon", "gl_user")
    assert config.password is not None
    assert config.password.get_secret_value() == PASSWORD
    assert (config.pool_size, config.max_overflow) == (20, 10)
    assert_no_password(repr(config), str(config), config.describe())


def test_from_env_reads_a_url(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GL_DB_URL", f"postgresql://gl_user:{quote(PASSWORD, safe='')}@db.example:6543/carbon")
    config = DatabaseConfig.from_env()
    assert config.sync_url().password == PASSWORD
    assert config.sync_url().host == "db.example"
    assert_no_password(repr(config), str(config), config.describe())


def test_from_env_prefers_the_url_over_components_as_documented() -> None:
    config = DatabaseConfig.from_env(
        {"GL_DB_URL": "postgresql://u@from-url:6000/d", "GL_DB_HOST": "from-host", "GL_DB_PORT": "7000"}
    )
    assert (config.sync_url().host, config.sync_url().port) == ("from-url", 6000)


def test_from_env_reads_pool_and_tls_settings_and_overrides_win(other_ca: Path) -> None:
    ca = other_ca
    environ = {"GL_DB_POOL_SIZE": "7", "GL_DB_SSLMODE": "verify-ca", "GL_DB_SSLROOTCERT": str(ca)}
    config = DatabaseConfig.from_env(environ)
    assert (config.pool_size, config.sslmode, config.sslrootcert) == (7, "verify-ca", ca)
    assert DatabaseConfig.from_env(environ, pool_size=2, max_overflow=0).pool_size == 2


def test_from_env_with_nothing_set_is_the_defaults(clean_env: pytest.MonkeyPatch) -> None:
    assert DatabaseConfig.from_env().describe() == DatabaseConfig().describe()
    assert DatabaseConfig.from_env({}).pool_size == 20


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"GL_DB_PORT": "fifty"}, "GL_DB_PORT"),
        ({"GL_DB_PORT": "0"}, "GL_DB_PORT"),
        ({"GL_DB_PORT": "70000"}, "GL_DB_PORT"),
        ({"GL_DB_POOL_SIZE": "0"}, "GL_DB_POOL_SIZE"),
        ({"GL_DB_SSLMODE": "on"}, "GL_DB_SSLMODE"),
        ({"GL_DB_URL": "mysql://u:p@h/d"}, "url"),
    ],
)
def test_bad_environment_values_name_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(InputError) as caught:
        DatabaseConfig.from_env({**environ, "GL_DB_PASSWORD": PASSWORD})
    assert_one_sentence_naming(caught.value, variable)


# the password stays secret ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "config",
    [
        DatabaseConfig(host="h", username="u", password=PASSWORD),
        DatabaseConfig(url=f"postgresql://u:{quote(PASSWORD, safe='')}@h/d"),
        DatabaseConfig(url=f"postgresql+asyncpg://u:{quote(PASSWORD, safe='')}@h/d?sslmode=require"),
    ],
    ids=["components", "url", "driver-url"],
)
def test_no_rendering_shows_the_password(config: DatabaseConfig) -> None:
    assert_no_password(
        repr(config),
        str(config),
        f"{config}",
        config.describe(),
        repr(config.sync_url()),
        str(config.async_url()),
        config.model_dump_json(),
        str(config.model_dump(mode="json")),
        repr(config.password),
        repr(config.url),
    )
    assert "***" in config.describe()


def test_backend_reprs_do_not_show_the_password(pg_config: DatabaseConfig) -> None:
    config = pg_config
    secret = config.password.get_secret_value() if config.password else None
    sync = PostgreSQLBackend(config)
    asynchronous = AsyncPostgreSQLBackend(config)
    try:
        texts = [repr(sync), repr(asynchronous), repr(sync.config), repr(sync._engine), repr(asynchronous._engine)]
        if secret:
            assert all(secret not in piece for piece in texts)
        assert config.database in repr(sync)
    finally:
        sync.close()
        asyncio.run(asynchronous.close())


@flavours
@pytest.mark.parametrize("echo", [False, True], ids=["quiet", "echo"])
def test_a_wrong_password_never_reaches_messages_or_logs(
    run: Callable[[DatabaseConfig, str], Any],
    echo: bool,
    pg_config: DatabaseConfig,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = pg_config.model_copy(update={"password": PASSWORD, "echo": echo})
    with pytest.raises(StoreError) as caught:
        run(wrong, "SELECT 1")
    message = str(caught.value)
    assert "password authentication failed" in message
    assert pg_config.database in message
    assert "\n" not in message
    printed = capfd.readouterr()
    assert_no_password(
        message,
        repr(caught.value),
        "".join(traceback.format_exception(caught.value)),
        caplog.text,
        printed.out,
        printed.err,
    )


def test_a_special_password_connects_from_components_url_and_environment(
    pg_launched: TestServer, clean_env: pytest.MonkeyPatch
) -> None:
    """The password above, with every URL-special character, reaches both drivers intact."""
    user = f"gl_special_{secrets.token_hex(4)}"
    pg_launched.execute(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
            sql.Identifier(user), sql.Literal(PASSWORD), sql.Identifier(pg_launched.app_user)
        )
    )
    name = pg_launched.create_database()
    try:
        upgrade(pg_launched.config(name))
        base = pg_launched.config(name)
        components = DatabaseConfig(host=base.host, port=base.port, database=name, username=user, password=PASSWORD)
        url = DatabaseConfig(url=f"postgresql://{user}:{quote(PASSWORD, safe='')}@{base.host}:{base.port}/{name}")
        for variable, value in {
            "GL_DB_HOST": str(base.host),
            "GL_DB_PORT": str(base.port),
            "GL_DB_NAME": name,
            "GL_DB_USER": user,
            "GL_DB_PASSWORD": PASSWORD,
        }.items():
            clean_env.setenv(variable, value)
        environment = DatabaseConfig.from_env()
        for config in (components, url, environment):
            for run in FLAVOURS.values():
                assert run(config, "SELECT current_user") == user
    finally:
        pg_launched.drop_database(name)
        pg_launched.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))


# TLS reaches both drivers ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_database(pg_tls_server: TestServer) -> Iterator[str]:
    """A migrated database on the TLS-only server."""
    name = pg_tls_server.create_database()
    try:
        upgrade(pg_tls_server.config(name))
        yield name
    finally:
        pg_tls_server.drop_database(name)


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA that did not sign the server's certificate, with the same subject, so only the key differs."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "greenlang test CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path_factory.mktemp("other-ca") / "ca.crt"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def test_the_tls_server_is_verify_full_with_its_own_ca(pg_tls_server: TestServer) -> None:
    assert pg_tls_server.sslmode == "verify-full"
    assert pg_tls_server.ca_file is not None
    assert pg_tls_server.ca_file.is_file()


@flavours
def test_verify_full_with_the_right_ca_connects_over_tls(
    run: Callable[[DatabaseConfig, str], Any], pg_tls_server: TestServer, tls_database: str
) -> None:
    config = pg_tls_server.config(tls_database, sslmode="verify-full", sslrootcert=pg_tls_server.ca_file)
    assert run(config, SSL_IN_USE) is True


@flavours
def test_tls_settings_in_a_url_reach_the_driver(
    run: Callable[[DatabaseConfig, str], Any], pg_tls_server: TestServer, tls_database: str
) -> None:
    url = pg_tls_server.dsn(tls_database)
    assert "sslmode=verify-full" in url
    assert run(DatabaseConfig(url=url), SSL_IN_USE) is True


@flavours
def test_tls_settings_from_the_environment_reach_the_driver(
    run: Callable[[DatabaseConfig, str], Any],
    pg_tls_server: TestServer,
    tls_database: str,
    clean_env: pytest.MonkeyPatch,
) -> None:
    config = pg_tls_server.config(tls_database)
    for variable, value in {
        "GL_DB_HOST": str(config.host),
        "GL_DB_PORT": str(config.port),
        "GL_DB_NAME": tls_database,
        "GL_DB_USER": str(config.username),
        "GL_DB_PASSWORD": config.password.get_secret_value() if config.password else "",
        "GL_DB_SSLMODE": "verify-full",
        "GL_DB_SSLROOTCERT": str(pg_tls_server.ca_file),
    }.items():
        clean_env.setenv(variable, value)
    assert run(DatabaseConfig.from_env(), SSL_IN_USE) is True


@flavours
def test_sslmode_disable_is_refused_by_a_tls_only_server(
    run: Callable[[DatabaseConfig, str], Any], pg_tls_server: TestServer, tls_database: str
) -> None:
    config = pg_tls_server.config(tls_database, sslmode="disable", sslrootcert=None)
    with pytest.raises(StoreError) as caught:
        run(config, SSL_IN_USE)
    assert "no encryption" in str(caught.value)


def test_an_unreadable_ca_file_is_refused_naming_it(
    pg_tls_server: TestServer, tls_database: str, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.crt"
    with pytest.raises(InputError) as caught:  # the same for both drivers: refused before any connection
        pg_tls_server.config(tls_database, sslmode="verify-full", sslrootcert=missing)
    assert_one_sentence_naming(caught.value, "sslrootcert")
    assert str(missing) in str(caught.value)
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("not a certificate")
    with pytest.raises(InputError, match="holds no certificate"):
        pg_tls_server.config(tls_database, sslmode="verify-full", sslrootcert=garbage)


@flavours
def test_a_server_signed_by_another_ca_is_refused(
    run: Callable[[DatabaseConfig, str], Any], pg_tls_server: TestServer, tls_database: str, other_ca: Path
) -> None:
    config = pg_tls_server.config(tls_database, sslmode="verify-full", sslrootcert=other_ca)
    with pytest.raises(StoreError) as caught:
        run(config, SSL_IN_USE)
    # same subject, other key: OpenSSL names either the failed chain or the failed signature
    assert re.search("certificate verify failed|signature failure", str(caught.value), re.IGNORECASE)


# pool settings reach the engine -----------------------------------------------------------------------
POOL = {"pool_size": 2, "max_overflow": 1, "pool_timeout": 0.5, "pool_recycle": 600, "pool_pre_ping": True}


def test_pool_settings_reach_the_sync_engine(pg_config: DatabaseConfig) -> None:
    with PostgreSQLBackend(pg_config, cache_ttl=0, **POOL) as backend:
        pool = backend._engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout, pool._recycle, pool._pre_ping) == (2, 1, 0.5, 600, True)
        held = [backend._engine.connect() for _ in range(3)]
        try:
            started = time.monotonic()
            with pytest.raises(sa_exc.TimeoutError):
                backend._engine.connect()
            assert 0.4 <= time.monotonic() - started < 5
        finally:
            for connection in held:
                connection.close()


def test_pool_settings_reach_the_async_engine(pg_config: DatabaseConfig) -> None:
    async def scenario() -> None:
        async with AsyncPostgreSQLBackend(pg_config, cache_ttl=0, **POOL) as backend:
            pool = backend._engine.pool
            assert (pool.size(), pool._max_overflow, pool._timeout, pool._recycle, pool._pre_ping) == (
                2,
                1,
                0.5,
                600,
                True,
            )
            held = [await backend._engine.connect().start() for _ in range(3)]
            try:
                started = time.monotonic()
                with pytest.raises(sa_exc.TimeoutError):
                    await backend._engine.connect().start()
                assert 0.4 <= time.monotonic() - started < 5
            finally:
                for connection in held:
                    await connection.close()

    asyncio.run(scenario())


def test_default_pool_is_the_seeds(pg_config: DatabaseConfig) -> None:
    with PostgreSQLBackend(pg_config) as backend:
        assert (backend._engine.pool.size(), backend._engine.pool._max_overflow) == (20, 10)
    backend_async = AsyncPostgreSQLBackend(pg_config)
    assert (backend_async._engine.pool.size(), backend_async._engine.pool._max_overflow) == (20, 10)
    asyncio.run(backend_async.close())


@flavours
def test_application_name_reaches_the_server(
    run: Callable[[DatabaseConfig, str], Any], pg_config: DatabaseConfig
) -> None:
    name = f"gl-test-{secrets.token_hex(3)}"
    assert run(pg_config.model_copy(update={"application_name": name}), APP_NAME) == name


@pytest.mark.parametrize(
    ("field", "value"), [("host", ""), ("database", ""), ("username", ""), ("application_name", "a\x00b")]
)
def test_empty_or_unprintable_connection_settings_are_refused(field: str, value: str) -> None:
    with pytest.raises(InputError, match=rf"database config\.{field}"):
        DatabaseConfig(**{field: value})
