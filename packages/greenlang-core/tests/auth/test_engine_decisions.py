"""Combining, conditions, scopes, context handling, input checks and explanations."""

from __future__ import annotations

import json
from typing import Any

import pytest
from engine_world import NOW, authorizer, cond, grant, perm, policy, role

from greenlang.auth.decision import RuleKind
from greenlang.auth.engine import Authorizer, expand_context
from greenlang.errors import InputError

# -- A8 --------------------------------------------------------------------------------------------------------------


def a8_authorizer() -> Authorizer:
    return authorizer(
        [
            perm("export-all", "reports:**", "export"),
            perm(
                "no-confidential", "reports:**", "export", "deny", conditions=[cond("report.confidential", "eq", True)]
            ),
        ],
        [role("analyst", "export-all", "no-confidential")],
        [grant("alice", "analyst")],
    )


def test_case_A8_non_confidential_report_is_exported() -> None:
    decision = a8_authorizer().check("alice", "export", "reports:q1", {"report.confidential": False})
    assert decision.allowed is True
    assert decision.deciding_rules == ("export-all",)


def test_case_A8_confidential_report_is_denied() -> None:
    decision = a8_authorizer().check("alice", "export", "reports:q1", {"report": {"confidential": True}})
    assert decision.allowed is False
    assert decision.deciding_rules == ("no-confidential",)


def test_case_A8_missing_attribute_fails_closed() -> None:
    az = a8_authorizer()
    decision = az.check("alice", "export", "reports:q1")
    assert decision.allowed is False
    assert decision.deciding_rules == ("no-confidential",)
    assert "report.confidential eq true could not be evaluated" in decision.reason
    wrong_type = az.check("alice", "export", "reports:q1", {"report.confidential": "yes"})
    assert wrong_type.allowed is False


def test_case_A8_both_sibling_rules_stay_in_effective_permissions() -> None:
    ids = {p.permission_id for p in a8_authorizer().effective_permissions("alice")}
    assert ids == {"export-all", "no-confidential"}


def test_case_A8_inherited_conditional_deny_is_not_dropped_by_a_child_allow_on_the_same_resource_action() -> None:
    az = authorizer(
        [
            perm("child-allow", "reports:**", "export"),
            perm("parent-deny", "reports:**", "export", "deny", conditions=[cond("report.confidential", "eq", True)]),
        ],
        [role("base", "parent-deny"), role("analyst", "child-allow", parents=["base"])],
        [grant("alice", "analyst")],
    )
    assert az.check("alice", "export", "reports:q1", {"report.confidential": True}).allowed is False
    assert az.check("alice", "export", "reports:q1", {"report.confidential": False}).allowed is True


# -- combining -------------------------------------------------------------------------------------------------------


def test_no_applicable_allow_means_deny_with_a_reason() -> None:
    az = authorizer([perm("p", "reports:*", "read")], [role("r", "p")], [grant("alice", "r")])
    decision = az.check("alice", "write", "reports:q1")
    assert decision.allowed is False
    assert decision.deciding_rules == ()
    assert decision.reason == "No rule allows alice to write reports:q1."
    assert az.check("nobody", "read", "reports:q1").reason == "No rule allows nobody to read reports:q1."


def test_deny_overrides_allow_whatever_the_priorities() -> None:
    az = authorizer(
        [perm("allow", "reports:*", "read"), perm("deny", "reports:*", "read", "deny")],
        [role("high", "allow", priority=1000), role("low", "deny", priority=-5)],
        [grant("alice", "high"), grant("alice", "low")],
        [
            policy(
                "pol-allow",
                "rbac",
                [{"effect": "allow", "actions": ["*"], "resources": ["**"], "subjects": ["alice"]}],
                priority=10**6,
            )
        ],
    )
    decision = az.check("alice", "read", "reports:q1")
    assert decision.allowed is False
    assert decision.deciding_rules == ("deny",)


