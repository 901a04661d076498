"""Tenants: one authorizer per tenant over one store, each seeing its own rows and the shared ones only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_world import NOW

from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.auth.backends.sqlite_async import AsyncSQLiteBackend
from greenlang.auth.engine import AsyncAuthorizer, Authorizer
from greenlang.auth.snapshot import PolicySnapshot
from greenlang.auth.tenants import AsyncTenants, Tenants
from greenlang.errors import InputError


def seed(store: SQLiteBackend) -> None:
    """Shared rows (tenant None), and rows of tenants acme and beta that would change answers if they leaked."""

    def rows(tenant: str | None, tag: str, resource: str, subject: str) -> None:
        store.create_permission(
            {
                "permission_id": f"{tag}-read",
                "resource": resource,
                "action": "read",
                "effect": "allow",
                "tenant_id": tenant,
            }
        )
        store.create_role(
            {
                "role_id": f"{tag}-reader",
                "role_name": f"{tag}-reader",
                "permissions": [f"{tag}-read"],
                "tenant_id": tenant,
            }
        )
        store.create_assignment(
            {"assignment_id": f"{tag}-grant", "subject": subject, "role_id": f"{tag}-reader", "tenant_id": tenant}
        )

    rows(None, "shared", "public:**", "bob")
    rows("acme", "acme", "docs:acme:**", "alice")
    rows("beta", "beta", "docs:**", "alice")
    rule = {"effect": "deny", "actions": ["*"], "resources": ["public:**"], "subjects": ["bob"]}
    store.create_policy(
        {
            "policy_id": "beta-lockout",
            "policy_name": "beta-lockout",
            "policy_type": "rbac",
            "rules": [rule],
            "tenant_id": "beta",
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteBackend]:
    with SQLiteBackend(tmp_path / "tenants.db") as backend:
        seed(backend)
        yield backend


# (tenant, subject, resource) -> allowed
EXPECTED = {
    ("acme", "alice", "docs:acme:1"): True,
    ("acme", "alice", "docs:beta:1"): False,  # beta's docs:** grant stays in beta
    ("acme", "bob", "public:x"): True,
    ("beta", "alice", "docs:beta:1"): True,
    ("beta", "alice", "docs:acme:1"): True,  # beta's own grant covers docs:**; acme's rows are not needed
    ("beta", "bob", "public:x"): False,  # beta's own deny
    ("gamma", "alice", "docs:acme:1"): False,  # a tenant with no rows sees the shared ones only
    ("gamma", "bob", "public:x"): True,
}


def test_each_tenant_sees_its_own_rows_and_the_shared_ones_only(store: SQLiteBackend) -> None:
    tenants = Tenants(store, clock=lambda: NOW)
    for (tenant, subject, resource), allowed in EXPECTED.items():
        assert tenants.check(tenant, subject, "read", resource).allowed is allowed, (tenant, subject, resource)
    seen = {t: tenants.authorizer(t).current() for t in ("acme", "beta", "gamma")}
    assert set(seen["acme"].permissions) == {"acme-read", "shared-read"}
    assert set(seen["beta"].roles) == {"beta-reader", "shared-reader"}
    assert {p.policy_id for p in seen["beta"].policies} == {"beta-lockout"}
    assert seen["acme"].policies == ()
    assert set(seen["gamma"].assignments) == {"bob"}
    assert [a.assignment_id for a in seen["acme"].assignments["alice"]] == ["acme-grant"]


def test_a_tenant_authorizer_matches_a_snapshot_of_the_tenant_state(store: SQLiteBackend) -> None:
    for tenant in ("acme", "beta"):
        direct = Authorizer(snapshot=PolicySnapshot.build(store.load_policy_state(tenant=tenant)), clock=lambda: NOW)
        scoped = Authorizer(store, tenant=tenant, clock=lambda: NOW)
        assert scoped.tenant == tenant
        for (_, subject, resource), _ in EXPECTED.items():
            got = scoped.check(subject, "read", resource)
            want = direct.explain(subject, "read", resource).decision
            assert (got.allowed, got.reason, got.deciding_rules) == (want.allowed, want.reason, want.deciding_rules)
    whole = Authorizer(store, clock=lambda: NOW)
    assert whole.tenant is None
    assert set(whole.current().permissions) == {"shared-read", "acme-read", "beta-read"}


def test_an_authorizer_is_created_once_per_tenant_and_loads_on_first_check(store: SQLiteBackend) -> None:
    tenants = Tenants(store, clock=lambda: NOW)
    assert tenants.loaded() == []
    acme = tenants.authorizer("acme")
    assert tenants.loaded() == ["acme"]
    assert acme.get_statistics()["reloads"] == 0
    tenants.check("acme", "alice", "read", "docs:acme:1")
    tenants.check("acme", "alice", "read", "docs:acme:2")
    assert tenants.authorizer("acme") is acme
    assert acme.get_statistics()["reloads"] == 1
    assert acme.tenant == "acme"


def test_the_least_recently_used_tenant_goes_beyond_max_tenants(store: SQLiteBackend) -> None:
    tenants = Tenants(store, max_tenants=2, clock=lambda: NOW)
    tenants.check("acme", "alice", "read", "docs:acme:1")
    beta = tenants.authorizer("beta")
    tenants.check("beta", "alice", "read", "docs:acme:1")
    tenants.check("acme", "alice", "read", "docs:acme:1")  # acme is now the most recent
    assert sorted(tenants.loaded()) == ["acme", "beta"]
    tenants.check("gamma", "bob", "read", "public:x")
    assert sorted(tenants.loaded()) == ["acme", "gamma"]
    assert tenants.check("beta", "bob", "read", "public:x").allowed is False  # loaded again, same answer
    assert tenants.authorizer("beta") is not beta
    assert sorted(tenants.loaded()) == ["beta", "gamma"]


def test_the_tenant_dropped_is_the_least_recently_used_not_the_first_loaded(store: SQLiteBackend) -> None:
    tenants = Tenants(store, max_tenants=2, clock=lambda: NOW)
    tenants.check("acme", "alice", "read", "docs:acme:1")
    tenants.check("beta", "alice", "read", "docs:acme:1")
    tenants.check("acme", "alice", "read", "docs:acme:1")
    tenants.check("gamma", "alice", "read", "docs:acme:1")
    assert sorted(tenants.loaded()) == ["acme", "gamma"]


def test_statistics_name_each_held_tenant(store: SQLiteBackend) -> None:
    tenants = Tenants(store, max_tenants=3, clock=lambda: NOW, cache_size=10)
    tenants.check("acme", "alice", "read", "docs:acme:1")
    tenants.check("acme", "alice", "read", "docs:acme:1")
    tenants.check("beta", "bob", "read", "public:x")
    stats = tenants.get_statistics()
    assert stats["max_tenants"] == 3
    assert set(stats["tenants"]) == {"acme", "beta"}
    acme, beta = stats["tenants"]["acme"], stats["tenants"]["beta"]
    assert (acme["tenant"], acme["revision"], acme["permissions"], acme["roles"]) == ("acme", store.revision(), 2, 2)
    assert (acme["decision_cache"]["hits"], acme["decision_cache"]["max_entries"]) == (1, 10)
    assert (beta["tenant"], beta["policy_rules"], beta["decision_cache"]["misses"]) == ("beta", 1, 1)


def test_a_write_for_one_tenant_reaches_its_authorizer(store: SQLiteBackend) -> None:
    tenants = Tenants(store, clock=lambda: NOW)
    assert tenants.check("acme", "carol", "read", "docs:acme:1").allowed is False
    store.create_assignment(
        {"assignment_id": "carol-acme", "subject": "carol", "role_id": "acme-reader", "tenant_id": "acme"}
    )
    decision = tenants.check("acme", "carol", "read", "docs:acme:1")
    assert (decision.allowed, decision.revision) == (True, store.revision())
    assert tenants.check("beta", "carol", "read", "docs:acme:1").allowed is False


@pytest.mark.parametrize("size", [0, -1, True, 2.5, "3", None])
def test_max_tenants_must_be_a_whole_number_of_at_least_one(store: SQLiteBackend, size: Any) -> None:
    with pytest.raises(InputError, match="max_tenants must be a whole number of at least 1"):
        Tenants(store, max_tenants=size)


@pytest.mark.parametrize("tenant", ["", "has space", "x" * 65, "a/b", 7])
def test_a_malformed_tenant_is_refused_and_not_held(store: SQLiteBackend, tenant: Any) -> None:
    tenants = Tenants(store)
    with pytest.raises(InputError, match="^tenant must be an id of 1 to 64 letters"):
        tenants.check(tenant, "alice", "read", "docs:acme:1")
    assert tenants.loaded() == []
    with pytest.raises(InputError, match="^tenant must be None or an id of 1 to 64 letters"):
        Authorizer(store, tenant=tenant)


def test_a_tenant_needs_a_backend(store: SQLiteBackend) -> None:
    snapshot = PolicySnapshot.from_records()
    with pytest.raises(InputError, match="tenant needs a backend"):
        Authorizer(snapshot=snapshot, tenant="acme")
    with pytest.raises(InputError, match="tenant needs a backend"):
        AsyncAuthorizer(snapshot=snapshot, tenant="acme")


def test_async_tenants_isolate_and_drop_like_the_sync_ones(tmp_path: Path) -> None:
    with SQLiteBackend(tmp_path / "async.db") as sync_store:
        seed(sync_store)

    async def scenario() -> None:
        async with AsyncSQLiteBackend(tmp_path / "async.db") as store:
            tenants = AsyncTenants(store, max_tenants=2, clock=lambda: NOW)
            for (tenant, subject, resource), allowed in EXPECTED.items():
                decision = await tenants.check(tenant, subject, "read", resource)
                assert decision.allowed is allowed, (tenant, subject, resource)
            assert sorted(tenants.loaded()) == ["beta", "gamma"]  # acme was least recently used
            gamma = tenants.authorizer("gamma")
            assert tenants.authorizer("gamma") is gamma
            assert gamma.tenant == "gamma"
            assert set((await gamma.current()).permissions) == {"shared-read"}
            stats = tenants.get_statistics()
            assert stats["max_tenants"] == 2
            assert stats["tenants"]["gamma"]["revision"] == await store.revision()
            with pytest.raises(InputError, match="max_tenants"):
                AsyncTenants(store, max_tenants=0)

    asyncio.run(scenario())
