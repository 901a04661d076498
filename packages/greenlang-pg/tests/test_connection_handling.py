"""Held connections that die while idle, concurrent tasks inside one async block, and more callers than connections."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from stores import Store, database

from greenlang.errors import DuplicateError, StoreError
from greenlang.testing.samples import sample_event, sample_role
from greenlang_pg import AsyncPostgreSQLBackend, DatabaseConfig, PostgreSQLBackend
from greenlang_pg.testing import TestServer


def kill_idle_sessions(pg_server: TestServer, name: str) -> int:
    """End every idle session of the backend except its LISTEN connection, as an idle timeout or failover would."""
    rows = pg_server.execute(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
        "WHERE datname = %s AND application_name = 'greenlang' AND state = 'idle' AND query NOT LIKE 'LISTEN%%'",
        params=[name],
    )
    assert rows, "expected at least one held idle connection"
    assert all(row == (True,) for row in rows)
    return len(rows)


def test_appends_go_on_after_the_held_connection_died(
    store: Store, pg_server: TestServer, pg_config: DatabaseConfig
) -> None:
    first = store.append_audit_event(sample_event())
    kill_idle_sessions(pg_server, database(pg_config))
    appended = [store.append_audit_event(sample_event(user_id=f"u{i}")) for i in range(20)]
    assert [e.sequence for e in appended] == list(range((first.sequence or 0) + 1, (first.sequence or 0) + 21))
    report = store.verify_audit()
    assert (report.ok, report.events_checked) == (True, 21)


def test_reads_and_policy_writes_go_on_after_the_held_connection_died(
    store: Store, pg_server: TestServer, pg_config: DatabaseConfig
) -> None:
    store.create_role(sample_role("before"))
    kill_idle_sessions(pg_server, database(pg_config))
    assert [r.role_name for r in store.list_roles()] == ["before"]
    kill_idle_sessions(pg_server, database(pg_config))
    store.create_role(sample_role("after"))
    assert store.revision() == 2
    assert store.verify_audit().ok


def test_concurrent_tasks_inside_one_async_block_each_get_their_savepoint(pg_config: DatabaseConfig) -> None:
    async def scenario() -> tuple[list[str], list[object]]:
        backend = AsyncPostgreSQLBackend(pg_config)
        try:
            async with backend.atomic():
                await asyncio.gather(*(backend.create_role(sample_role(f"r{i}")) for i in range(6)))
                outcomes = await asyncio.gather(
                    backend.create_role(sample_role("dup")),
                    backend.create_role(sample_role("dup")),
                    backend.create_role(sample_role("other")),
                    return_exceptions=True,
                )
            names = sorted(r.role_name for r in await backend.list_roles())
            assert (await backend.verify_audit()).ok
            return names, list(outcomes)
        finally:
            await backend.close()

    names, outcomes = asyncio.run(scenario())
    assert names == sorted([*(f"r{i}" for i in range(6)), "dup", "other"])
    assert sum(isinstance(outcome, DuplicateError) for outcome in outcomes) == 1


def test_more_threads_than_connections_wait_their_turn(pg_config: DatabaseConfig) -> None:
    config = pg_config.model_copy(update={"pool_size": 2, "max_overflow": 0, "pool_timeout": 10})
    errors: list[BaseException] = []
    with PostgreSQLBackend(config, cache_ttl=0) as backend:
        backend.create_role(sample_role("seen"))

        def work() -> None:
            try:
                for _ in range(10):
                    assert [r.role_name for r in backend.list_roles()] == ["seen"]
            except BaseException as exc:  # collected for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []


def test_more_tasks_than_connections_wait_their_turn(pg_config: DatabaseConfig) -> None:
    config = pg_config.model_copy(update={"pool_size": 3, "max_overflow": 0, "pool_timeout": 10})

    async def scenario() -> list[object]:
        backend = AsyncPostgreSQLBackend(config, cache_ttl=0)
        try:
            await backend.create_role(sample_role("seen"))
            return await asyncio.gather(*(backend.list_roles() for _ in range(40)), return_exceptions=True)
        finally:
            await backend.close()

    results = asyncio.run(scenario())
    assert all(isinstance(result, list) and [r.role_name for r in result] == ["seen"] for result in results)


def test_a_caller_that_waits_past_pool_timeout_is_told_the_limit(pg_config: DatabaseConfig) -> None:
    config = pg_config.model_copy(update={"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.3})
    with PostgreSQLBackend(config, cache_ttl=0) as backend:
        inside = threading.Event()
        leave = threading.Event()

        def hold() -> None:
            with backend.atomic():
                backend.create_role(sample_role("held"))
                inside.set()
                leave.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        assert inside.wait(10)
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"all 1 connections .* stayed busy for 0\.3s; raise pool_size"):
            backend.list_roles()
        assert time.monotonic() - started < 5
        leave.set()
        holder.join()
        assert [r.role_name for r in backend.list_roles()] == ["held"]