def test_policy_deny_overrides_role_allow() -> None:
    az = authorizer(
        [perm("allow", "reports:*", "read")],
        [role("r", "allow", priority=50)],
        [grant("alice", "r")],
        [
            policy(
                "freeze",
                "rbac",
                [
                    {
                        "rule_id": "all",
                        "effect": "deny",
                        "actions": ["read"],
                        "resources": ["reports:**"],
                        "subjects": ["alice"],
                    }
                ],
                priority=-100,
            )
        ],
    )
    decision = az.check("alice", "read", "reports:q1")
    assert decision.allowed is False
    assert decision.deciding_rules == ("freeze#all",)
    assert "freeze" in decision.reason


def test_deciding_rules_are_every_applicable_allow_ordered_by_priority_then_id() -> None:
    permissions = [perm("p-b", "docs:*", "read"), perm("p-a", "docs:*", "read"), perm("p-c", "docs:*", "read")]
    roles = [role("low", "p-c", priority=1), role("tie1", "p-b", priority=5), role("tie2", "p-a", priority=5)]
    grants = [grant("alice", r.role_id) for r in roles]
    pol = policy(
        "pol",
        "rbac",
        [{"rule_id": "x", "effect": "allow", "actions": ["read"], "resources": ["docs:*"], "subjects": ["alice"]}],
        priority=3,
    )
    decision = authorizer(permissions, roles, grants, [pol]).check("alice", "read", "docs:1")
    assert decision.allowed is True
    assert decision.deciding_rules == ("p-a", "p-b", "pol#x", "p-c")
    assert decision.reason.startswith("Allowed by permission p-a ")
    assert "(3 more allow rules also applied)" in decision.reason


def test_priority_orders_denies_but_never_flips_the_outcome() -> None:
    def decide(deny_priority: int, allow_priority: int) -> Any:
        return authorizer(
            [perm("d1", "docs:*", "read", "deny"), perm("a1", "docs:*", "read"), perm("d2", "docs:*", "read", "deny")],
            [
                role("rd1", "d1", priority=deny_priority),
                role("ra", "a1", priority=allow_priority),
                role("rd2", "d2", priority=0),
            ],
            [grant("alice", "rd1"), grant("alice", "ra"), grant("alice", "rd2")],
        ).check("alice", "read", "docs:1")

    first, second = decide(10, 100), decide(-10, 100)
    assert first.allowed is False
    assert second.allowed is False
    assert first.deciding_rules == ("d1", "d2")
    assert second.deciding_rules == ("d2", "d1")
    assert first.reason.startswith("Denied by permission d1 ")
    assert second.reason.startswith("Denied by permission d2 ")


def test_action_wildcard_permission_applies_to_any_action() -> None:
    az = authorizer([perm("p", "docs:*", "*")], [role("r", "p")], [grant("alice", "r")])
    assert az.check("alice", "read", "docs:1").allowed is True
    assert az.check("alice", "delete", "docs:1").allowed is True
    assert az.check("alice", "delete", "other:1").allowed is False


# -- conditions ------------------------------------------------------------------------------------------------------

# operator, value, a context value making it true, one making it false, one it cannot evaluate
OPERATORS = [
    ("eq", "published", "published", "draft", 5),
    ("ne", "draft", "published", "draft", 5),
    ("in", ["a", "b"], "a", "c", ["a"]),
    ("not_in", ["a", "b"], "c", "a", {"x": 1}),
    ("gt", 10, 11, 10, "11"),
    ("gte", 10, 10, 9, "x"),
    ("lt", 10, 9, 10, True),
    ("lte", 10, 10, 11, None),
    ("contains", "conf", "confidential", "public", 5),
    ("matches", "org-*", "org-1", "team-1", 5),
    ("between", [1, 10], 5, 11, "5"),
]


def conditional(effect: str, operator: str, value: Any) -> Authorizer:
    permissions = [perm("guarded", "docs:*", "read", effect, conditions=[cond("doc.attr", operator, value)])]
    if effect == "deny":
        permissions.append(perm("plain", "docs:*", "read"))
    return authorizer(permissions, [role("r", *(p.permission_id for p in permissions))], [grant("alice", "r")])


