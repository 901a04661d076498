"""Policies beside role permissions: rbac, abac and temporal rules, subjects, roles and scopes."""

from __future__ import annotations

from typing import Any

from engine_world import authorizer, cond, grant, perm, policy, role


def rule(effect: str = "allow", **extra: Any) -> dict[str, Any]:
    return {"effect": effect, "actions": ["read"], "resources": ["docs:*"], **extra}


def test_rbac_rule_applies_to_holders_of_a_named_role_including_inherited_ones() -> None:
    az = authorizer(
        roles=[role("r-analyst", name="analyst"), role("r-lead", parents=["r-analyst"], name="lead")],
        assignments=[grant("alice", "r-lead"), grant("bob", "r-other")],
        policies=[policy("pol", "rbac", [rule(rule_id="by-role", roles=["analyst"])])],
    )
    decision = az.check("alice", "read", "docs:1")
    assert decision.allowed is True
    assert decision.deciding_rules == ("pol#by-role",)
    line = az.explain("alice", "read", "docs:1").find("pol#by-role")
    assert line is not None
    assert (line.role_name, line.role_id) == ("analyst", "r-analyst")
    assert az.check("bob", "read", "docs:1").allowed is False
    why = az.explain("bob", "read", "docs:1").find("pol#by-role")
    assert why is not None
    assert why.reason == "subject bob is not among the rule's subjects and holds none of its roles (analyst)"


def test_rbac_rule_role_must_be_held_through_an_assignment_in_force() -> None:
    az = authorizer(
        roles=[role("r", name="analyst")],
        assignments=[grant("alice", "r", scope="org:acme")],
        policies=[policy("pol", "rbac", [rule(roles=["analyst"])])],
    )
    assert az.check("alice", "read", "docs:1", {"org": "acme"}).allowed is True
    assert az.check("alice", "read", "docs:1").allowed is False


def test_rbac_rule_with_subjects_and_roles_is_satisfied_by_either() -> None:
    az = authorizer(
        roles=[role("r", name="analyst")],
        assignments=[grant("carol", "r")],
        policies=[policy("pol", "rbac", [rule(subjects=["bob"], roles=["analyst"])])],
    )
    assert az.check("bob", "read", "docs:1").allowed is True
    assert az.check("carol", "read", "docs:1").allowed is True
    assert az.check("dave", "read", "docs:1").allowed is False


def test_rule_ref_falls_back_to_the_rule_index() -> None:
    az = authorizer(policies=[policy("pol", "rbac", [rule("deny", subjects=["x"]), rule(subjects=["bob"])])])
    assert az.check("bob", "read", "docs:1").deciding_rules == ("pol#1",)


def test_abac_policy_conditions_and_rule_conditions_are_all_of() -> None:
    az = authorizer(
        policies=[
            policy(
                "pol",
                "abac",
                [rule(rule_id="r", conditions=[cond("doc.status", "eq", "published")])],
                conditions=[cond("user.clearance", "gte", 2)],
            )
        ]
    )
    ok = {"doc.status": "published", "user.clearance": 3}
    assert az.check("anyone", "read", "docs:1", ok).allowed is True
    assert az.check("anyone", "read", "docs:1", {**ok, "user.clearance": 1}).allowed is False
    assert az.check("anyone", "read", "docs:1", {**ok, "doc.status": "draft"}).allowed is False
    assert az.check("anyone", "read", "docs:1", {"doc.status": "published"}).allowed is False
    why = az.explain("anyone", "read", "docs:1", {"doc.status": "published"}).find("pol#r")
    assert why is not None
    assert why.reason == "condition user.clearance gte 2 could not be evaluated"


