"""Holdings: roles in force per subject, looked up by scope value when that is enough, walked otherwise."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest
from engine_world import NOW, grant, perm, role

from greenlang.auth.decision import scope_problem
from greenlang.auth.engine import Authorizer
from greenlang.auth.holdings import Holding, Holdings, scope_holds
from greenlang.auth.permissions import Scope
from greenlang.auth.snapshot import PolicySnapshot

ORDER = ["admin", "editor", "viewer", "guest", "auditor"]  # rank: earlier is higher


class CountingRank:
    """Ranks role ids by ORDER and counts its calls: precomputed holdings rank only when built."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, roles: Iterable[str]) -> list[str]:
        self.calls += 1
        return sorted(roles, key=ORDER.index)


def held(assignments: list[Holding], context: dict[str, Any], now: Any = NOW) -> tuple[list[str], int]:
    """The roles held, and how many times ranking ran during the check itself."""
    rank = CountingRank()
    holdings = Holdings(assignments, rank)
    built = rank.calls
    roles = list(holdings.held(context, now))
    return roles, rank.calls - built


ONE_ATTRIBUTE: list[Holding] = [
    (None, None, ("viewer",), None),
    (None, None, ("editor", "viewer"), Scope("org:acme")),
    (None, None, ("admin",), Scope("org:5")),
    (None, None, ("guest",), Scope("org:*")),
]


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"org": "acme"}, ["editor", "viewer", "guest"]),
        ({"org": "beta"}, ["viewer", "guest"]),
        ({"org": 5}, ["admin", "viewer", "guest"]),
        ({"org": "5"}, ["admin", "viewer", "guest"]),
        ({"org": True}, ["viewer", "guest"]),  # a bool is no scope value, but 'org:*' holds for any value
        ({"org": 1.5}, ["viewer", "guest"]),
        ({"org": ["acme"]}, ["viewer", "guest"]),
        ({"org": None}, ["viewer"]),
        ({}, ["viewer"]),
        ({"other": "acme"}, ["viewer"]),
    ],
)
def test_timeless_holdings_on_one_attribute_are_one_lookup(context: dict[str, Any], expected: list[str]) -> None:
    roles, ranked_during_check = held(ONE_ATTRIBUTE, context)
    assert roles == expected
    assert ranked_during_check == 0


def test_unscoped_timeless_holdings_ignore_the_context() -> None:
    assignments: list[Holding] = [(None, None, ("viewer", "guest"), None), (None, None, ("admin",), None)]
    for context in ({}, {"org": "acme"}):
        roles, ranked = held(assignments, context)
        assert (roles, ranked) == (["admin", "viewer", "guest"], 0)


def test_a_dotted_scope_attribute_is_looked_up_in_nested_context() -> None:
    assignments: list[Holding] = [(None, None, ("editor",), Scope("org.id:acme"))]
    assert held(assignments, {"org": {"id": "acme"}})[0] == ["editor"]
    assert held(assignments, {"org": {"id": "beta"}})[0] == []
    assert held(assignments, {"org.id": "acme"})[0] == []  # the engine nests dotted keys before this


def test_time_bound_assignments_are_walked_with_exclusive_expiry() -> None:
    start, end = NOW - timedelta(hours=1), NOW + timedelta(hours=1)
    assignments: list[Holding] = [(None, None, ("viewer",), None), (start, end, ("editor",), None)]
    assert held(assignments, {}, start - timedelta(microseconds=1)) == (["viewer"], 1)
    assert held(assignments, {}, start) == (["editor", "viewer"], 1)
    assert held(assignments, {}, end - timedelta(microseconds=1)) == (["editor", "viewer"], 1)
    assert held(assignments, {}, end) == (["viewer"], 1)
    open_ended: list[Holding] = [(start, None, ("admin",), None), (None, end, ("guest",), Scope("org:acme"))]
    assert held(open_ended, {"org": "acme"}, end) == (["admin"], 1)
    assert held(open_ended, {"org": "acme"}, start - timedelta(seconds=1)) == (["guest"], 1)