@pytest.mark.parametrize(("operator", "value", "true_value", "false_value", "unknown_value"), OPERATORS)
def test_every_operator_guards_an_allow(
    operator: str, value: Any, true_value: Any, false_value: Any, unknown_value: Any
) -> None:
    az = conditional("allow", operator, value)
    assert az.check("alice", "read", "docs:1", {"doc.attr": true_value}).allowed is True
    assert az.check("alice", "read", "docs:1", {"doc.attr": false_value}).allowed is False
    assert az.check("alice", "read", "docs:1", {"doc.attr": unknown_value}).allowed is False
    assert az.check("alice", "read", "docs:1", {}).allowed is False
    why = az.explain("alice", "read", "docs:1", {"doc.attr": unknown_value}).find("guarded")
    assert why is not None
    assert why.applied is False
    assert why.reason == f"condition doc.attr {operator} {json.dumps(value)} could not be evaluated"
    false_why = az.explain("alice", "read", "docs:1", {"doc.attr": false_value}).find("guarded")
    assert false_why is not None
    assert false_why.reason == f"condition doc.attr {operator} {json.dumps(value)} is false"


@pytest.mark.parametrize(("operator", "value", "true_value", "false_value", "unknown_value"), OPERATORS)
def test_every_operator_guards_a_deny_failing_closed(
    operator: str, value: Any, true_value: Any, false_value: Any, unknown_value: Any
) -> None:
    az = conditional("deny", operator, value)
    assert az.check("alice", "read", "docs:1", {"doc.attr": true_value}).allowed is False
    assert az.check("alice", "read", "docs:1", {"doc.attr": false_value}).allowed is True
    assert az.check("alice", "read", "docs:1", {"doc.attr": unknown_value}).allowed is False
    assert az.check("alice", "read", "docs:1").allowed is False


def test_conditions_are_all_of_and_false_beats_unknown() -> None:
    both = [cond("a", "eq", 1), cond("b", "eq", 2)]
    allow = authorizer([perm("p", "x", "read", conditions=both)], [role("r", "p")], [grant("alice", "r")])
    assert allow.check("alice", "read", "x", {"a": 1, "b": 2}).allowed is True
    assert allow.check("alice", "read", "x", {"a": 1, "b": 3}).allowed is False
    assert allow.check("alice", "read", "x", {"a": 1}).allowed is False
    deny = authorizer(
        [perm("ok", "x", "read"), perm("d", "x", "read", "deny", conditions=both)],
        [role("r", "ok", "d")],
        [grant("alice", "r")],
    )
    # One condition known false makes the whole deny false, even if another cannot be evaluated.
    assert deny.check("alice", "read", "x", {"a": 0}).allowed is True
    assert deny.check("alice", "read", "x", {"a": 1}).allowed is False


# -- scopes ----------------------------------------------------------------------------------------------------------


def scoped(scope: str, effect: str = "allow") -> Authorizer:
    permissions = [perm("scoped", "docs:*", "read", effect, scope=scope)]
    if effect == "deny":
        permissions.append(perm("plain", "docs:*", "read"))
    return authorizer(permissions, [role("r", *(p.permission_id for p in permissions))], [grant("alice", "r")])


def test_scope_applies_only_with_the_matching_context_value() -> None:
    az = scoped("org:acme")
    assert az.check("alice", "read", "docs:1", {"org": "acme"}).allowed is True
    assert az.check("alice", "read", "docs:1", {"org": "beta"}).allowed is False
    why = az.explain("alice", "read", "docs:1", {"org": "beta"}).find("scoped")
    assert why is not None
    assert why.reason == "scope org:acme does not match context value 'beta'"


def test_scope_fails_closed_without_context() -> None:
    az = scoped("org:acme")
    assert az.check("alice", "read", "docs:1").allowed is False
    assert az.check("alice", "read", "docs:1", {}).allowed is False
    assert az.check("alice", "read", "docs:1", {"org": None}).allowed is False
    why = az.explain("alice", "read", "docs:1").find("scoped")
    assert why is not None
    assert why.reason == "scope org:acme missing from context"


