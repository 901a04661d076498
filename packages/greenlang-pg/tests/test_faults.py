"""Failures a real server produces: a killed connection, a duplicate name, a server that is down or goes away.

Each must surface as the SDK's own error with a message that says what
happened and what to do, must leave nothing half-stored, and must never
carry the password.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import queue
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from stores import Store, database, open_store

from greenlang.auth.permissions import Permission
from greenlang.auth.policies import Policy
from greenlang.auth.roles import Role
from greenlang.errors import DuplicateError, GreenlangError, InputError, NotFoundError, StoreError
from greenlang.testing import SyncFacade
from greenlang.testing.samples import sample_permission, sample_policy, sample_role
from greenlang_pg import AsyncPostgreSQLBackend, PostgreSQLBackend
from greenlang_pg.config import DatabaseConfig
from greenlang_pg.migrate import upgrade
from greenlang_pg.rows import ROLES
from greenlang_pg.testing import TestServer, start_server

SPAWN = multiprocessing.get_context("spawn")
SECRET = "Zq9-greenlang-very-secret-pw"
"""A password distinctive enough that finding it anywhere means it leaked."""


def password_of(config: DatabaseConfig) -> str:
    assert config.password is not None
    return config.password.get_secret_value()


def texts(exc: BaseException) -> Iterator[str]:
    """Everything an exception chain can show: each message and repr, through causes and contexts."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield from (str(arg) for arg in current.args)
        pending += [current.__cause__, current.__context__]


def assert_secret_kept(secret: str, *things: object) -> None:
    for thing in things:
        shown = list(texts(thing)) if isinstance(thing, BaseException) else [str(thing), repr(thing)]
        for text in shown:
            assert secret not in text, f"the password leaked into {text!r}"


def counts(pg_server: TestServer, config: DatabaseConfig) -> dict[str, int]:
    """Row counts and the revision read with plain SQL, not through the backend under test."""
    [row] = pg_server.execute(
        "SELECT (SELECT count(*) FROM permissions), (SELECT count(*) FROM roles), (SELECT count(*) FROM policies), "
        "(SELECT count(*) FROM audit_logs), (SELECT value FROM greenlang_meta WHERE key = 'revision'), "
        "(SELECT sequence FROM audit_chain_head WHERE id = 1)",
        database(config),
    )
    return dict(zip(("permissions", "roles", "policies", "events", "revision", "head"), map(int, row), strict=True))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# a connection killed inside a transaction -------------------------------------------------------
def kill_open_transaction(pg_server: TestServer, name: str) -> int:
    """End the backend's session that sits inside a transaction, as an operator or a failover would."""
    rows = pg_server.execute(
        "SELECT pid FROM pg_stat_activity "
        "WHERE datname = %s AND application_name = 'greenlang' AND state = 'idle in transaction'",
        params=[name],
    )
    assert len(rows) == 1, f"expected one session inside a transaction, found {rows}"
    [(pid,)] = rows
    assert pg_server.execute("SELECT pg_terminate_backend(%s, 5000)", params=[pid]) == [(True,)]
    return int(pid)


NEXT_STEPS = ["write", "read", "commit"]
"""What the backend does first after its connection died: another write, a read, or leaving the block."""


def doomed(store: PostgreSQLBackend, pg_server: TestServer, name: str, step: str, tag: str) -> None:
    """Write a permission and a role in one block, lose the connection, then take ``step``."""
    with store.atomic():
        permission = store.create_permission(sample_permission(action="write"))
        store.create_role(sample_role(f"doomed-{tag}", permissions=[permission.permission_id]))
        kill_open_transaction(pg_server, name)
        if step == "write":
            store.create_policy(sample_policy(f"never-{tag}"))
        elif step == "read":
            store.get_permission(permission.permission_id)


async def doomed_async(store: AsyncPostgreSQLBackend, pg_server: TestServer, name: str, step: str, tag: str) -> None:
    async with store.atomic():
        permission = await store.create_permission(sample_permission(action="write"))
        await store.create_role(sample_role(f"doomed-{tag}", permissions=[permission.permission_id]))
        kill_open_transaction(pg_server, name)
        if step == "write":
            await store.create_policy(sample_policy(f"never-{tag}"))
        elif step == "read":
            await store.get_permission(permission.permission_id)


