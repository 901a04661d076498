"""Options that change how the backend talks to the server: echo, held connections and their recycling."""

from __future__ import annotations

import logging
import time

import pytest
from stores import open_store

from greenlang.errors import InputError
from greenlang_pg import DatabaseConfig, PostgreSQLBackend
from greenlang_pg.protocol import Op, Rows


def test_echo_logs_each_statement_without_its_parameters(
    pg_config: DatabaseConfig, flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret_scope = "org:echo-parameter-never-logged"
    with caplog.at_level(logging.INFO, logger="greenlang_pg.sql"):
        store = open_store(pg_config.model_copy(update={"echo": True}), flavour)
        try:
            store.create_permission(
                {"resource": "emissions:**", "action": "read", "effect": "allow", "scope": secret_scope}
            )
            store.list_permissions(scope=secret_scope)
        finally:
            store.close()
    logged = [record.getMessage() for record in caplog.records if record.name == "greenlang_pg.sql"]
    assert any(line.startswith("INSERT INTO permissions") for line in logged)
    assert any(line.startswith("SELECT permission_id") and "WHERE scope = $1" in line for line in logged)
    assert not any(secret_scope in line for line in logged)


def test_without_echo_nothing_is_logged(pg_config: DatabaseConfig, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="greenlang_pg.sql"), PostgreSQLBackend(pg_config) as backend:
        backend.list_permissions()
    assert [r for r in caplog.records if r.name == "greenlang_pg.sql"] == []


def _pid() -> Op[int]:
    rows = yield Rows("SELECT pg_backend_pid()")
    return int(rows[0][0])


def _backend_pid(backend: PostgreSQLBackend) -> int:
    """The server process behind the connection the backend's next operation runs on."""
    return backend._runner.read(_pid)


def test_a_held_connection_serves_the_next_operation(pg_config: DatabaseConfig) -> None:
    with PostgreSQLBackend(pg_config, cache_ttl=0) as backend:
        first = _backend_pid(backend)
        assert _backend_pid(backend) == first


def test_a_held_connection_goes_back_to_the_pool_after_pool_recycle(pg_config: DatabaseConfig) -> None:
    with PostgreSQLBackend(pg_config.model_copy(update={"pool_recycle": 1}), cache_ttl=0) as backend:
        first = _backend_pid(backend)
        time.sleep(1.3)
        _backend_pid(backend)  # the connection is now older than pool_recycle: handed back, not held
        renewed = _backend_pid(backend)  # the pool renews it on checkout
    assert renewed != first


def test_pool_pre_ping_holds_no_connection_so_every_checkout_is_pinged(pg_config: DatabaseConfig) -> None:
    with PostgreSQLBackend(pg_config.model_copy(update={"pool_pre_ping": True}), cache_ttl=0) as backend:
        backend.list_permissions()
        assert backend._runner._idle == []


@pytest.mark.parametrize("ttl", ["60", -1, float("nan"), True])
def test_a_bad_cache_ttl_is_refused_before_connecting(pg_config: DatabaseConfig, flavour: str, ttl: object) -> None:
    with pytest.raises(InputError, match="cache_ttl must be a number of seconds"):
        open_store(pg_config, flavour, cache_ttl=ttl)