def test_scope_star_accepts_any_present_value() -> None:
    az = scoped("org:*")
    assert az.check("alice", "read", "docs:1", {"org": "anything"}).allowed is True
    assert az.check("alice", "read", "docs:1", {"org": 7}).allowed is True
    assert az.check("alice", "read", "docs:1", {"team": "x"}).allowed is False


def test_scope_compares_integers_as_text_and_refuses_other_types() -> None:
    az = scoped("site:9")
    assert az.check("alice", "read", "docs:1", {"site": 9}).allowed is True
    assert az.check("alice", "read", "docs:1", {"site": "9"}).allowed is True
    assert az.check("alice", "read", "docs:1", {"site": 9.0}).allowed is False
    assert scoped("flag:True").check("alice", "read", "docs:1", {"flag": True}).allowed is False


def test_scope_type_is_a_dot_path() -> None:
    az = scoped("tenant.org:acme")
    assert az.check("alice", "read", "docs:1", {"tenant.org": "acme"}).allowed is True
    assert az.check("alice", "read", "docs:1", {"tenant": {"org": "acme"}}).allowed is True
    assert az.check("alice", "read", "docs:1", {"org": "acme"}).allowed is False


def test_scoped_deny_with_missing_attribute_does_not_apply() -> None:
    """Documented: a scope restricts where a rule applies, for denies too."""
    az = scoped("org:acme", "deny")
    assert az.check("alice", "read", "docs:1").allowed is True
    assert az.check("alice", "read", "docs:1", {"org": "acme"}).allowed is False
    assert az.check("alice", "read", "docs:1", {"org": "beta"}).allowed is True


def test_scoped_assignment_holds_only_in_its_scope() -> None:
    az = authorizer([perm("p", "docs:*", "read")], [role("r", "p")], [grant("alice", "r", scope="org:acme")])
    assert az.check("alice", "read", "docs:1", {"org": "acme"}).allowed is True
    assert az.check("alice", "read", "docs:1", {"org": "beta"}).allowed is False
    assert az.check("alice", "read", "docs:1").allowed is False
    assert [r.role_id for r in az.roles_of("alice", context={"org": "acme"})] == ["r"]
    assert az.roles_of("alice") == []
    line = az.explain("alice", "read", "docs:1").find("asg-alice-r")
    assert line is not None
    assert line.reason == "assignment scope org:acme missing from context"


# -- context ---------------------------------------------------------------------------------------------------------


def test_dotted_context_keys_are_nested() -> None:
    assert expand_context({"report.confidential": True, "org": "acme"}) == {
        "report": {"confidential": True},
        "org": "acme",
    }
    assert expand_context({"a.b.c": 1, "a.b.d": 2, "a": {"e": 3}}) == {"a": {"b": {"c": 1, "d": 2}, "e": 3}}
    assert expand_context({"a": {"b.c": 1}}) == {"a": {"b": {"c": 1}}}
    assert expand_context(None) == {}


