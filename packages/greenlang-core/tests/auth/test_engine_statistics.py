"""Authorizer statistics and the decision cache seen from outside: hits equal misses equal explain()."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path
from typing import Any

import pytest
from engine_world import NOW

from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.auth.backends.sqlite_async import AsyncSQLiteBackend
from greenlang.auth.decision import Decision
from greenlang.auth.engine import AsyncAuthorizer, Authorizer
from greenlang.auth.snapshot import PolicySnapshot
from greenlang.errors import InputError


def seed(store: SQLiteBackend) -> None:
    ticket = [{"attribute": "ticket", "operator": "eq", "value": "open"}]
    with store.atomic():
        store.bulk_create_permissions(
            [
                {
                    "permission_id": "read-docs",
                    "resource": "docs:**",
                    "action": "read",
                    "effect": "allow",
                    "scope": "org:*",
                },
                {"permission_id": "hide-secret", "resource": "docs:*:secret", "action": "read", "effect": "deny"},
                {
                    "permission_id": "approve",
                    "resource": "docs:**",
                    "action": "approve",
                    "effect": "allow",
                    "conditions": ticket,
                },
                {"permission_id": "write-docs", "resource": "docs:**", "action": "write", "effect": "allow"},
            ]
        )
        store.bulk_create_roles(
            [
                {"role_id": "analyst", "role_name": "analyst", "permissions": ["read-docs", "hide-secret", "approve"]},
                {
                    "role_id": "editor",
                    "role_name": "editor",
                    "permissions": ["write-docs"],
                    "parent_roles": ["analyst"],
                    "priority": 3,
                },
            ]
        )
        store.bulk_create_assignments(
            [
                {"assignment_id": "asg-alice", "subject": "alice", "role_id": "analyst"},
                {"assignment_id": "asg-bob", "subject": "bob", "role_id": "editor", "scope": "org:acme"},
            ]
        )
        final = [{"attribute": "report.status", "operator": "eq", "value": "final"}]
        rule = {"effect": "deny", "actions": ["write"], "resources": ["docs:**"], "conditions": final}
        store.create_policy({"policy_id": "freeze", "policy_name": "freeze", "policy_type": "abac", "rules": [rule]})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteBackend]:
    with SQLiteBackend(tmp_path / "stats.db") as backend:
        seed(backend)
        yield backend


REQUESTS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("alice", "read", "docs:1", {"org": "acme"}),
    ("alice", "read", "docs:1", {}),
    ("alice", "read", "docs:a:secret", {"org": "acme"}),
    ("alice", "approve", "docs:1", {"ticket": "open"}),
    ("alice", "approve", "docs:1", {"ticket": "closed"}),
    ("bob", "write", "docs:1", {"org": "acme", "report.status": "draft"}),
    ("bob", "write", "docs:1", {"org": "acme", "report": {"status": "final"}}),
    ("bob", "write", "docs:1", {"org": "acme"}),  # the freeze cannot tell, so its deny applies
    ("bob", "write", "docs:1", {"org": "beta", "report.status": "draft"}),
    ("carol", "read", "docs:1", {"org": "acme"}),
]


def same(decision: Decision) -> tuple[Any, ...]:
    """Every field but the time the evaluation took."""
    fields = astuple(decision)
    return fields[:4] + fields[5:]


def test_statistics_before_and_after_the_first_check(store: SQLiteBackend) -> None:
    az = Authorizer(store, clock=lambda: NOW)
    assert az.get_statistics() == {
        "tenant": None,
        "revision": None,
        "reloads": 0,
        "last_build_ms": 0.0,
        "permissions": 0,
        "roles": 0,
        "policy_rules": 0,
        "decision_cache": {
            "hits": 0,
            "misses": 0,
            "hit_rate": 0.0,
            "entries": 0,
            "max_entries": 100_000,
            "evictions": 0,
            "uncacheable": 0,
        },
    }
    az.check("alice", "read", "docs:1", {"org": "acme"})
    az.check("alice", "read", "docs:1", {"org": "acme"})
    az.check("alice", "read", "docs:2", {"org": "acme"})
    stats = az.get_statistics()
    assert (stats["revision"], stats["reloads"]) == (store.revision(), 1)
    assert stats["last_build_ms"] > 0
    assert (stats["permissions"], stats["roles"], stats["policy_rules"]) == (4, 2, 1)
    cache = stats["decision_cache"]
    assert (cache["hits"], cache["misses"], cache["entries"]) == (1, 2, 2)
    assert cache["hit_rate"] == pytest.approx(1 / 3)


def test_a_hit_a_miss_and_explain_give_the_same_decision(store: SQLiteBackend) -> None:
    az = Authorizer(store, clock=lambda: NOW)
    misses = [az.check(s, a, r, c) for s, a, r, c in REQUESTS]
    hits = [az.check(s, a, r, c) for s, a, r, c in REQUESTS]
    explained = [az.explain(s, a, r, c).decision for s, a, r, c in REQUESTS]
    cache = az.get_statistics()["decision_cache"]
    assert (cache["misses"], cache["hits"], cache["entries"]) == (len(REQUESTS), len(REQUESTS), len(REQUESTS))
    for miss, hit, explanation in zip(misses, hits, explained, strict=True):
        assert same(hit) == same(miss) == same(explanation)
        assert hit is not miss
        assert hit.revision == store.revision()
    assert [d.allowed for d in misses] == [True, False, False, True, False, True, False, False, False, False]
    assert hits[2].deciding_rules == ("hide-secret",)
    assert hits[5].deciding_rules == ("write-docs",)
    assert hits[6].deciding_rules == hits[7].deciding_rules == ("freeze#0",)


def test_the_cache_answers_with_the_time_asked(store: SQLiteBackend) -> None:
    az = Authorizer(store, clock=lambda: NOW)
    az.check("alice", "read", "docs:1", {"org": "acme"})
    later = NOW.replace(year=2030)
    hit = az.check("alice", "read", "docs:1", {"org": "acme"}, now=later)
    assert hit.evaluated_at == later
    assert az.get_statistics()["decision_cache"]["hits"] == 1


def test_a_write_to_the_store_invalidates_cached_answers(store: SQLiteBackend) -> None:
    az = Authorizer(store, clock=lambda: NOW)
    before = store.revision()
    assert az.check("alice", "read", "docs:1", {"org": "acme"}).allowed is True
    assert az.check("alice", "read", "docs:1", {"org": "acme"}).allowed is True
    store.delete_assignment("asg-alice")
    after = az.check("alice", "read", "docs:1", {"org": "acme"})
    assert (after.allowed, after.revision) == (False, store.revision())
    assert store.revision() > before
    assert same(after) == same(az.explain("alice", "read", "docs:1", {"org": "acme"}).decision)
    stats = az.get_statistics()
    assert (stats["reloads"], stats["revision"]) == (2, store.revision())
    cache = stats["decision_cache"]
    assert (cache["hits"], cache["misses"], cache["entries"]) == (1, 2, 1)  # counts survive, entries do not


def test_cache_size_zero_turns_the_cache_off(store: SQLiteBackend) -> None:
    az = Authorizer(store, clock=lambda: NOW, cache_size=0)
    cached = Authorizer(store, clock=lambda: NOW)
    for s, a, r, c in REQUESTS * 2:
        assert same(az.check(s, a, r, c)) == same(cached.check(s, a, r, c))
    cache = az.get_statistics()["decision_cache"]
    assert cache == {
        "hits": 0,
        "misses": 0,
        "hit_rate": 0.0,
        "entries": 0,
        "max_entries": 0,
        "evictions": 0,
        "uncacheable": 0,
    }


def test_a_small_cache_evicts_and_counts_it(store: SQLiteBackend) -> None:
    az = Authorizer(store, clock=lambda: NOW, cache_size=4)
    for n in range(6):
        az.check("alice", "read", f"docs:{n}", {"org": "acme"})
    cache = az.get_statistics()["decision_cache"]
    assert (cache["entries"], cache["max_entries"], cache["evictions"]) == (4, 4, 2)
    az.check("alice", "read", "docs:0", {"org": "acme"})  # evicted first, so a miss
    az.check("alice", "read", "docs:5", {"org": "acme"})
    cache = az.get_statistics()["decision_cache"]
    assert (cache["hits"], cache["misses"]) == (1, 7)


def test_an_uncacheable_context_is_answered_and_counted(store: SQLiteBackend) -> None:
    az = Authorizer(store, clock=lambda: NOW)
    context = {"org": frozenset({"acme"}), "ticket": {"open"}}
    for _ in range(2):
        decision = az.check("alice", "approve", "docs:1", context)
        assert same(decision) == same(az.explain("alice", "approve", "docs:1", context).decision)
    cache = az.get_statistics()["decision_cache"]
    assert (cache["uncacheable"], cache["entries"], cache["hits"], cache["misses"]) == (2, 0, 0, 0)


@pytest.mark.parametrize("size", [-1, True, 1.5, "10", None])
def test_cache_size_must_be_a_whole_number(size: Any) -> None:
    snapshot = PolicySnapshot.from_records()
    with pytest.raises(InputError, match="cache_size must be a whole number of decisions"):
        Authorizer(snapshot=snapshot, cache_size=size)
    with pytest.raises(InputError, match="cache_size must be a whole number of decisions"):
        AsyncAuthorizer(snapshot=snapshot, cache_size=size)


def test_an_authorizer_over_a_given_snapshot_reports_it_without_reloads() -> None:
    az = Authorizer(snapshot=PolicySnapshot.from_records(revision=9), cache_size=7)
    stats = az.get_statistics()
    assert (stats["revision"], stats["reloads"], stats["last_build_ms"]) == (9, 0, 0.0)
    assert stats["decision_cache"]["max_entries"] == 7


def test_async_authorizer_caches_and_reports_like_the_sync_one(tmp_path: Path) -> None:
    with SQLiteBackend(tmp_path / "async.db") as sync_store:
        seed(sync_store)

    async def scenario() -> None:
        async with AsyncSQLiteBackend(tmp_path / "async.db") as store:
            az = AsyncAuthorizer(store, clock=lambda: NOW, tenant="acme", cache_size=50)
            off = AsyncAuthorizer(store, clock=lambda: NOW, cache_size=0)
            for s, a, r, c in REQUESTS * 2:
                got = await az.check(s, a, r, c)
                assert same(got) == same(await off.check(s, a, r, c))
                assert same(got) == same((await az.explain(s, a, r, c)).decision)
            stats = az.get_statistics()
            assert (stats["tenant"], stats["reloads"], stats["revision"]) == ("acme", 1, await store.revision())
            cache = stats["decision_cache"]
            assert (cache["hits"], cache["misses"], cache["max_entries"]) == (len(REQUESTS), len(REQUESTS), 50)
            assert off.get_statistics()["decision_cache"]["entries"] == 0
            await store.delete_assignment("asg-alice")
            assert (await az.check("alice", "read", "docs:1", {"org": "acme"})).allowed is False
            assert az.get_statistics()["reloads"] == 2

    asyncio.run(scenario())