def test_abac_deny_fails_closed_when_its_policy_condition_cannot_be_evaluated() -> None:
    az = authorizer(
        [perm("p", "docs:*", "read")],
        [role("x", "p")],
        [grant("alice", "x")],
        [policy("embargo", "abac", [rule("deny", rule_id="r")], conditions=[cond("doc.embargoed", "eq", True)])],
    )
    assert az.check("alice", "read", "docs:1", {"doc.embargoed": False}).allowed is True
    assert az.check("alice", "read", "docs:1", {"doc.embargoed": True}).allowed is False
    decision = az.check("alice", "read", "docs:1")
    assert decision.allowed is False
    assert decision.deciding_rules == ("embargo#r",)
    assert "doc.embargoed eq true could not be evaluated" in decision.reason


def test_policy_rule_scope_fails_closed() -> None:
    az = authorizer(policies=[policy("pol", "abac", [rule(scope="org:acme", conditions=[cond("ok", "eq", True)])])])
    assert az.check("alice", "read", "docs:1", {"org": "acme", "ok": True}).allowed is True
    assert az.check("alice", "read", "docs:1", {"org": "beta", "ok": True}).allowed is False
    assert az.check("alice", "read", "docs:1", {"ok": True}).allowed is False


def test_rule_actions_and_resources_lists() -> None:
    az = authorizer(
        policies=[
            policy(
                "pol",
                "rbac",
                [
                    {
                        "rule_id": "a",
                        "effect": "allow",
                        "actions": ["read", "list"],
                        "resources": ["docs:*", "files:**"],
                        "subjects": ["alice"],
                    },
                    {
                        "rule_id": "b",
                        "effect": "allow",
                        "actions": ["*"],
                        "resources": ["admin"],
                        "subjects": ["alice"],
                    },
                ],
            )
        ]
    )
    assert az.check("alice", "list", "files:x:y").allowed is True
    assert az.check("alice", "read", "docs:1").allowed is True
    assert az.check("alice", "write", "docs:1").allowed is False
    assert az.check("alice", "shutdown", "admin").deciding_rules == ("pol#b",)
    line = az.explain("alice", "write", "docs:1").find("pol#a")
    assert line is not None
    assert line.reason == "action write is not among the rule's actions"
    miss = az.explain("alice", "read", "other:1").find("pol#a")
    assert miss is not None
    assert miss.reason == "pattern docs:*, files:** does not match other:1"


def test_rbac_abac_and_temporal_policies_are_each_evaluated_in_one_check() -> None:
    az = authorizer(
        roles=[role("r", name="analyst")],
        assignments=[grant("alice", "r")],
        policies=[
            policy("p-rbac", "rbac", [rule(rule_id="r", roles=["analyst"])], priority=1),
            policy("p-abac", "abac", [rule(rule_id="a", conditions=[cond("doc.public", "eq", True)])], priority=3),
            policy("p-time", "temporal", [rule(rule_id="t", hours=[0, 24])], priority=2),
        ],
    )
    decision = az.check("alice", "read", "docs:1", {"doc.public": True})
    assert decision.deciding_rules == ("p-abac#a", "p-time#t", "p-rbac#r")
    assert decision.reason.startswith("Allowed by abac policy p-abac rule p-abac#a")


def test_policy_and_permission_denies_are_all_deciding_rules_ordered_by_priority() -> None:
    az = authorizer(
        [perm("perm-deny", "docs:*", "read", "deny")],
        [role("x", "perm-deny", priority=5)],
        [grant("alice", "x")],
        [
            policy("pol-low", "rbac", [rule("deny", rule_id="d", subjects=["alice"])], priority=1),
            policy("pol-high", "rbac", [rule("deny", rule_id="d", subjects=["alice"])], priority=9),
        ],
    )
    decision = az.check("alice", "read", "docs:1")
    assert decision.allowed is False
    assert decision.deciding_rules == ("pol-high#d", "perm-deny", "pol-low#d")
    assert decision.reason.startswith("Denied by rbac policy pol-high rule pol-high#d (deny)")
    assert decision.reason.endswith("(2 more deny rules also applied).")
