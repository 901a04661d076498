"""The decision cache: keyed on what the snapshot's rules read, held only while nothing they depend on changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from engine_world import NOW, cond, grant, perm, policy, role

from greenlang.auth.decision import Decision
from greenlang.auth.decision_cache import DEFAULT_MAX_ENTRIES, CacheStats, DecisionCache
from greenlang.auth.engine import Authorizer
from greenlang.auth.snapshot import PolicySnapshot

MINUTE = timedelta(minutes=1)
TICK = timedelta(microseconds=1)


def snapshot_reading(*conditions: dict[str, Any], scope: str | None = None) -> PolicySnapshot:
    return PolicySnapshot.from_records(
        permissions=[perm("p", "docs:*", "read", scope=scope, conditions=list(conditions))],
        roles=[role("r", "p")],
        assignments=[grant("alice", "r")],
    )


def decision(allowed: bool = True) -> Decision:
    return Decision(allowed, "because", ("p",), NOW, 0.5, "alice", "read", "docs:1", 3)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


# -- keys ------------------------------------------------------------------------------------------------------------


def test_without_read_paths_the_context_does_not_split_the_cache() -> None:
    cache = DecisionCache(snapshot_reading(), CacheStats())
    assert cache.key("alice", "read", "docs:1", {"org": "x", "n": 1}) == cache.key("alice", "read", "docs:1", {})
    keys = {
        cache.key("alice", "read", "docs:1", {}),
        cache.key("bob", "read", "docs:1", {}),
        cache.key("alice", "write", "docs:1", {}),
        cache.key("alice", "read", "docs:2", {}),
    }
    assert len(keys) == 4


def test_a_single_read_path_splits_by_its_value_and_kind_only() -> None:
    snapshot = snapshot_reading(scope="org:acme")
    assert snapshot.read_paths == {"org"}
    cache = DecisionCache(snapshot, CacheStats())

    def key(context: dict[str, Any]) -> object:
        return cache.key("alice", "read", "docs:1", context)

    assert key({"org": "acme", "unrelated": 1}) == key({"org": "acme"})
    assert key({"org": "acme"}) != key({"org": "beta"})
    kinds = [{"org": 1}, {"org": 1.0}, {"org": True}, {"org": "1"}, {"org": None}, {}, {"org": [1]}, {"org": {"a": 1}}]
    assert len({key(context) for context in kinds}) == len(kinds)


def test_several_read_paths_key_on_each_nested_value() -> None:
    snapshot = snapshot_reading(cond("report.status", "eq", "final"), scope="org:acme")
    assert snapshot.read_paths == {"org", "report.status"}
    cache = DecisionCache(snapshot, CacheStats())

    def key(context: dict[str, Any]) -> object:
        return cache.key("alice", "read", "docs:1", context)

    final = {"org": "acme", "report": {"status": "final"}}
    assert key(final) == key({**final, "report": {"status": "final", "pages": 3}, "other": True})
    assert key(final) != key({"org": "acme", "report": {"status": "draft"}})
    assert key(final) != key({"org": "beta", "report": {"status": "final"}})
    assert key(final) != key({"org": "acme"})


def test_an_unhashable_value_is_uncacheable_and_counted() -> None:
    stats = CacheStats()
    single = DecisionCache(snapshot_reading(scope="org:acme"), stats)
    several = DecisionCache(snapshot_reading(cond("level", "gt", 1), scope="org:acme"), stats)
    assert single.key("alice", "read", "docs:1", {"org": {"a", "b"}}) is None
    assert several.key("alice", "read", "docs:1", {"org": "acme", "level": {1}}) is None
    assert several.key("alice", "read", "docs:1", {"org": "acme", "other": {1}}) is not None
    assert stats.uncacheable == 2
    assert (stats.hits, stats.misses) == (0, 0)


# -- time ------------------------------------------------------------------------------------------------------------


def test_an_entry_holds_between_the_time_edges_around_when_it_was_computed() -> None:
    start, end, closes = NOW - 60 * MINUTE, NOW + 60 * MINUTE, NOW + 180 * MINUTE
    rule = {"effect": "allow", "actions": ["read"], "resources": ["x"], "subjects": ["a"]}
    snapshot = PolicySnapshot.from_records(
        assignments=[grant("alice", "r", valid_from=start, expires_at=end)],
        policies=[policy("late", "rbac", [rule], expires_at=closes)],
    )
    assert snapshot.time_edges == (start, end, closes)
    assert snapshot.recurring_windows is False
    cache = DecisionCache(snapshot, CacheStats())
    cache.put("k", NOW, decision())
    for moment, hit in [(start - TICK, False), (start, True), (end - TICK, True), (end, False), (closes, False)]:
        assert (cache.get("k", moment, 0.0) is not None) is hit, moment
    cache.put("k", end, decision(False))
    found = cache.get("k", closes - TICK, 0.0)
    assert found is not None
    assert found.allowed is False
    assert cache.get("k", closes, 0.0) is None
    cache.put("before", start - 5 * MINUTE, decision())
    assert cache.get("before", datetime(2000, 1, 1, tzinfo=NOW.tzinfo), 0.0) is not None
    assert cache.get("before", start, 0.0) is None
    cache.put("after", closes, decision())
    assert cache.get("after", closes + timedelta(days=999), 0.0) is not None


def test_a_hit_is_a_fresh_decision_at_the_time_asked() -> None:
    cache = DecisionCache(snapshot_reading(), CacheStats())
    stored = decision()
    cache.put("k", NOW, stored)
    later = NOW + timedelta(days=30)
    found = cache.get("k", later, 0.0)
    assert found is not None
    assert found is not stored
    assert found.evaluated_at == later
    assert (found.allowed, found.reason, found.deciding_rules, found.revision) == (True, "because", ("p",), 3)
    assert (found.subject, found.action, found.resource) == ("alice", "read", "docs:1")
    assert (cache.stats.hits, cache.stats.misses) == (1, 0)
    assert cache.get("other", later, 0.0) is None
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


def test_recurring_windows_bound_entries_to_the_hour_and_to_edges_inside_it() -> None:
    starts = NOW + 20 * MINUTE
    rules = [{"effect": "allow", "actions": ["read"], "resources": ["x"], "hours": [9, 17]}]
    snapshot = PolicySnapshot.from_records(policies=[policy("office", "temporal", rules, valid_from=starts)])
    assert snapshot.recurring_windows is True
    cache = DecisionCache(snapshot, CacheStats())
    cache.put("early", NOW + 10 * MINUTE, decision())
    assert cache.get("early", NOW, 0.0) is not None
    assert cache.get("early", NOW - TICK, 0.0) is None
    assert cache.get("early", starts - TICK, 0.0) is not None
    assert cache.get("early", starts, 0.0) is None
    cache.put("late", NOW + 30 * MINUTE, decision())
    assert cache.get("late", starts - TICK, 0.0) is None
    assert cache.get("late", NOW + 60 * MINUTE - TICK, 0.0) is not None
    assert cache.get("late", NOW + 60 * MINUTE, 0.0) is None


def test_the_engine_never_serves_an_entry_past_an_edge_by_clock_or_by_now() -> None:
    expires = NOW + 60 * MINUTE
    snapshot = PolicySnapshot.from_records(
        permissions=[perm("p", "docs:*", "read")],
        roles=[role("r", "p")],
        assignments=[grant("alice", "r", expires_at=expires)],
    )
    clock = Clock()
    az = Authorizer(snapshot=snapshot, clock=clock)
    assert az.check("alice", "read", "docs:1").allowed is True  # miss: held until expires
    assert az.check("alice", "read", "docs:1", now=expires).allowed is False  # miss: replaces the entry
    clock.now = expires - TICK
    assert az.check("alice", "read", "docs:1").allowed is True  # miss: the entry holds from expires on
    assert az.check("alice", "read", "docs:1").allowed is True  # hit
    clock.now = expires
    assert az.check("alice", "read", "docs:1").allowed is False  # miss
    assert az.check("alice", "read", "docs:1").allowed is False  # hit
    cache = az.get_statistics()["decision_cache"]
    assert (cache["hits"], cache["misses"], cache["entries"]) == (2, 4, 1)


def test_the_engine_recomputes_when_an_hour_window_closes() -> None:
    rules = [{"effect": "allow", "actions": ["read"], "resources": ["docs:*"], "hours": [9, 17]}]
    clock = Clock()
    clock.now = NOW.replace(hour=16, minute=30)
    az = Authorizer(snapshot=PolicySnapshot.from_records(policies=[policy("office", "temporal", rules)]), clock=clock)
    assert az.check("anyone", "read", "docs:1").allowed is True
    clock.now = NOW.replace(hour=16, minute=59)
    assert az.check("anyone", "read", "docs:1").allowed is True
    clock.now = NOW.replace(hour=17)
    assert az.check("anyone", "read", "docs:1").allowed is False
    assert az.get_statistics()["decision_cache"]["hits"] == 1


# -- size ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "dropped"), [(8, 2), (3, 1), (1, 1)])
def test_a_full_cache_drops_its_oldest_quarter(size: int, dropped: int) -> None:
    cache = DecisionCache(snapshot_reading(), CacheStats(), max_entries=size)
    assert cache.max_entries == size
    for n in range(size):
        cache.put(n, NOW, decision())
    assert (len(cache), cache.stats.evictions) == (size, 0)
    cache.put("new", NOW, decision())
    assert (len(cache), cache.stats.evictions) == (size - dropped + 1, dropped)
    assert all(cache.get(n, NOW, 0.0) is None for n in range(dropped))
    assert all(cache.get(n, NOW, 0.0) is not None for n in range(dropped, size))
    assert cache.get("new", NOW, 0.0) is not None


def test_default_size_and_stats_as_dict() -> None:
    assert DecisionCache(snapshot_reading(), CacheStats()).max_entries == DEFAULT_MAX_ENTRIES == 100_000
    assert CacheStats().as_dict(0, 10) == {
        "hits": 0,
        "misses": 0,
        "hit_rate": 0.0,
        "entries": 0,
        "max_entries": 10,
        "evictions": 0,
        "uncacheable": 0,
    }
    assert CacheStats(hits=3, misses=1, evictions=2, uncacheable=4).as_dict(5, 10)["hit_rate"] == 0.75


# -- answers equal to uncached ones ----------------------------------------------------------------------------------


def test_kinds_that_conditions_tell_apart_get_their_own_answers() -> None:
    az = Authorizer(snapshot=snapshot_reading(cond("level", "eq", 1)), clock=lambda: NOW)
    for value, allowed in [(1, True), (True, False), (1.0, True), ("1", False), (1, True), (True, False)]:
        assert az.check("alice", "read", "docs:1", {"level": value}).allowed is allowed, value
        assert az.explain("alice", "read", "docs:1", {"level": value}).decision.allowed is allowed
    assert az.get_statistics()["decision_cache"]["hits"] == 2


def test_a_tuple_value_is_not_served_the_answer_for_a_list() -> None:
    az = Authorizer(snapshot=snapshot_reading(cond("tags", "contains", "x")), clock=lambda: NOW)
    assert az.check("alice", "read", "docs:1", {"tags": ["x"]}).allowed is True
    expected = az.explain("alice", "read", "docs:1", {"tags": ("x",)}).decision.allowed
    assert expected is False
    assert az.check("alice", "read", "docs:1", {"tags": ("x",)}).allowed is expected


def test_a_value_whose_keys_cannot_be_sorted_is_still_answered() -> None:
    az = Authorizer(snapshot=snapshot_reading(cond("tags", "contains", "x")), clock=lambda: NOW)
    context = {"tags": [{1: "a", "b": 2}]}
    expected = az.explain("alice", "read", "docs:1", context).decision
    assert (
        Authorizer(snapshot=az.current(), cache_size=0, clock=lambda: NOW)
        .check("alice", "read", "docs:1", context)
        .allowed
        is False
    )
    assert az.check("alice", "read", "docs:1", context).allowed is expected.allowed
