"""Resource patterns as the engine uses them: cases A1 (anchored matching) and A2 (malformed patterns)."""

from __future__ import annotations

import re
import time

import pytest
from engine_world import authorizer, grant, perm, policy, role
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from greenlang.auth.engine import Authorizer
from greenlang.auth.patterns import validate_pattern
from greenlang.auth.permissions import Permission, PermissionEffect
from greenlang.auth.policies import PolicyRule
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.auth.snapshot import CompiledPattern, PolicySnapshot
from greenlang.errors import InputError
from greenlang.validation import parse

HYPOTHESIS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def allowed_by_pattern(pattern: str, resource: str, action: str = "read") -> bool:
    az = authorizer([perm("p", pattern, "read")], [role("r", "p")], [grant("alice", "r")])
    return az.check("alice", action, resource).allowed


# -- A1 --------------------------------------------------------------------------------------------------------------


def test_case_A1_pattern_is_anchored_at_the_end() -> None:
    assert allowed_by_pattern("emissions:org-1", "emissions:org-1") is True
    assert allowed_by_pattern("emissions:org-1", "emissions:org-1:site-2") is False


def test_case_A1_pattern_is_anchored_at_the_start() -> None:
    assert allowed_by_pattern("org-1:site-2", "emissions:org-1:site-2") is False
    assert allowed_by_pattern("emissions:org-1", "x:emissions:org-1") is False


def test_case_A1_exact_pattern_does_not_match_a_child_action_resource() -> None:
    assert allowed_by_pattern("reports:process", "reports:process:approve") is False


def test_case_A1_single_star_matches_exactly_one_segment() -> None:
    assert allowed_by_pattern("reports:process:*", "reports:process:approve") is True
    assert allowed_by_pattern("reports:process:*", "reports:process") is False
    assert allowed_by_pattern("reports:process:*", "reports:process:approve:now") is False


def test_case_A1_double_star_matches_zero_or_more_trailing_segments() -> None:
    assert allowed_by_pattern("reports:**", "reports") is True
    assert allowed_by_pattern("reports:**", "reports:a:b:c") is True
    assert allowed_by_pattern("reports:**", "reportsx:a") is False
    assert allowed_by_pattern("reports:**", "emissions:reports") is False


def test_case_A1_double_star_alone_matches_any_resource() -> None:
    assert allowed_by_pattern("**", "a") is True
    assert allowed_by_pattern("**", "a:b:c:d") is True


def _best_of(runs: int, action: object) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best


def test_case_A1_wildcards_against_ten_thousand_segments_answer_in_bounded_time() -> None:
    az = authorizer([perm("p", "a:*:*", "read")], [role("r", "p")], [grant("alice", "r")])
    baseline = _best_of(20, lambda: az.check("alice", "read", "a:b:c"))
    bound = max(0.05, 50 * baseline)
    huge = ":".join(["a"] * 10_000)
    compiled = CompiledPattern.of("a:*:*", "test")
    segments = huge.split(":")
    assert compiled.matches(segments) is False
    assert _best_of(3, lambda: compiled.matches(segments)) < bound
    # A request that long is refused as input, just as quickly, naming the argument.
    with pytest.raises(InputError, match="resource"):
        az.check("alice", "read", huge)
    assert _best_of(3, lambda: pytest.raises(InputError, az.check, "alice", "read", huge)) < bound
    longest = ":".join(["a"] * 128)  # 255 characters, the most a resource may have
    assert az.check("alice", "read", longest).allowed is False
    assert _best_of(3, lambda: az.check("alice", "read", longest)) < bound


# -- A2 --------------------------------------------------------------------------------------------------------------

MALFORMED = ["*foo", "**:x", "emissions::site", "   ", "", "reports:", ":reports", "a:b*:c", "a b"]


@pytest.mark.parametrize("pattern", MALFORMED)
def test_case_A2_malformed_permission_pattern_is_refused_naming_the_field(pattern: str) -> None:
    with pytest.raises(ValidationError) as info:
        Permission(resource=pattern, action="read", effect="allow")
    assert info.value.errors()[0]["loc"] == ("resource",)
    with pytest.raises(InputError, match=r"^permission\.resource: "):
        parse(Permission, {"resource": pattern, "action": "read", "effect": "allow"})


@pytest.mark.parametrize("pattern", MALFORMED)
def test_case_A2_malformed_policy_rule_pattern_is_refused_naming_the_field(pattern: str) -> None:
    with pytest.raises(InputError, match=r"^policyrule\.resources\.1: "):
        parse(PolicyRule, {"effect": "deny", "actions": ["read"], "resources": ["ok:*", pattern]})


