"""Rule buckets: a scan below TRIE_THRESHOLD, a segment trie from it on, and buckets by action."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from engine_world import NOW, grant, perm, policy, role
from hypothesis import given, settings
from hypothesis import strategies as st

from greenlang.auth.engine import Authorizer
from greenlang.auth.index import ANY_ACTION, TRIE_THRESHOLD, Bucket, ResourceTrie, action_map, bucket_of
from greenlang.auth.snapshot import CompiledPattern, PolicySnapshot

# Each pattern is its own item: the item is the pattern text.
PATTERNS = [
    "docs:1",
    "docs:*",
    "docs:**",
    "docs:*:*",
    "docs:*:**",
    "docs:1:2",
    "**",
    "*",
    "*:1",
    "*:**",
    "other:*",
    "other:**",
    "docs:2:**",
    "a:b:c:d",
    "a:*:c:**",
    "x",
    "x:y",
]
assert len(PATTERNS) > TRIE_THRESHOLD


def compiled(text: str) -> tuple[CompiledPattern]:
    return (CompiledPattern.of(text, "test"),)


def bucket(texts: Iterable[str]) -> Bucket[CompiledPattern, str]:
    return bucket_of(texts, compiled)


def found(b: Bucket[CompiledPattern, str], resource: str) -> set[str]:
    return {item for _, _, _, item in b.entries(resource.split(":"))}


def test_threshold_is_where_a_bucket_switches_from_scan_to_trie() -> None:
    small = bucket(PATTERNS[: TRIE_THRESHOLD - 1])
    assert small.trie is None
    assert small.scan is not None
    assert [item for _, _, _, item in small.scan] == PATTERNS[: TRIE_THRESHOLD - 1]
    assert small.items == tuple(PATTERNS[: TRIE_THRESHOLD - 1])
    large = bucket(PATTERNS[:TRIE_THRESHOLD])
    assert large.scan is None
    assert large.trie is not None
    two_each = bucket_of(range(TRIE_THRESHOLD // 2), lambda n: (*compiled(f"a:{n}"), *compiled(f"b:{n}")))
    assert two_each.trie is not None  # the threshold counts patterns, not items
    assert {item for *_, item in two_each.entries(["b", "3"])} == {3}


def test_a_scanned_bucket_returns_every_entry_for_the_caller_to_confirm() -> None:
    small = bucket(["docs:1", "other:*"])
    assert found(small, "nothing:here") == {"docs:1", "other:*"}


def test_entries_carry_a_literal_or_a_prefix_where_the_pattern_allows_string_comparison() -> None:
    scan = bucket(["docs:1", "docs:**", "docs:*", "**", "*:**"]).scan
    assert scan is not None
    entries = {item: (literal, prefix) for literal, prefix, _, item in scan}
    assert entries == {
        "docs:1": ("docs:1", None),
        "docs:**": (None, "docs:"),
        "docs:*": (None, None),
        "**": (None, None),
        "*:**": (None, None),
    }


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("docs:1", {"docs:1", "docs:*", "docs:**", "docs:*:**", "**", "*:1", "*:**"}),
        ("docs", {"docs:**", "**", "*", "*:**"}),  # '**' matches zero segments, '*' exactly one
        ("docs:1:2", {"docs:**", "docs:*:*", "docs:*:**", "docs:1:2", "**", "*:**"}),
        ("docs:2:9:9", {"docs:**", "docs:*:**", "docs:2:**", "**", "*:**"}),
        ("a:b:c:d", {"a:b:c:d", "a:*:c:**", "**", "*:**"}),
        ("a:z:c", {"a:*:c:**", "**", "*:**"}),
        ("x", {"x", "*", "**", "*:**"}),
        ("x:1", {"*:1", "**", "*:**"}),
        ("zzz:q:r", {"**", "*:**"}),
    ],
)
def test_the_trie_finds_exactly_the_entries_whose_pattern_matches(resource: str, expected: set[str]) -> None:
    large = bucket(PATTERNS)
    assert large.trie is not None
    assert found(large, resource) == expected


SEGMENTS = st.sampled_from(["a", "b", "c"])
PATTERN_TEXT = st.builds(
    lambda parts, tail: ":".join([*parts, "**"] if tail else parts) or "**",
    st.lists(st.one_of(SEGMENTS, st.just("*")), min_size=0, max_size=4),
    st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(PATTERN_TEXT, min_size=1, max_size=40), st.lists(SEGMENTS, min_size=1, max_size=5))
def test_the_trie_agrees_with_matching_every_pattern(texts: list[str], parts: list[str]) -> None:
    entries = [(None, None, CompiledPattern.of(text, "test"), n) for n, text in enumerate(texts)]
    trie = ResourceTrie(entries)
    got = [entry[3] for entry in trie.entries(parts)]
    assert sorted(got) == [n for _, _, p, n in entries if p.matches(parts)]


def test_action_map_files_a_star_rule_under_every_action_and_alone_under_star() -> None:
    items = [({"read"}, "r1"), ({"*"}, "any"), ({"write"}, "w1"), ({"read", "*"}, "both"), ({"read"}, "r2")]
    m = action_map(items, lambda item: compiled("docs:*"))
    assert set(m) == {"read", "write", ANY_ACTION}
    assert m["read"].items == ("r1", "any", "both", "r2")
    assert m["write"].items == ("any", "w1", "both")
    assert m[ANY_ACTION].items == ("any", "both")
    lookup = m.get("delete") or m.get(ANY_ACTION)
    assert lookup is not None
    assert lookup.items == ("any", "both")


def test_action_map_without_star_rules_has_no_star_bucket() -> None:
    m = action_map([(["read"], "r1"), (["read", "write"], "rw")], lambda item: compiled("docs:*"))
    assert set(m) == {"read", "write"}
    assert m["read"].items == ("r1", "rw")
    assert m["write"].items == ("rw",)
    assert m.get("delete") is None


def test_only_a_crowded_action_gets_a_trie() -> None:
    items = [(["read"], f"docs:{n}") for n in range(TRIE_THRESHOLD)] + [(["write"], "docs:*")]
    m = action_map(items, compiled)
    assert m["read"].trie is not None
    assert m["write"].trie is None
    assert found(m["read"], "docs:7") == {"docs:7"}


def test_check_through_a_trie_bucket_agrees_with_explain() -> None:
    count = TRIE_THRESHOLD * 3
    permissions = [perm(f"p{n}", f"docs:{n}:**", "read") for n in range(count)]
    permissions += [perm("deny-7", "docs:7:secret", "read", effect="deny"), perm("all-star", "*:*", "*")]
    rules = [
        {"effect": "allow", "actions": ["read"], "resources": [f"wiki:{n}"], "roles": ["reader"]} for n in range(count)
    ]
    rules.append({"effect": "deny", "actions": ["*"], "resources": ["wiki:*"], "subjects": ["mallory"]})
    snapshot = PolicySnapshot.from_records(
        permissions=permissions,
        roles=[role("reader", *(p.permission_id for p in permissions))],
        assignments=[grant("alice", "reader"), grant("mallory", "reader")],
        policies=[policy("wiki", "rbac", rules)],
    )
    assert snapshot.index.grants["reader"]["read"].trie is not None
    assert snapshot.index.grants["reader"][ANY_ACTION].trie is None
    assert snapshot.index.rules_by_role["reader"]["read"].trie is not None
    az = Authorizer(snapshot=snapshot, clock=lambda: NOW, cache_size=0)
    cases = [
        ("alice", "read", "docs:7:secret"),
        ("alice", "read", "docs:7:open"),
        ("alice", "read", "docs:30:x"),
        ("alice", "write", "docs:30"),
        ("alice", "write", "docs:x:y"),
        ("alice", "read", "wiki:3"),
        ("mallory", "read", "wiki:3"),
        ("alice", "read", "nowhere:1:2"),
    ]
    for subject, action, resource in cases:
        fast = az.check(subject, action, resource)
        slow = az.explain(subject, action, resource).decision
        assert (fast.allowed, fast.reason, fast.deciding_rules) == (slow.allowed, slow.reason, slow.deciding_rules)
    assert az.check("alice", "read", "docs:7:secret").deciding_rules == ("deny-7",)
    assert az.check("alice", "read", "docs:30:x").deciding_rules == ("p30",)
    assert az.check("alice", "write", "docs:x").deciding_rules == ("all-star",)
    assert az.check("alice", "write", "docs:x:y").allowed is False
    assert az.check("mallory", "read", "wiki:3").deciding_rules == (f"wiki#{count}",)
