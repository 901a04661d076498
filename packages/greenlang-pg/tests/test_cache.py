"""The read cache: served from memory, bounded by its TTL, and emptied by changes made anywhere.

"Served from memory" is shown by changing the database behind the cache's
back (plain SQL, no NOTIFY): the old value keeps coming until the TTL or a
notification ends it. Cross-process invalidation is timed against a writer in
another process, for psycopg and for asyncpg.
"""

from __future__ import annotations

import asyncio
import contextvars
import multiprocessing
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql
from stores import Store, database, open_store

from greenlang.auth.permissions import Permission
from greenlang.errors import StoreError
from greenlang.testing.samples import sample_permission, sample_policy, sample_role
from greenlang_pg import AsyncPostgreSQLBackend, PostgreSQLBackend
from greenlang_pg.cache import CHANNEL, MISSING, ReadCache
from greenlang_pg.config import DatabaseConfig
from greenlang_pg.testing import TestServer

SPAWN = multiprocessing.get_context("spawn")
TRIALS = 6
LATENCY_LIMIT = 0.100
POLL = 0.002


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` until true; how long it took."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.005)
    return time.monotonic() - began


def listener_pids(pg_server: TestServer, name: str) -> list[int]:
    rows = pg_server.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND query LIKE 'LISTEN%%'", params=[name]
    )
    return [int(row[0]) for row in rows]


def hits(store: Store) -> int:
    return int(store.get_statistics()["cache_hits"])


def cached(store: Store, record: Any, get: Callable[[str], Any] | None = None) -> None:
    """Read ``record`` until it is served from memory.

    The first read after a write may not be kept: the write's own notification
    can land while that read is in flight, and the cache then refuses it.
    """
    key = record.permission_id if get is None else _key(record)
    get = store.get_permission if get is None else get
    assert get(key) == record
    for _ in range(100):
        before = hits(store)
        assert get(key) == record
        if hits(store) == before + 1:
            return
        time.sleep(0.01)
    pytest.fail(f"{key} was never served from the cache")


def _key(record: Any) -> str:
    for field in ("permission_id", "role_id", "policy_id"):
        if hasattr(record, field):
            return str(getattr(record, field))
    raise TypeError(type(record).__name__)


def raw(pg_server: TestServer, config: DatabaseConfig, statement: str, *params: Any) -> None:
    """Change the database as an operator would: plain SQL, no notification."""
    pg_server.execute(statement, database(config), params=list(params), superuser=False)


# served from memory -----------------------------------------------------------------------------
def test_lookups_are_served_from_memory_until_something_says_otherwise(
    pg_server: TestServer, pg_config: DatabaseConfig, store: Store
) -> None:
    permission = store.create_permission(sample_permission())
    role = store.create_role(sample_role("auditor", permissions=[permission.permission_id]))
    policy = store.create_policy(sample_policy("viewers-read"))
    cached(store, permission)
    cached(store, role, store.get_role)
    cached(store, policy, store.get_policy)
    raw(pg_server, pg_config, "DELETE FROM role_assignments")
    raw(pg_server, pg_config, "DELETE FROM roles")
    raw(pg_server, pg_config, "DELETE FROM policies")
    raw(pg_server, pg_config, "DELETE FROM permissions")
    stats = store.get_statistics()
    assert (stats["permissions_count"], stats["roles_count"], stats["policies_count"]) == (0, 0, 0)
    # the rows are gone, so these answers can only have come from memory
    assert store.get_permission(permission.permission_id) == permission
    assert store.get_role(role.role_id) == role
    assert store.get_policy(policy.policy_id) == policy
    assert store.get_statistics()["cache_hits"] == stats["cache_hits"] + 3


def test_entries_expire_after_the_ttl(pg_server: TestServer, pg_config: DatabaseConfig, flavour: str) -> None:
    ttl = 1.0
    store = open_store(pg_config, flavour, cache_ttl=ttl)
    try:
        permission = store.create_permission(sample_permission())
        cached(store, permission)
        stored_at = time.monotonic()
        raw(pg_server, pg_config, "DELETE FROM permissions WHERE permission_id = %s", permission.permission_id)
        assert store.get_permission(permission.permission_id) == permission
        if time.monotonic() - stored_at < ttl * 0.75:  # only meaningful while surely inside the TTL
            assert store.get_permission(permission.permission_id) == permission
        time.sleep(max(0.0, stored_at + ttl + 0.05 - time.monotonic()))
        assert store.get_permission(permission.permission_id) is None
    finally:
        store.close()


def test_a_zero_ttl_turns_the_cache_off(pg_server: TestServer, pg_config: DatabaseConfig, flavour: str) -> None:
    store = open_store(pg_config, flavour, cache_ttl=0)
    try:
        permission = store.create_permission(sample_permission())
        assert store.get_permission(permission.permission_id) == permission
        raw(pg_server, pg_config, "DELETE FROM permissions WHERE permission_id = %s", permission.permission_id)
        assert store.get_permission(permission.permission_id) is None
        stats = store.get_statistics()
        assert (stats["cache_hits"], stats["cache_entries"], stats["cache_live"]) == (0, 0, False)
        assert listener_pids(pg_server, database(pg_config)) == [], "no cache, so nothing should LISTEN"
    finally:
        store.close()


# notifications ------------------------------------------------------------------------------------
def test_a_raw_notify_star_empties_the_cache(pg_server: TestServer, pg_config: DatabaseConfig, store: Store) -> None:
    permissions = [store.create_permission(sample_permission(action=action)) for action in ("read", "write", "admin")]
    for permission in permissions:
        cached(store, permission)
    assert store.get_statistics()["cache_entries"] >= 3
    raw(pg_server, pg_config, "DELETE FROM permissions")
    assert [store.get_permission(p.permission_id) for p in permissions] == permissions  # stale, from memory

    first, second, third = permissions
    pg_server.execute(
        "SELECT pg_notify(%s, %s)", database(pg_config), params=[CHANNEL, f"permissions\t{first.permission_id}"]
    )
    wait_for(lambda: store.get_permission(first.permission_id) is None, 2.0, "the named entry being dropped")
    assert store.get_permission(second.permission_id) == second, "a notification naming one key dropped another"

    pg_server.execute(f"NOTIFY {CHANNEL}, '*'", database(pg_config))
    wait_for(lambda: store.get_statistics()["cache_entries"] == 0, 2.0, "the cache emptying")
    assert store.get_permission(second.permission_id) is None
    assert store.get_permission(third.permission_id) is None


@contextmanager
def cut_off(pg_server: TestServer, name: str) -> Iterator[psycopg.Connection[Any]]:
    """Refuse new sessions to ``name`` and end the backend's (listener and pool); yields an operator's session."""
    with pg_server.connect(name, superuser=False) as operator:
        pg_server.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
        try:
            ended = pg_server.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = 'greenlang'",
                params=[name],
            )
            assert len(ended) >= 2, "expected the listener and at least one pooled session"
            assert all(done for (done,) in ended), ended
            yield operator
        finally:
            pg_server.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(name)))


def test_a_lost_listener_stops_the_cache_until_it_reconnects_sync(
    pg_server: TestServer, pg_config: DatabaseConfig
) -> None:
    name = database(pg_config)
    with PostgreSQLBackend(pg_config) as store:
        permission = store.create_permission(sample_permission(action="read"))
        key = permission.permission_id
        cached(store, permission)
        [old_pid] = listener_pids(pg_server, name)
        with cut_off(pg_server, name) as operator:
            operator.execute("UPDATE permissions SET action = 'write' WHERE permission_id = %s", [key])
            time.sleep(0.3)  # the listener thread notices at once; leave it time to fail to reconnect too
            for _ in range(3):  # without a listener nothing is answered from memory, so the outage shows
                with pytest.raises(StoreError, match="127.0.0.1") as caught:
                    store.get_permission(key)
                assert "retry" in str(caught.value) or "running" in str(caught.value)
        fresh = store.get_permission(key)
        assert fresh is not None
        assert fresh.action == "write", "a stale entry was served after the outage"
        waited = wait_for(lambda: store.get_statistics()["cache_live"], 15.0, "the listener reconnecting")
        assert listener_pids(pg_server, name) not in ([], [old_pid])
        cached(store, fresh)
    print(f"\nsync listener back {waited:.2f} s after the database accepted sessions again")


def test_a_lost_listener_stops_the_cache_until_it_reconnects_async(
    pg_server: TestServer, pg_config: DatabaseConfig
) -> None:
    name = database(pg_config)

    async def scenario() -> float:
        async with AsyncPostgreSQLBackend(pg_config) as store:
            permission = await store.create_permission(sample_permission(action="read"))
            key = permission.permission_id
            for _ in range(100):
                before = (await store.get_statistics())["cache_hits"]
                assert await store.get_permission(key) == permission
                if (await store.get_statistics())["cache_hits"] == before + 1:
                    break
                await asyncio.sleep(0.01)
            [old_pid] = listener_pids(pg_server, name)
            with cut_off(pg_server, name) as operator:
                operator.execute("UPDATE permissions SET action = 'write' WHERE permission_id = %s", [key])
                await asyncio.sleep(0.3)  # the loop runs: the listener notices and fails to reconnect
                for _ in range(3):
                    with pytest.raises(StoreError, match="127.0.0.1"):
                        await store.get_permission(key)
            fresh = await store.get_permission(key)
            assert fresh is not None
            assert fresh.action == "write", "a stale entry was served after the outage"
            began = time.monotonic()
            while not (await store.get_statistics())["cache_live"]:
                assert time.monotonic() - began < 15, "the listener did not reconnect"
                await asyncio.sleep(0.01)
            assert listener_pids(pg_server, name) not in ([], [old_pid])
            before = (await store.get_statistics())["cache_hits"]
            assert await store.get_permission(key) == fresh
            assert await store.get_permission(key) == fresh
            assert (await store.get_statistics())["cache_hits"] >= before + 1
            return time.monotonic() - began

    print(f"\nasync listener back {asyncio.run(scenario()):.2f} s after the database accepted sessions again")


def test_a_killed_listener_reconnects_with_an_empty_cache(
    pg_server: TestServer, pg_config: DatabaseConfig, store: Store
) -> None:
    name = database(pg_config)
    permission = store.create_permission(sample_permission())
    cached(store, permission)
    [old_pid] = listener_pids(pg_server, name)
    pg_server.execute("SELECT pg_terminate_backend(%s, 5000)", params=[old_pid])
    raw(pg_server, pg_config, "DELETE FROM permissions")  # no notification, and no listener to receive one
    # get_statistics() between looks also gives a SyncFacade's event loop time to notice and reconnect
    wait_for(
        lambda: bool(store.get_statistics()) and listener_pids(pg_server, name) not in ([], [old_pid]),
        10.0,
        "a new LISTEN session",
    )
    wait_for(lambda: store.get_statistics()["cache_live"], 10.0, "the cache going live again")
    assert store.get_permission(permission.permission_id) is None, "an entry from before the outage was served"


# writes in a transaction -------------------------------------------------------------------------
def _read_in_thread(store: PostgreSQLBackend, key: str) -> Permission | None:
    found: list[Permission | None] = []
    thread = threading.Thread(target=lambda: found.append(store.get_permission(key)))
    thread.start()
    thread.join(10)
    assert len(found) == 1
    return found[0]


def test_uncommitted_writes_never_reach_the_cache_sync(pg_config: DatabaseConfig) -> None:
    with PostgreSQLBackend(pg_config) as store, PostgreSQLBackend(pg_config) as other:
        permission = store.create_permission(sample_permission(action="read"))
        key = permission.permission_id
        cached(store, permission)
        cached(other, permission)

        def change_then_undo() -> None:
            with store.atomic():
                changed = store.update_permission(permission.replace(action="write"))
                before = hits(store)
                assert store.get_permission(key) == changed  # the transaction reads its own write...
                assert hits(store) == before, "a read inside the transaction came from the cache"
                assert _read_in_thread(store, key) == permission  # ...nobody else does
                assert other.get_permission(key) == permission
                raise RuntimeError("undo")

        with pytest.raises(RuntimeError, match="undo"):
            change_then_undo()
        assert store.get_permission(key) == permission
        assert _read_in_thread(store, key) == permission
        assert other.get_permission(key) == permission

        with store.atomic():
            changed = store.update_permission(permission.replace(action="write"))
            assert _read_in_thread(store, key) == permission
            assert other.get_permission(key) == permission
        assert store.get_permission(key) == changed, "the writer's own cache kept the old value after commit"
        assert _read_in_thread(store, key) == changed
        wait_for(lambda: other.get_permission(key) == changed, 1.0, "the other backend seeing the commit")


def test_uncommitted_writes_never_reach_the_cache_async(pg_config: DatabaseConfig) -> None:
    async def scenario() -> None:
        async with AsyncPostgreSQLBackend(pg_config) as store, AsyncPostgreSQLBackend(pg_config) as other:
            permission = await store.create_permission(sample_permission(action="read"))
            key = permission.permission_id
            for backend in (store, other):
                for _ in range(100):
                    before = (await backend.get_statistics())["cache_hits"]
                    assert await backend.get_permission(key) == permission
                    if (await backend.get_statistics())["cache_hits"] == before + 1:
                        break
                    await asyncio.sleep(0.01)

            async def outside() -> Permission | None:
                """A read by a task that is not part of the transaction (a fresh context)."""
                task = asyncio.get_running_loop().create_task(store.get_permission(key), context=contextvars.Context())
                return await task

            async def change_then_undo() -> None:
                async with store.atomic():
                    changed = await store.update_permission(permission.replace(action="write"))
                    before = (await store.get_statistics())["cache_hits"]
                    assert await store.get_permission(key) == changed
                    assert (await store.get_statistics())["cache_hits"] == before
                    assert await outside() == permission
                    assert await other.get_permission(key) == permission
                    raise RuntimeError("undo")

            with pytest.raises(RuntimeError, match="undo"):
                await change_then_undo()
            assert await store.get_permission(key) == permission
            assert await outside() == permission

            async with store.atomic():
                changed = await store.update_permission(permission.replace(action="write"))
                assert await outside() == permission
                assert await other.get_permission(key) == permission
            assert await store.get_permission(key) == changed
            assert await outside() == changed
            for _ in range(500):
                if await other.get_permission(key) == changed:
                    break
                await asyncio.sleep(POLL)
            assert await other.get_permission(key) == changed

    asyncio.run(scenario())


# invalidation from another process ------------------------------------------------------------------
def _remote_writer(config: DatabaseConfig, flavour: str, channel: Any) -> None:
    """Apply the writes the test sends; answer each with the monotonic time its commit returned."""
    try:
        store = open_store(config, flavour)
        try:
            channel.send(("ready", None))
            while True:
                command, argument = channel.recv()
                if command == "stop":
                    break
                if command == "update":
                    store.update_permission(argument)
                else:
                    assert store.delete_permission(argument)
                channel.send(("committed", time.monotonic()))
        finally:
            store.close()
    except BaseException:
        channel.send(("error", traceback.format_exc()))


class RemoteWriter:
    """A writer in another process with its own backend of the given flavour."""

    def __init__(self, config: DatabaseConfig, flavour: str) -> None:
        self.channel, child = SPAWN.Pipe()
        self.process = SPAWN.Process(target=_remote_writer, args=(config, flavour, child), daemon=True)
        self.process.start()
        assert self.reply(60) is None

    def reply(self, timeout: float = 30) -> Any:
        if not self.channel.poll(timeout):
            pytest.fail(f"the writer process did not answer within {timeout} s")
        status, value = self.channel.recv()
        if status == "error":
            pytest.fail(f"the writer process failed:\n{value}")
        return value

    def send(self, trial: int, permission: Permission) -> tuple[Callable[[Permission | None], bool], str]:
        """Start trial ``trial``'s write; the test for "A sees it" and what was done."""
        if trial % 2:
            self.channel.send(("delete", permission.permission_id))
            return (lambda seen: seen is None), "delete"
        self.channel.send(("update", permission.replace(action=f"trial-{trial}")))
        return (lambda seen: seen is not None and seen.action == f"trial-{trial}"), "update"

    def stop(self) -> None:
        if self.process.is_alive():
            self.channel.send(("stop", None))
            self.process.join(30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        assert self.process.exitcode == 0


def _report(flavour: str, latencies: list[float]) -> None:
    milliseconds = ", ".join(f"{latency * 1000:.1f}" for latency in latencies)
    print(f"\n{flavour}: change seen {milliseconds} ms after the other process committed")
    assert max(latencies) < LATENCY_LIMIT, f"invalidation took {max(latencies) * 1000:.1f} ms"
    assert statistics.median(latencies) < LATENCY_LIMIT / 2


def test_a_change_in_another_process_reaches_the_cache_within_100_ms_sync(pg_config: DatabaseConfig) -> None:
    writer = RemoteWriter(pg_config, "sync")
    try:
        with PostgreSQLBackend(pg_config) as store:
            latencies = []
            for trial in range(TRIALS):
                permission = store.create_permission(sample_permission())
                cached(store, permission)
                changed, _ = writer.send(trial, permission)
                committed_at = writer.reply()
                while not changed(seen := store.get_permission(permission.permission_id)):
                    assert seen == permission
                    if time.monotonic() - committed_at > 2:
                        pytest.fail(f"trial {trial}: the change never reached the cache")
                    time.sleep(POLL)
                latencies.append(time.monotonic() - committed_at)
            _report("sync", latencies)
    finally:
        writer.stop()


def test_a_change_in_another_process_reaches_the_cache_within_100_ms_async(pg_config: DatabaseConfig) -> None:
    writer = RemoteWriter(pg_config, "async")

    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        latencies = []
        async with AsyncPostgreSQLBackend(pg_config) as store:
            for trial in range(TRIALS):
                permission = await store.create_permission(sample_permission())
                key = permission.permission_id
                for _ in range(100):  # until served from memory (see ``cached``)
                    before = (await store.get_statistics())["cache_hits"]
                    assert await store.get_permission(key) == permission
                    if (await store.get_statistics())["cache_hits"] == before + 1:
                        break
                    await asyncio.sleep(0.01)
                else:
                    pytest.fail("the permission was never served from the cache")
                changed, _ = writer.send(trial, permission)
                committed_at = await loop.run_in_executor(None, writer.reply)
                while not changed(seen := await store.get_permission(key)):
                    assert seen == permission
                    if time.monotonic() - committed_at > 2:
                        pytest.fail(f"trial {trial}: the change never reached the cache")
                    await asyncio.sleep(POLL)
                latencies.append(time.monotonic() - committed_at)
        return latencies

    try:
        _report("async", asyncio.run(scenario()))
    finally:
        writer.stop()


# the generation counter ------------------------------------------------------------------------------
def test_a_read_that_raced_an_invalidation_is_not_stored() -> None:
    cache = ReadCache(60)
    cache.set_live(True)
    key = ("permissions", "perm_1")
    generation = cache.generation()  # a reader starts: notes the generation, reads the old value
    cache.invalidate([key])  # the write commits and its notification lands
    cache.put(*key, "old", generation)  # the reader stores what it read
    assert cache.get(*key) is MISSING
    cache.put(*key, "new", cache.generation())
    assert cache.get(*key) == "new"

    generation = cache.generation()
    cache.invalidate(None)
    cache.put(*key, "old", generation)
    assert cache.get(*key) is MISSING

    generation = cache.generation()
    cache.invalidate([("roles", "role_1")])  # a change to another key does not spoil this read
    cache.put(*key, "current", generation)
    assert cache.get(*key) == "current"
    cache.invalidate([key])

    generation = cache.generation()
    cache.set_live(False)  # the listener dropped: nothing is stored or served
    cache.set_live(True)
    cache.put(*key, "old", generation)
    assert cache.get(*key) is MISSING
    cache.set_live(False)
    cache.put(*key, "new", cache.generation())
    assert cache.get(*key) is MISSING


def test_no_stale_entry_survives_racing_readers_and_writers() -> None:
    """Readers fill the cache from a "database" while a writer changes it and invalidates, as the backend does.

    Once an invalidation for version v has returned, no reader may ever be served a version below v.
    """
    cache = ReadCache(60)
    cache.set_live(True)
    key = ("permissions", "perm_1")
    database = {"version": 0}
    invalidated = {"version": 0}
    stop = threading.Event()
    problems: list[str] = []

    def read() -> None:
        while not stop.is_set():
            floor = invalidated["version"]
            value = cache.get(*key)
            if value is MISSING:
                generation = cache.generation()
                value = database["version"]
                time.sleep(0)  # the query's round trip, when other threads run
                cache.put(*key, value, generation)
            if value < floor:
                problems.append(f"served version {value} after version {floor} was invalidated")

    def write() -> None:
        for version in range(1, 3000):
            database["version"] = version  # commit...
            cache.invalidate([key])  # ...then the notification
            invalidated["version"] = version
        stop.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=read) for _ in range(4)] + [threading.Thread(target=write)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        sys.setswitchinterval(interval)
        stop.set()
    assert problems == []
    assert cache.get(*key) in (MISSING, 2999)