@pytest.mark.filterwarnings("error::sqlalchemy.exc.SAWarning")
def test_a_connection_killed_mid_transaction_stores_nothing_sync(
    pg_server: TestServer, pg_config: DatabaseConfig
) -> None:
    name = database(pg_config)
    with PostgreSQLBackend(pg_config) as store:
        store.create_permission(sample_permission())
        for step in NEXT_STEPS:
            before = counts(pg_server, pg_config)
            errors = store.get_statistics()["backend_errors"]
            with pytest.raises(StoreError) as caught:
                doomed(store, pg_server, name, step, step)
            check_rolled_back(caught.value, pg_server, pg_config, before)
            assert store.get_statistics()["backend_errors"] == errors + (step != "commit")
            assert store.verify_audit().ok
            assert store.revision() == before["revision"]
            # the dead connection was thrown away: writes (which never retry) keep working
            for n in range(3):
                store.create_policy(sample_policy(f"after-{step}-{n}"))
            assert counts(pg_server, pg_config)["revision"] == before["revision"] + 3
        report = store.verify_audit()
        assert (report.ok, report.events_checked) == (True, 1 + 3 * len(NEXT_STEPS))


@pytest.mark.filterwarnings("error::sqlalchemy.exc.SAWarning")
def test_a_connection_killed_mid_transaction_stores_nothing_async(
    pg_server: TestServer, pg_config: DatabaseConfig
) -> None:
    name = database(pg_config)

    async def scenario() -> None:
        async with AsyncPostgreSQLBackend(pg_config) as store:
            await store.create_permission(sample_permission())
            for step in NEXT_STEPS:
                before = counts(pg_server, pg_config)
                errors = (await store.get_statistics())["backend_errors"]
                with pytest.raises(StoreError) as caught:
                    await doomed_async(store, pg_server, name, step, step)
                check_rolled_back(caught.value, pg_server, pg_config, before)
                assert (await store.get_statistics())["backend_errors"] == errors + (step != "commit")
                assert (await store.verify_audit()).ok
                assert await store.revision() == before["revision"]
                for n in range(3):
                    await store.create_policy(sample_policy(f"after-{step}-{n}"))
                assert counts(pg_server, pg_config)["revision"] == before["revision"] + 3
            report = await store.verify_audit()
            assert (report.ok, report.events_checked) == (True, 1 + 3 * len(NEXT_STEPS))

    asyncio.run(scenario())


def check_rolled_back(error: StoreError, pg_server: TestServer, config: DatabaseConfig, before: dict[str, int]) -> None:
    message = str(error)
    assert "rolled back" in message
    assert f"{config.host}:{config.port}" in message
    assert_secret_kept(password_of(config), error)
    assert counts(pg_server, config) == before, "part of the killed transaction was stored"


# duplicates -------------------------------------------------------------------------------------------
def test_duplicate_names_and_ids_are_refused_with_a_clear_message(
    pg_server: TestServer, pg_config: DatabaseConfig, store: Store
) -> None:
    permission = store.create_permission(sample_permission())
    store.create_role(sample_role("auditor"))
    store.create_policy(sample_policy("viewers-read"))
    before = counts(pg_server, pg_config)
    with pytest.raises(DuplicateError, match="auditor") as role_error:
        store.create_role(sample_role("auditor", description="a second one"))
    assert "role_name" in str(role_error.value)
    with pytest.raises(DuplicateError, match="viewers-read") as policy_error:
        store.create_policy(sample_policy("viewers-read", priority=5))
    assert "policy_name" in str(policy_error.value)
    with pytest.raises(DuplicateError, match=permission.permission_id) as id_error:
        store.create_permission(permission)
    other = store.create_role(sample_role("other"))
    with pytest.raises(DuplicateError, match="auditor"):
        store.update_role(other.replace(role_name="auditor"))
    assert counts(pg_server, pg_config) == {
        **before,
        "roles": before["roles"] + 1,
        "events": before["events"] + 1,
        "revision": before["revision"] + 1,
        "head": before["head"] + 1,
    }
    for error in (role_error.value, policy_error.value, id_error.value):
        assert_secret_kept(password_of(pg_config), error)


