"""Faults a review of the scale work found, each with the class of input it stands for."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.auth.engine import MAX_DEPTH, Authorizer
from greenlang.auth.permissions import Permission
from greenlang.auth.policies import Policy, PolicyRule
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.auth.tenants import AsyncTenants, Tenants
from greenlang.errors import InputError

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> SQLiteBackend:
    return SQLiteBackend(tmp_path / "review.db")


def _admin(store: SQLiteBackend, tenant: str | None = None, resource: str = "**") -> Role:
    permission = store.create_permission(Permission(resource=resource, action="*", effect="allow", tenant_id=tenant))
    return store.create_role(Role(role_name="admin", permissions=[permission.permission_id], tenant_id=tenant))


# -- a snapshot read inside a transaction that rolled back ------------------------------------------------------------


def test_a_grant_seen_inside_a_rolled_back_transaction_is_gone_after_it(store: SQLiteBackend) -> None:
    admin = _admin(store)
    authorizer = Authorizer(store, clock=lambda: NOW)
    assert not authorizer.check("mallory", "delete", "prod:db").allowed
    seen_inside: list[bool] = []

    def grant_then_fail() -> None:
        with store.atomic():
            store.create_assignment(RoleAssignment(subject="mallory", role_id=admin.role_id))
            seen_inside.append(authorizer.check("mallory", "delete", "prod:db").allowed)
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError, match="roll back"):
        grant_then_fail()
    assert seen_inside == [True]  # its own uncommitted write
    # An unrelated write commits the revision number the rolled-back one had used.
    store.create_permission(Permission(resource="zzz", action="read", effect="allow"))
    decision = authorizer.check("mallory", "delete", "prod:db")
    assert not decision.allowed
    assert decision.revision == store.revision()
    assert store.list_assignments() == []


def test_a_state_read_inside_a_transaction_is_marked_uncommitted(store: SQLiteBackend) -> None:
    _admin(store)
    assert store.load_policy_state().committed is True
    with store.atomic():
        assert store.load_policy_state().committed is False


# -- a policy naming another tenant's role ---------------------------------------------------------------------------


def test_a_tenants_policy_never_applies_through_another_tenants_role(store: SQLiteBackend) -> None:
    admin = _admin(store, "org-1", "org1:**")
    store.create_assignment(RoleAssignment(subject="alice", role_id=admin.role_id, tenant_id="org-1"))
    rule = PolicyRule(effect="allow", actions=["write"], resources=["org2:**"], roles=["admin"])
    store.create_policy(Policy(policy_name="org2-writers", policy_type="rbac", rules=[rule], tenant_id="org-2"))
    whole = Authorizer(store, clock=lambda: NOW)
    decision = whole.check("alice", "write", "org2:secret")
    assert not decision.allowed
    assert decision.allowed == whole.explain("alice", "write", "org2:secret").decision.allowed
    # The same rule naming a role of its own tenant, or a shared one, does apply.
    shared_permission = store.create_permission(Permission(resource="none", action="read", effect="allow"))
    shared = store.create_role(Role(role_name="writer", permissions=[shared_permission.permission_id]))
    store.create_assignment(RoleAssignment(subject="bob", role_id=shared.role_id, tenant_id="org-2"))
    own = PolicyRule(effect="allow", actions=["write"], resources=["org2:**"], roles=["writer"])
    store.create_policy(Policy(policy_name="org2-shared-writers", policy_type="rbac", rules=[own], tenant_id="org-2"))
    assert whole.check("bob", "write", "org2:secret").allowed
    assert Authorizer(store, tenant="org-2", clock=lambda: NOW).check("bob", "write", "org2:secret").allowed


def test_a_rule_left_with_no_role_of_its_tenant_applies_to_no_one_not_everyone(store: SQLiteBackend) -> None:
    _admin(store, "org-1", "org1:**")
    rule = PolicyRule(effect="allow", actions=["read"], resources=["**"], roles=["admin"])
    store.create_policy(Policy(policy_name="p", policy_type="rbac", rules=[rule], tenant_id="org-2"))
    authorizer = Authorizer(store, clock=lambda: NOW)
    assert not authorizer.check("anyone", "read", "x").allowed
    assert not authorizer.explain("anyone", "read", "x").decision.allowed


# -- input the engine must refuse in a sentence ----------------------------------------------------------------------


@pytest.mark.parametrize("now", ["2026-01-01", 0, object()])
def test_now_that_is_not_a_datetime_is_an_input_error(store: SQLiteBackend, now: Any) -> None:
    authorizer = Authorizer(store)
    for call in (authorizer.check, authorizer.explain):
        with pytest.raises(InputError, match=r"^now gave \w+, not a datetime; pass one such as"):
            call("alice", "read", "x", now=now)


def test_a_clock_that_is_not_a_function_is_refused_when_given(store: SQLiteBackend) -> None:
    with pytest.raises(InputError, match="^clock must be a function"):
        Authorizer(store, clock=None)  # type: ignore[arg-type]
    authorizer = Authorizer(store, clock=lambda: "noon")  # type: ignore[arg-type, return-value]
    with pytest.raises(InputError, match="^the clock gave str, not a datetime"):
        authorizer.check("alice", "read", "x")


@pytest.mark.parametrize("nested", ["dicts", "lists"])
def test_a_context_nested_beyond_the_limit_is_an_input_error_not_a_recursion_error(
    store: SQLiteBackend, nested: str
) -> None:
    value: Any = "leaf"
    for _ in range(5000):
        value = {"a": value} if nested == "dicts" else [value]
    with pytest.raises(InputError, match=f"nests deeper than {MAX_DEPTH} levels"):
        Authorizer(store).check("alice", "read", "x", {"deep": value})
    shallow: Any = "leaf"
    for _ in range(MAX_DEPTH - 1):
        shallow = {"a": shallow} if nested == "dicts" else [shallow]
    assert not Authorizer(store).check("alice", "read", "x", {"deep": shallow}).allowed


@pytest.mark.parametrize("bad", [{float("nan")}, frozenset({2**60})])
def test_numbers_inside_sets_are_checked_like_numbers_inside_lists(store: SQLiteBackend, bad: Any) -> None:
    with pytest.raises(InputError, match="context value 'tags'"):
        Authorizer(store).check("alice", "read", "x", {"tags": bad})


# -- the decision cache holds small entries only ---------------------------------------------------------------------


def test_large_context_values_are_answered_but_not_cached(store: SQLiteBackend) -> None:
    permission = store.create_permission(
        Permission(
            resource="**",
            action="read",
            effect="allow",
            conditions=[{"attribute": "note", "operator": "ne", "value": "x"}],
        )
    )
    role = store.create_role(Role(role_name="reader", permissions=[permission.permission_id]))
    store.create_assignment(RoleAssignment(subject="alice", role_id=role.role_id))
    authorizer = Authorizer(store, clock=lambda: NOW)
    uncached = Authorizer(store, clock=lambda: NOW, cache_size=0)
    for index in range(20):
        assert authorizer.check("alice", "read", "x", {"note": f"{index}" + "y" * 100_000}).allowed
        many = {"note": [[f"{index}-{row}-{column}" for column in range(16)] for row in range(64)]}
        assert (
            authorizer.check("alice", "read", "x", many).allowed == uncached.check("alice", "read", "x", many).allowed
        )
    stats = authorizer.get_statistics()["decision_cache"]
    assert (stats["entries"], stats["uncacheable"]) == (0, 40)
    assert authorizer.check("alice", "read", "x", {"note": "short"}).allowed
    assert authorizer.get_statistics()["decision_cache"]["entries"] == 1


# -- tenants ---------------------------------------------------------------------------------------------------------


def test_tenants_refuse_no_tenant_rather_than_loading_every_tenant(store: SQLiteBackend) -> None:
    tenants = Tenants(store)
    with pytest.raises(InputError, match="^tenant must be an id"):
        tenants.check(None, "alice", "read", "x")  # type: ignore[arg-type]
    assert tenants.loaded() == []

    async def scenario() -> None:
        with pytest.raises(InputError, match="^tenant must be an id"):
            await AsyncTenants(store).check(None, "alice", "read", "x")  # type: ignore[arg-type]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("options", "field"),
    [({"cache_size": -1}, "cache_size"), ({"max_staleness": float("nan")}, "max_staleness"), ({"clock": "x"}, "clock")],
)
def test_tenants_refuse_bad_options_when_made_not_at_the_first_check(
    store: SQLiteBackend, options: dict[str, Any], field: str
) -> None:
    for kind in (Tenants, AsyncTenants):
        with pytest.raises(InputError, match=f"^{field} must be"):
            kind(store, **options)


def test_a_snapshot_read_inside_a_transaction_is_never_shared_with_other_callers(store: SQLiteBackend) -> None:
    admin = _admin(store)
    authorizer = Authorizer(store, clock=lambda: NOW, max_staleness=3600)  # answers without asking the store
    assert not authorizer.check("mallory", "delete", "prod:db").allowed
    elsewhere: list[bool] = []
    with store.atomic():
        store.create_assignment(RoleAssignment(subject="mallory", role_id=admin.role_id))
        inside = authorizer.reload()  # this caller's own view of its uncommitted write
        assert "mallory" in inside.assignments
        other = threading.Thread(
            target=lambda: elsewhere.append(authorizer.check("mallory", "delete", "prod:db").allowed)
        )
        other.start()
        other.join(timeout=10)
    assert elsewhere == [False]


def test_times_out_of_range_in_utc_are_input_errors(store: SQLiteBackend) -> None:
    authorizer = Authorizer(store)
    edge = datetime.max.replace(tzinfo=timezone(timedelta(hours=-5)))
    for call in (authorizer.check, authorizer.explain):
        with pytest.raises(InputError, match="out of range in UTC"):
            call("alice", "read", "x", now=edge)


def test_the_last_hour_there_is_still_answered_from_the_cache_alike(store: SQLiteBackend) -> None:
    admin = _admin(store)
    store.create_assignment(RoleAssignment(subject="alice", role_id=admin.role_id))
    rule = PolicyRule(effect="deny", actions=["read"], resources=["**"], hours=(9, 17))
    store.create_policy(Policy(policy_name="office-hours-freeze", policy_type="temporal", rules=[rule]))
    last = datetime.max.replace(tzinfo=UTC)
    cached, uncached = Authorizer(store), Authorizer(store, cache_size=0)
    for _ in range(2):
        assert (
            cached.check("alice", "read", "x", now=last).allowed
            == uncached.check("alice", "read", "x", now=last).allowed
        )


@pytest.mark.parametrize("tenant", [[], {}, ["org-1"]])
def test_tenants_refuse_unhashable_tenants_in_a_sentence(store: SQLiteBackend, tenant: Any) -> None:
    with pytest.raises(InputError, match="^tenant must be an id"):
        Tenants(store).check(tenant, "alice", "read", "x")


@pytest.mark.parametrize("backend", [5, "sqlite", object()])
def test_something_that_is_not_a_store_is_refused_when_given(backend: Any) -> None:
    for make in (lambda: Authorizer(backend), lambda: Tenants(backend), lambda: AsyncTenants(backend)):
        with pytest.raises(InputError, match="^backend must be a store such as"):
            make()


def test_a_task_started_inside_a_block_does_not_join_a_later_transaction(tmp_path: Path) -> None:
    from greenlang.auth.backends.sqlite_async import AsyncSQLiteBackend

    def permission(permission_id: str) -> Permission:
        return Permission(permission_id=permission_id, resource="x", action="read", effect="allow")

    async def scenario() -> list[str]:
        store = AsyncSQLiteBackend(tmp_path / "tasks.db")
        go = asyncio.Event()

        async def later_write() -> None:
            await go.wait()
            await store.create_permission(permission("from-x"))

        async def undone() -> None:
            async with store.atomic():
                await store.create_permission(permission("from-t2"))
                go.set()
                await asyncio.sleep(0.05)  # the background write, were it let in, would land in this transaction
                raise RuntimeError("undo")

        async with store.atomic():
            background = asyncio.create_task(later_write())  # inherits the block's context
        with pytest.raises(RuntimeError, match="undo"):
            await undone()
        await asyncio.wait_for(background, timeout=10)
        kept = [p.permission_id for p in await store.list_permissions()]
        await store.close()
        return kept

    assert asyncio.run(scenario()) == ["from-x"]