def test_scopes_on_several_attributes_are_walked() -> None:
    assignments: list[Holding] = [
        (None, None, ("editor",), Scope("org:acme")),
        (None, None, ("auditor",), Scope("region:eu")),
        (None, None, ("guest",), Scope("region:*")),
    ]
    assert held(assignments, {"org": "acme", "region": "eu"}) == (["editor", "guest", "auditor"], 1)
    assert held(assignments, {"org": "acme"}) == (["editor"], 1)
    assert held(assignments, {"region": "us"}) == (["guest"], 1)
    assert held(assignments, {"region": False}) == (["guest"], 1)
    assert held(assignments, {}) == ([], 1)


def test_an_assignment_of_a_missing_role_confers_nothing() -> None:
    assert held([(None, None, (), None)], {}) == ([], 0)
    assert held([(None, None, (), None), (NOW, None, (), None)], {}) == ([], 1)


SCOPE_VALUES: list[Any] = ["acme", "ACME", "", "5", 5, 0, True, False, None, 1.5, ["acme"], {"id": "acme"}]


def test_scope_holds_agrees_with_scope_problem() -> None:
    disagreements = []
    for text in ("org:acme", "org:5", "org:*", "org:True", "org.id:acme"):
        scope = Scope(text)
        for value in SCOPE_VALUES:
            context = {"org": value}
            if scope_holds(scope, context) is not (scope_problem(scope, context) is None):
                disagreements.append((text, value))
    assert disagreements == []


def test_scope_holds_by_hand() -> None:
    assert scope_holds(Scope("org:acme"), {"org": "acme"}) is True
    assert scope_holds(Scope("org:acme"), {"org": "beta"}) is False
    assert scope_holds(Scope("org:1"), {"org": 1}) is True
    assert scope_holds(Scope("org:1"), {"org": True}) is False
    assert scope_holds(Scope("org:*"), {"org": True}) is True
    assert scope_holds(Scope("org:*"), {"org": None}) is False
    assert scope_holds(Scope("org:*"), {}) is False


def test_the_snapshot_precomputes_only_subjects_it_can() -> None:
    later = NOW + timedelta(days=1)
    snapshot = PolicySnapshot.from_records(
        permissions=[perm("p", "docs:*", "read")],
        roles=[role("viewer", "p"), role("editor", parents=["viewer"], priority=5)],
        assignments=[
            grant("plain", "editor", scope="org:acme"),
            grant("timed", "editor", expires_at=later),
            grant("mixed", "editor", aid="m1", scope="org:acme"),
            grant("mixed", "viewer", aid="m2", scope="region:eu"),
        ],
    )
    az = Authorizer(snapshot=snapshot, clock=lambda: NOW)
    plain = snapshot.index.holdings["plain"]
    assert list(plain.held({"org": "acme"}, NOW)) == ["editor", "viewer"]  # ranked by role priority
    assert list(plain.held({"org": "beta"}, NOW)) == []
    assert list(snapshot.index.holdings["timed"].held({}, later)) == []
    assert list(snapshot.index.holdings["mixed"].held({"region": "eu"}, NOW)) == ["viewer"]
    for subject, context, now in [
        ("plain", {"org": "acme"}, NOW),
        ("plain", {"org": 7}, NOW),
        ("timed", {}, NOW),
        ("timed", {}, later),
        ("mixed", {"region": "eu"}, NOW),
        ("mixed", {"org": "acme", "region": "us"}, NOW),
        ("nobody", {}, NOW),
    ]:
        fast = az.check(subject, "read", "docs:1", context, now=now)
        slow = az.explain(subject, "read", "docs:1", context, now=now).decision
        assert (fast.allowed, fast.reason) == (slow.allowed, slow.reason)
        expected = [r.role_id for r in az.roles_of(subject, context=context, now=now)]
        holdings = snapshot.index.holdings.get(subject)
        assert ([] if holdings is None else list(holdings.held(context, now))) == expected
