"""Roles, inheritance and assignments as the engine sees them, including stored cycles (case A3)."""

from __future__ import annotations

import pytest
from engine_world import authorizer, grant, perm, role

from greenlang.auth.engine import Authorizer
from greenlang.auth.roles import Role

# -- A3 --------------------------------------------------------------------------------------------------------------


def cyclic(*, start: str = "A") -> Authorizer:
    # Role's own validator refuses only self-parenting; a two-role loop is what stored data can hold.
    return authorizer(
        [
            perm("read-a", "docs:*", "read"),
            perm("write-b", "docs:*", "write"),
            perm("deny-c", "docs:secret", "read", "deny"),
        ],
        [
            role("A", "read-a", parents=["B"]),
            role("B", "write-b", parents=["A"]),
            role("C", "deny-c", parents=["A", "C2"]),
            role("C2", parents=["C"]),
        ],
        [grant("alice", start)],
    )


@pytest.mark.parametrize("start", ["A", "B"])
def test_case_A3_check_terminates_on_a_stored_cycle(start: str) -> None:
    az = cyclic(start=start)
    assert az.check("alice", "read", "docs:1").allowed is True
    assert az.check("alice", "write", "docs:1").allowed is True
    assert az.check("alice", "delete", "docs:1").allowed is False


@pytest.mark.parametrize("start", ["A", "B"])
def test_case_A3_roles_of_and_effective_permissions_terminate_and_agree_with_check(start: str) -> None:
    az = cyclic(start=start)
    roles = az.roles_of("alice")
    assert sorted(r.role_id for r in roles) == ["A", "B"]
    permissions = az.effective_permissions("alice")
    assert sorted(p.permission_id for p in permissions) == ["read-a", "write-b"]
    for permission in permissions:
        assert az.check("alice", permission.action, "docs:1").allowed is True
        assert permission.permission_id in az.check("alice", permission.action, "docs:1").deciding_rules
    explanation = az.explain("alice", "read", "docs:1")
    considered = {line.rule_id for line in explanation.trace if line.kind == "permission"}
    assert considered == {p.permission_id for p in permissions}
    assert {line.role_id for line in explanation.trace if line.kind == "permission"} == {r.role_id for r in roles}


def test_case_A3_a_cycle_through_a_deny_still_denies() -> None:
    az = cyclic(start="C")
    assert sorted(r.role_id for r in az.roles_of("alice")) == ["A", "B", "C", "C2"]
    assert az.check("alice", "read", "docs:secret").allowed is False
    assert az.check("alice", "read", "docs:open").allowed is True


def test_case_A3_a_role_cannot_name_itself_as_parent() -> None:
    with pytest.raises(ValueError, match="cannot inherit from itself"):
        Role(role_id="A", role_name="A", parent_roles=["A"])


# -- inheritance -----------------------------------------------------------------------------------------------------


def test_child_role_inherits_parent_permissions_transitively() -> None:
    az = authorizer(
        [perm("read", "docs:*", "read"), perm("write", "docs:*", "write")],
        [role("viewer", "read"), role("editor", "write", parents=["viewer"]), role("lead", parents=["editor"])],
        [grant("alice", "lead")],
    )
    assert az.check("alice", "read", "docs:1").allowed is True
    assert az.check("alice", "write", "docs:1").allowed is True
    line = az.explain("alice", "read", "docs:1").find("read")
    assert line is not None
    assert (line.role_id, line.assignment_id) == ("viewer", "asg-alice-lead")


def test_parent_deny_overrides_child_allow() -> None:
    az = authorizer(
        [perm("deny", "docs:secret", "read", "deny"), perm("allow", "docs:*", "read")],
        [role("base", "deny"), role("child", "allow", parents=["base"])],
        [grant("alice", "child")],
    )
    assert az.check("alice", "read", "docs:secret").allowed is False
    assert az.check("alice", "read", "docs:open").allowed is True


def test_diamond_inheritance_counts_each_permission_once() -> None:
    az = authorizer(
        [perm("shared", "docs:*", "read")],
        [
            role("root", "shared"),
            role("left", parents=["root"]),
            role("right", parents=["root"]),
            role("top", parents=["left", "right"]),
        ],
        [grant("alice", "top"), grant("alice", "left")],
    )
    assert az.check("alice", "read", "docs:1").deciding_rules == ("shared",)
    assert [p.permission_id for p in az.effective_permissions("alice")] == ["shared"]
    assert sorted(r.role_id for r in az.roles_of("alice")) == ["left", "right", "root", "top"]


def test_missing_ids_are_ignored() -> None:
    az = authorizer(
        [perm("read", "docs:*", "read")],
        [role("r", "read", "gone-permission", parents=["gone-role"])],
        [grant("alice", "r"), grant("alice", "no-such-role", "g-missing")],
    )
    assert az.check("alice", "read", "docs:1").allowed is True
    assert [r.role_id for r in az.roles_of("alice")] == ["r"]
    assert [p.permission_id for p in az.effective_permissions("alice")] == ["read"]
    line = az.explain("alice", "read", "docs:1").find("g-missing")
    assert line is not None
    assert line.applied is False
    assert line.reason == "role no-such-role does not exist"


def test_roles_are_listed_by_priority_then_id() -> None:
    az = authorizer(
        roles=[role("b", priority=1), role("a", priority=1), role("z", priority=9), role("m", priority=-3)],
        assignments=[grant("alice", rid) for rid in ("b", "a", "z", "m")],
    )
    assert [r.role_id for r in az.roles_of("alice")] == ["z", "a", "b", "m"]


def test_permission_is_attributed_to_its_highest_priority_role() -> None:
    az = authorizer(
        [perm("p", "docs:*", "read")],
        [role("low", "p", priority=1), role("high", "p", priority=7)],
        [grant("alice", "low"), grant("alice", "high")],
    )
    line = az.explain("alice", "read", "docs:1").find("p")
    assert line is not None
    assert (line.role_id, line.priority) == ("high", 7)


def test_other_subjects_data_is_not_considered() -> None:
    roles = [role("mine", "p")] + [role(f"r{i}", f"q{i}") for i in range(200)]
    permissions = [perm("p", "docs:*", "read")] + [perm(f"q{i}", "docs:*", "read", "deny") for i in range(200)]
    grants = [grant("alice", "mine")] + [grant(f"user{i}", f"r{i}") for i in range(200)]
    az = authorizer(permissions, roles, grants)
    assert az.check("alice", "read", "docs:1").allowed is True
    explanation = az.explain("alice", "read", "docs:1")
    assert [line.rule_id for line in explanation.trace] == ["asg-alice-mine", "p"]
    assert az.check("user5", "read", "docs:1").allowed is False