def test_context_expansion_leaves_the_callers_mapping_alone() -> None:
    original = {"a": {"b": 1}, "a.c": 2}
    expand_context(original)
    assert original == {"a": {"b": 1}, "a.c": 2}


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"a": 1, "a.b": 2}, "'a' both a value and nested attributes"),
        ({"a.b": 2, "a": 1}, "'a' more than once"),
        ({"a.b": 1, "a": {"b": 2}}, "'a.b' more than once"),
        ({"a..b": 1}, "'a..b' must be a dot-path"),
        ({".a": 1}, "'.a' must be a dot-path"),
        ({1: "x"}, "'1' must be a dot-path"),
    ],
)
def test_conflicting_or_malformed_context_keys_are_input_errors(context: dict[Any, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        expand_context(context)
    with pytest.raises(InputError, match="context"):
        a8_authorizer().check("alice", "export", "reports:q1", context)


def test_context_must_be_a_mapping() -> None:
    with pytest.raises(InputError, match="context must be a mapping"):
        a8_authorizer().check("alice", "export", "reports:q1", [("report.confidential", False)])  # type: ignore[arg-type]


# -- input -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["", "   ", "reports::q1", "reports:*", "reports:**", "reports:q 1", "a" * 256])
def test_bad_resource_is_an_input_error_naming_it(resource: str) -> None:
    with pytest.raises(InputError, match="^resource: "):
        a8_authorizer().check("alice", "export", resource)


@pytest.mark.parametrize("action", ["*", "", "read it", "-x"])
def test_bad_action_is_an_input_error_naming_it(action: str) -> None:
    with pytest.raises(InputError, match="^action"):
        a8_authorizer().check("alice", action, "reports:q1")


@pytest.mark.parametrize("subject", ["", "   ", "x" * 256, None])
def test_bad_subject_is_an_input_error_naming_it(subject: Any) -> None:
    az = a8_authorizer()
    with pytest.raises(InputError, match="^subject"):
        az.check(subject, "export", "reports:q1")
    with pytest.raises(InputError, match="^subject"):
        az.roles_of(subject)
    with pytest.raises(InputError, match="^subject"):
        az.effective_permissions(subject)


# -- explain ---------------------------------------------------------------------------------------------------------


def test_explain_names_why_each_rule_applied_or_not() -> None:
    az = authorizer(
        [
            perm("read-docs", "docs:*", "read"),
            perm("write-docs", "docs:*", "write"),
            perm("read-other", "other:*", "read"),
            perm("deny-secret", "docs:*", "read", "deny", conditions=[cond("doc.secret", "eq", True)]),
        ],
        [role("r", "read-docs", "write-docs", "read-other", "deny-secret", "ghost", name="reader")],
        [grant("alice", "r", "g1"), grant("bob", "r", "g2")],
        [
            policy(
                "off",
                "rbac",
                [{"rule_id": "x", "effect": "deny", "actions": ["*"], "resources": ["**"], "subjects": ["alice"]}],
                enabled=False,
            )
        ],
    )
    explanation = az.explain("alice", "read", "docs:1", {"doc.secret": False}, now=NOW)
    reasons = {line.rule_id: line.reason for line in explanation.trace}
    assert reasons == {
        "g1": "assignment in force",
        "ghost": "permission does not exist; ignored",
        "read-docs": "applies",
        "write-docs": "action write does not match read",
        "read-other": "pattern other:* does not match docs:1",
        "deny-secret": "condition doc.secret eq true is false",
        "off#x": "policy disabled",
    }
    line = explanation.find("read-docs")
    assert line is not None
    assert (line.kind, line.role_id, line.role_name, line.assignment_id) == (RuleKind.PERMISSION, "r", "reader", "g1")
    assert explanation.find("off#x").kind is RuleKind.POLICY_RULE  # type: ignore[union-attr]
    assert [line.rule_id for line in explanation.applied()] == ["g1", "read-docs"]
    assert explanation.allowed is True
    assert explanation.reason == "Allowed by permission read-docs (allow read on docs:*) via role reader."


def test_explain_agrees_with_check_and_serialises_to_json() -> None:
    az = a8_authorizer()
    for context in ({}, {"report.confidential": True}, {"report.confidential": False}):
        decision = az.check("alice", "export", "reports:q1", context, now=NOW)
        explanation = az.explain("alice", "export", "reports:q1", context, now=NOW)
        assert (explanation.decision.allowed, explanation.decision.deciding_rules, explanation.decision.reason) == (
            decision.allowed,
            decision.deciding_rules,
            decision.reason,
        )
        data = json.loads(json.dumps(explanation.as_dict()))
        assert data["evaluated_at"] == "2026-06-03T12:00:00.000000Z"
        assert data["allowed"] is decision.allowed
        assert {line["rule_id"] for line in data["trace"]} == {"asg-alice-analyst", "export-all", "no-confidential"}


def test_decision_carries_the_request_and_timing() -> None:
    decision = a8_authorizer().check("alice", "export", "reports:q1", {"report.confidential": False})
    assert (decision.subject, decision.action, decision.resource) == ("alice", "export", "reports:q1")
    assert decision.evaluated_at == NOW
    assert decision.elapsed_ms >= 0
    assert bool(decision) is True
    with pytest.raises(AttributeError):
        decision.allowed = False  # type: ignore[misc]