def test_case_A2_messages_say_what_to_fix() -> None:
    with pytest.raises(ValidationError, match="may only be the last segment"):
        Permission(resource="**:x", action="read", effect="allow")
    with pytest.raises(ValidationError, match="empty segment"):
        Permission(resource="emissions::site", action="read", effect="allow")
    with pytest.raises(ValidationError, match="wildcard must be a whole segment"):
        Permission(resource="*foo", action="read", effect="allow")
    with pytest.raises(ValidationError, match="whitespace"):
        Permission(resource="   ", action="read", effect="allow")


def test_case_A2_a_malformed_pattern_smuggled_past_validation_never_reaches_a_check() -> None:
    bad = Permission.model_construct(
        permission_id="p-bad", resource="**:x", action="read", effect=PermissionEffect.ALLOW
    )
    with pytest.raises(InputError, match="permission 'p-bad' holds a malformed resource pattern"):
        PolicySnapshot.from_records(permissions=[bad], roles=[role("r", "p-bad")])
    rule = PolicyRule.model_construct(rule_id="r0", effect=PermissionEffect.ALLOW, actions=["read"], resources=["a::b"])
    good = policy(
        "pol",
        "abac",
        [
            {
                "effect": "allow",
                "actions": ["read"],
                "resources": ["a:b"],
                "conditions": [{"attribute": "x", "operator": "eq", "value": 1}],
            }
        ],
    )
    smuggled = good.model_copy(update={"rules": [rule]})
    with pytest.raises(InputError, match="policy rule 'pol#r0' holds a malformed resource pattern"):
        PolicySnapshot.from_records(policies=[smuggled])


PATTERN_TEXT = st.text(alphabet="ab*: .-", max_size=12)


@HYPOTHESIS
@given(PATTERN_TEXT)
def test_case_A2_a_string_that_fails_validation_can_never_be_stored(text: str) -> None:
    try:
        validate_pattern(text)
        valid = True
    except ValueError:
        valid = False
    try:
        Permission(resource=text, action="read", effect="allow")
        stored = True
    except ValidationError:
        stored = False
    try:
        PolicyRule(effect="deny", actions=["read"], resources=[text])
        stored_rule = True
    except ValidationError:
        stored_rule = False
    assert stored == valid
    assert stored_rule == valid


def reference_match(pattern: str, resource: str) -> bool:
    """An independent matcher: translate the pattern to an anchored regular expression."""
    parts = pattern.split(":")
    tail = ""
    if parts[-1] == "**":
        parts = parts[:-1]
        tail = r"(?::[^:]+)*" if parts else r"[^:]+(?::[^:]+)*"
    body = ":".join(r"[^:]+" if part == "*" else re.escape(part) for part in parts)
    return re.fullmatch(body + tail, resource) is not None


PATTERN_SEGMENTS = st.lists(st.sampled_from(["a", "b", "c", "*", "**", "", "a*", " "]), min_size=1, max_size=5)
RESOURCES = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=6).map(":".join)


@HYPOTHESIS
@given(PATTERN_SEGMENTS.map(":".join), st.lists(RESOURCES, min_size=1, max_size=6))
def test_case_A2_valid_patterns_only_match_what_they_should(pattern: str, resources: list[str]) -> None:
    try:
        validate_pattern(pattern)
    except ValueError:
        with pytest.raises(ValidationError):
            Permission(resource=pattern, action="read", effect="allow")
        return
    az = Authorizer(
        snapshot=PolicySnapshot.from_records(
            permissions=[perm("p", pattern, "read")],
            roles=[Role(role_id="r", role_name="r", permissions=["p"])],
            assignments=[RoleAssignment(assignment_id="g", subject="alice", role_id="r")],
        )
    )
    for resource in resources:
        assert az.check("alice", "read", resource).allowed == reference_match(pattern, resource), (pattern, resource)


def test_reference_matcher_agrees_with_the_spec_examples() -> None:
    """The reference matcher is itself checked by hand against the spec."""
    assert reference_match("reports:**", "reports") is True
    assert reference_match("reports:**", "reports:a:b:c") is True
    assert reference_match("reports:process:*", "reports:process:approve") is True
    assert reference_match("reports:process", "reports:process:approve") is False
    assert reference_match("emissions:org-1", "emissions:org-1:site-2") is False
    assert reference_match("**", "x:y") is True