def race(create: Callable[[Any], object], make: Callable[[str], Any], name: str, contenders: int) -> list[str]:
    """``create(make(name))`` from ``contenders`` threads released at once (each its own record); what each got."""
    start = threading.Barrier(contenders)
    outcomes: list[str] = []

    def contend() -> None:
        record = make(name)
        start.wait(10)
        try:
            create(record)
            outcomes.append("created")
        except DuplicateError as exc:
            outcomes.append("duplicate" if name in str(exc) else f"unclear: {exc}")
        except BaseException as exc:
            outcomes.append(f"{type(exc).__module__}.{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return sorted(outcomes)


def test_racing_threads_creating_one_name_get_one_winner_and_duplicate_errors(
    pg_server: TestServer, pg_config: DatabaseConfig
) -> None:
    contenders = 6
    winner_and_losers = ["created"] + ["duplicate"] * (contenders - 1)
    with PostgreSQLBackend(pg_config) as store:
        for n in range(2):
            assert race(store.create_role, sample_role, f"contested-role-{n}", contenders) == winner_and_losers
            assert race(store.create_policy, sample_policy, f"contested-policy-{n}", contenders) == winner_and_losers
        after = counts(pg_server, pg_config)
        assert (after["roles"], after["policies"], after["revision"]) == (2, 2, 4)
        assert store.verify_audit().ok


def _contender(config: DatabaseConfig, flavour: str, names: list[str], start: Any, results: Any) -> None:
    """Create each name in turn, meeting the other process at the barrier before each, so every name is raced."""
    outcomes: dict[str, str] = {}
    try:
        store = open_store(config, flavour)
        try:
            store.revision()  # connect (and, for asyncpg, start) before racing
            for name in names:
                record: Role | Policy = sample_role(name) if name.startswith("role") else sample_policy(name)
                start.wait(60)
                try:
                    if isinstance(record, Role):
                        store.create_role(record)
                    else:
                        store.create_policy(record)
                    outcomes[name] = "created"
                except DuplicateError as exc:
                    outcomes[name] = "duplicate" if name in str(exc) else f"unclear: {exc}"
                except Exception as exc:
                    outcomes[name] = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
        finally:
            store.close()
        results.put((flavour, outcomes))
    except BaseException:
        results.put((flavour, traceback.format_exc()))


def test_racing_processes_creating_the_same_names_get_one_winner_each(
    pg_server: TestServer, pg_config: DatabaseConfig
) -> None:
    names = [f"{kind}-{n}" for n in range(8) for kind in ("role", "policy")]
    flavours = ["sync", "async"]
    start = SPAWN.Barrier(len(flavours))
    results = SPAWN.Queue()
    processes = [
        SPAWN.Process(target=_contender, args=(pg_config, flavour, names, start, results), daemon=True)
        for flavour in flavours
    ]
    for process in processes:
        process.start()
    reports: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 120
        while len(reports) < len(processes):
            try:
                flavour, outcome = results.get(timeout=1)
            except queue.Empty:
                if time.monotonic() > deadline or not any(process.is_alive() for process in processes):
                    codes = [process.exitcode for process in processes]
                    pytest.fail(f"contenders stopped without reporting (exit codes {codes}); got {reports}")
                continue
            reports[flavour] = outcome
        for process in processes:
            process.join(30)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
    for flavour, outcome in reports.items():
        assert isinstance(outcome, dict), f"{flavour} contender failed:\n{outcome}"
    for name in names:
        assert sorted(outcome[name] for outcome in reports.values()) == ["created", "duplicate"], name
    after = counts(pg_server, pg_config)
    assert (after["roles"], after["policies"], after["revision"]) == (8, 8, 16)
    wins = {flavour: list(outcome.values()).count("created") for flavour, outcome in reports.items()}
    print(f"\nnames won: {wins}")


def test_racing_tasks_creating_one_name_get_one_winner_async(pg_server: TestServer, pg_config: DatabaseConfig) -> None:
    contenders = 6

    async def scenario() -> list[str]:
        async with AsyncPostgreSQLBackend(pg_config) as store:

            async def contend(record: Any) -> str:
                try:
                    await store.create_role(record)
                    return "created"
                except DuplicateError as exc:
                    return "duplicate" if "contested" in str(exc) else f"unclear: {exc}"
                except Exception as exc:
                    return f"{type(exc).__module__}.{type(exc).__name__}: {exc}"

            records = [sample_role("contested") for _ in range(contenders)]
            return sorted(await asyncio.gather(*(contend(record) for record in records)))

    assert asyncio.run(scenario()) == ["created"] + ["duplicate"] * (contenders - 1)
    assert counts(pg_server, pg_config)["roles"] == 1


def test_a_unique_violation_from_the_database_is_a_duplicate_error(
    pg_server: TestServer, pg_config: DatabaseConfig, flavour: str
) -> None:
    """A row inserted outside greenlang (no writer lock) collides at INSERT: SQLSTATE 23505, not a name check."""
    name = database(pg_config)
    role = sample_role("contested")
    intruder = sample_role("contested")
    marks = ", ".join("%s::jsonb" if column in ROLES.json_columns else "%s" for column in ROLES.columns)
    store = open_store(pg_config, flavour)
    try:
        store.create_permission(sample_permission())
        before = counts(pg_server, pg_config)
        outcome: list[BaseException | None] = []
        with pg_server.connect(name, superuser=False, autocommit=False) as operator:
            operator.execute(
                f"INSERT INTO roles ({', '.join(ROLES.columns)}) VALUES ({marks})",  # noqa: S608
                ROLES.encode(intruder),
            )

            def create() -> None:
                try:
                    store.create_role(role)
                    outcome.append(None)
                except BaseException as exc:
                    outcome.append(exc)

            thread = threading.Thread(target=create)
            thread.start()
            waiting = 0.0
            while not pg_server.execute(
                "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND application_name = 'greenlang' "
                "AND wait_event_type = 'Lock'",
                params=[name],
            ):
                assert thread.is_alive(), f"create_role did not wait for the uncommitted row: {outcome}"
                assert waiting < 10, "create_role never blocked on the uncommitted row"
                time.sleep(0.01)
                waiting += 0.01
            operator.commit()
            thread.join(30)
        [error] = outcome
        assert isinstance(error, DuplicateError), f"{type(error).__name__}: {error}"
        assert "role_name" in str(error)
        assert "contested" in str(error)
        assert_secret_kept(password_of(pg_config), error)
        after = counts(pg_server, pg_config)
        assert after == {**before, "roles": before["roles"] + 1}, "the refused write left something behind"
        assert store.verify_audit().ok
    finally:
        store.close()


# servers that are down --------------------------------------------------------------------------------
def down_config(**options: Any) -> DatabaseConfig:
    return DatabaseConfig(
        host="127.0.0.1",
        port=free_port(),
        database="greenlang",
        username="greenlang",
        password=SECRET,
        connect_timeout=2,
        **options,
    )


def test_a_server_that_is_down_is_named_without_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = down_config()
    where = f"127.0.0.1:{config.port}"
    began = time.monotonic()
    with pytest.raises(StoreError, match=where) as sync_error:
        PostgreSQLBackend(config)
    assert time.monotonic() - began < 10

    async def first_use() -> StoreError:
        backend = AsyncPostgreSQLBackend(config)
        try:
            with pytest.raises(StoreError, match=where) as caught:
                await backend.get_permission("perm_1")
            return caught.value
        finally:
            await backend.close()

    async_error = asyncio.run(first_use())
    for error in (sync_error.value, async_error):
        assert "running" in str(error)  # says what to check
        assert_secret_kept(SECRET, error)
    assert SECRET not in caplog.text


def test_reprs_and_config_renderings_never_show_the_password(pg_server: TestServer, pg_config: DatabaseConfig) -> None:
    configs = [
        down_config(),
        DatabaseConfig(url=f"postgresql://greenlang:{SECRET}@127.0.0.1:5999/greenlang"),
        DatabaseConfig.from_env({"GL_DB_HOST": "127.0.0.1", "GL_DB_PASSWORD": SECRET, "GL_DB_USER": "greenlang"}),
    ]
    for config in configs:
        assert config.url is not None or password_of(config) == SECRET
        for text in (repr(config), str(config), config.describe(), f"{config}", f"{config!r}"):
            assert SECRET not in text
        assert "***" in config.describe()
    real = pg_config.model_copy()
    secret = password_of(real)
    with PostgreSQLBackend(real) as backend:
        assert_secret_kept(secret, backend, backend.config)
        assert f"{real.host}:{real.port}" in repr(backend)
    facade = SyncFacade(AsyncPostgreSQLBackend(real))
    try:
        facade.revision()
        assert_secret_kept(secret, facade, facade.inner)
    finally:
        facade.close()


def open_and_use(config: DatabaseConfig, flavour: str) -> None:
    store = open_store(config, flavour)
    try:
        store.revision()
    finally:
        store.close()


def test_a_wrong_password_is_refused_without_echoing_it(
    pg_server: TestServer, pg_config: DatabaseConfig, flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = pg_server.config(database(pg_config), password=SECRET)
    with pytest.raises(StoreError, match=f"{config.host}:{config.port}") as caught:
        open_and_use(config, flavour)
    assert "password" in str(caught.value)  # the server's reason is kept: authentication failed
    assert_secret_kept(SECRET, caught.value)
    assert_secret_kept(password_of(pg_config), caught.value)
    assert SECRET not in caplog.text


def test_a_server_that_goes_away_fails_cleanly(flavour: str) -> None:
    """Stop the server under a working backend: every call fails with StoreError naming it; close() does not hang."""
    with start_server() as server:
        name = server.create_database()
        config = server.config(name)
        upgrade(config)
        secret = password_of(config)
        store = open_store(config, flavour)
        try:
            permission = store.create_permission(sample_permission())
            assert store.get_permission(permission.permission_id) == permission
            server.stop()
            calls: list[Callable[[], object]] = [
                lambda: store.create_permission(sample_permission()),
                lambda: store.list_permissions(),
                lambda: store.verify_audit(),
                lambda: store.get_statistics(),
            ]
            for call in calls:
                with pytest.raises(StoreError, match=f"{config.host}:{config.port}") as caught:
                    call()
                assert_secret_kept(secret, caught.value)
        finally:
            began = time.monotonic()
            store.close()
            assert time.monotonic() - began < 8, "close() hung on a server that is gone"


# statistics ---------------------------------------------------------------------------------------------
def test_statistics_count_operations_and_errors(store: Store) -> None:
    """Every public call except get_statistics counts once; those that raise count as errors too."""
    stats = store.get_statistics()
    assert (stats["backend_operations"], stats["backend_errors"]) == (0, 0)
    permission: Permission = store.create_permission(sample_permission())
    store.get_permission("perm_missing")
    store.get_permission(permission.permission_id)
    with pytest.raises(NotFoundError):
        store.update_permission(sample_permission())
    with pytest.raises(DuplicateError):
        store.create_permission(permission)
    store.append_audit_event({"event_type": "stats.check", "result": "success"})
    stats = store.get_statistics()
    assert (stats["backend_operations"], stats["backend_errors"]) == (6, 2)
    assert (stats["revision"], stats["audit_logs_count"], stats["permissions_count"]) == (1, 2, 1)


def test_statistics_count_calls_refused_for_bad_arguments(store: Store) -> None:
    """As the SQLite store counts them (tests/store/test_sqlite.py): a refused argument is a failed operation."""
    with pytest.raises(InputError):
        store.list_roles(limit=-1)
    with pytest.raises(InputError):
        store.create_permission({"resource": "emissions:**", "action": "read", "effect": "maybe"})
    stats = store.get_statistics()
    assert (stats["backend_operations"], stats["backend_errors"]) == (2, 2)


def test_every_error_is_one_of_the_sdks(store: Store) -> None:
    """Whatever goes wrong below, callers only ever catch GreenlangError subclasses."""
    failures: list[Callable[[], object]] = [
        lambda: store.create_role(sample_role("r", permissions=["perm_missing"])),
        lambda: store.create_role(sample_role("r", parent_roles=["role_missing"])),
        lambda: store.delete_permissions(),
        lambda: store.read_audit_events(after_sequence=-1),
        lambda: store.append_audit_event({"event_type": "bad type!", "result": "success"}),
    ]
    for call in failures:
        with pytest.raises(GreenlangError):
            call()
