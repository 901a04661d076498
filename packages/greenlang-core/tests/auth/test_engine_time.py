"""Time: assignment and policy validity, temporal windows, naive datetimes and the injected clock (case A7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from engine_world import NOW, authorizer, grant, perm, policy, role

from greenlang.auth.engine import Authorizer
from greenlang.auth.snapshot import PolicySnapshot

EXPIRY = datetime(2027, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=1)))  # 2026-12-31T23:00:00Z


def expiring() -> Authorizer:
    return authorizer([perm("p", "docs:*", "read")], [role("r", "p")], [grant("alice", "r", "g", expires_at=EXPIRY)])


# -- A7 --------------------------------------------------------------------------------------------------------------


def test_case_A7_assignment_is_expired_one_second_after_its_offset_expiry() -> None:
    az = expiring()
    decision = az.check("alice", "read", "docs:1", now=datetime(2026, 12, 31, 23, 0, 1, tzinfo=UTC))
    assert decision.allowed is False
    line = az.explain("alice", "read", "docs:1", now=datetime(2026, 12, 31, 23, 0, 1, tzinfo=UTC)).find("g")
    assert line is not None
    assert line.reason == "assignment expired at 2026-12-31T23:00:00.000000Z"


def test_case_A7_assignment_is_valid_one_second_before_its_offset_expiry() -> None:
    assert expiring().check("alice", "read", "docs:1", now=datetime(2026, 12, 31, 22, 59, 59, tzinfo=UTC)).allowed


def test_case_A7_expiry_is_exclusive() -> None:
    assert expiring().check("alice", "read", "docs:1", now=datetime(2026, 12, 31, 23, 0, tzinfo=UTC)).allowed is False


def test_case_A7_naive_now_is_treated_as_utc() -> None:
    az = expiring()
    assert az.check("alice", "read", "docs:1", now=datetime(2026, 12, 31, 22, 59, 59)).allowed is True
    decision = az.check("alice", "read", "docs:1", now=datetime(2026, 12, 31, 23, 0, 1))
    assert decision.allowed is False
    assert decision.evaluated_at == datetime(2026, 12, 31, 23, 0, 1, tzinfo=UTC)
    assert decision.evaluated_at.tzinfo is UTC


def test_case_A7_naive_stored_expiry_is_treated_as_utc() -> None:
    az = authorizer(
        [perm("p", "docs:*", "read")], [role("r", "p")], [grant("alice", "r", expires_at=datetime(2026, 12, 31, 23, 0))]
    )
    assert az.check("alice", "read", "docs:1", now=datetime(2026, 12, 31, 22, 59, 59, tzinfo=UTC)).allowed is True
    assert az.check("alice", "read", "docs:1", now=datetime(2026, 12, 31, 23, 0, 1, tzinfo=UTC)).allowed is False


def test_case_A7_now_with_an_offset_is_honoured() -> None:
    az = expiring()
    plus_one = timezone(timedelta(hours=1))
    assert az.check("alice", "read", "docs:1", now=datetime(2026, 12, 31, 23, 59, 59, tzinfo=plus_one)).allowed
    decision = az.check("alice", "read", "docs:1", now=datetime(2027, 1, 1, 0, 0, 1, tzinfo=plus_one))
    assert decision.allowed is False
    assert decision.evaluated_at == datetime(2026, 12, 31, 23, 0, 1, tzinfo=UTC)


def test_case_A7_roles_and_permissions_lists_follow_the_same_clock() -> None:
    az = expiring()
    before, after = datetime(2026, 12, 31, 22, 59, 59), datetime(2026, 12, 31, 23, 0, 1)
    assert [r.role_id for r in az.roles_of("alice", now=before)] == ["r"]
    assert az.roles_of("alice", now=after) == []
    assert [p.permission_id for p in az.effective_permissions("alice", now=before)] == ["p"]
    assert az.effective_permissions("alice", now=after) == []


# -- assignments -----------------------------------------------------------------------------------------------------


def test_assignment_not_yet_valid_grants_nothing() -> None:
    start = datetime(2026, 7, 1, tzinfo=UTC)
    az = authorizer([perm("p", "docs:*", "read")], [role("r", "p")], [grant("alice", "r", "g", valid_from=start)])
    assert az.check("alice", "read", "docs:1").allowed is False
    assert az.check("alice", "read", "docs:1", now=start).allowed is True
    line = az.explain("alice", "read", "docs:1").find("g")
    assert line is not None
    assert line.reason == "assignment not valid until 2026-07-01T00:00:00.000000Z"


def test_expired_assignment_never_grants_even_through_inheritance() -> None:
    az = authorizer(
        [perm("p", "docs:*", "read")],
        [role("parent", "p"), role("child", parents=["parent"])],
        [grant("alice", "child", expires_at=NOW - timedelta(seconds=1))],
    )
    assert az.check("alice", "read", "docs:1").allowed is False
    assert az.roles_of("alice") == []


def test_clock_supplies_now_unless_a_call_passes_it() -> None:
    snapshot = PolicySnapshot.from_records(
        permissions=[perm("p", "docs:*", "read")],
        roles=[role("r", "p")],
        assignments=[grant("alice", "r", expires_at=EXPIRY)],
    )
    late = Authorizer(snapshot=snapshot, clock=lambda: datetime(2027, 6, 1, tzinfo=UTC))
    assert late.check("alice", "read", "docs:1").allowed is False
    assert late.check("alice", "read", "docs:1").evaluated_at == datetime(2027, 6, 1, tzinfo=UTC)
    assert late.check("alice", "read", "docs:1", now=datetime(2026, 1, 1)).allowed is True
    naive_clock = Authorizer(snapshot=snapshot, clock=lambda: datetime(2026, 1, 1))
    assert naive_clock.check("alice", "read", "docs:1").evaluated_at == datetime(2026, 1, 1, tzinfo=UTC)


# -- policies in time ------------------------------------------------------------------------------------------------

ALLOW_ALICE = [{"rule_id": "r", "effect": "allow", "actions": ["read"], "resources": ["docs:*"], "subjects": ["alice"]}]
DENY_ALICE = [{"rule_id": "r", "effect": "deny", "actions": ["read"], "resources": ["docs:*"], "subjects": ["alice"]}]


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"enabled": False}, "policy disabled"),
        ({"valid_from": NOW + timedelta(seconds=1)}, "policy not valid until 2026-06-03T12:00:01.000000Z"),
        ({"expires_at": NOW}, "policy expired at 2026-06-03T12:00:00.000000Z"),
        (
            {"valid_from": NOW - timedelta(days=2), "expires_at": NOW - timedelta(days=1)},
            "policy expired at 2026-06-02T12:00:00.000000Z",
        ),
    ],
)
def test_inactive_policies_neither_allow_nor_deny(extra: dict[str, Any], reason: str) -> None:
    allowing = authorizer(policies=[policy("pol", "rbac", ALLOW_ALICE, **extra)])
    assert allowing.check("alice", "read", "docs:1").allowed is False
    line = allowing.explain("alice", "read", "docs:1").find("pol#r")
    assert line is not None
    assert line.applied is False
    assert line.reason == reason
    denying = authorizer(
        [perm("p", "docs:*", "read")],
        [role("x", "p")],
        [grant("alice", "x")],
        [policy("pol", "rbac", DENY_ALICE, **extra)],
    )
    assert denying.check("alice", "read", "docs:1").allowed is True


def test_policy_is_active_from_valid_from_inclusive_until_expiry_exclusive() -> None:
    az = authorizer(policies=[policy("pol", "rbac", ALLOW_ALICE, valid_from=NOW, expires_at=NOW + timedelta(hours=1))])
    assert az.check("alice", "read", "docs:1", now=NOW).allowed is True
    assert az.check("alice", "read", "docs:1", now=NOW + timedelta(minutes=59)).allowed is True
    assert az.check("alice", "read", "docs:1", now=NOW + timedelta(hours=1)).allowed is False


def office_hours(effect: str) -> list[dict[str, Any]]:
    return [
        {
            "rule_id": "office",
            "effect": effect,
            "actions": ["read"],
            "resources": ["docs:*"],
            "weekdays": ["mon", "tue", "wed", "thu", "fri"],
            "hours": [9, 17],
        }
    ]


def test_temporal_allow_applies_only_inside_its_window() -> None:
    az = authorizer(policies=[policy("hours", "temporal", office_hours("allow"))])
    wednesday = datetime(2026, 6, 3, tzinfo=UTC)
    assert az.check("alice", "read", "docs:1", now=wednesday.replace(hour=9)).allowed is True
    assert az.check("alice", "read", "docs:1", now=wednesday.replace(hour=16, minute=59)).allowed is True
    assert az.check("alice", "read", "docs:1", now=wednesday.replace(hour=17)).allowed is False
    assert az.check("alice", "read", "docs:1", now=wednesday.replace(hour=8, minute=59)).allowed is False
    saturday = datetime(2026, 6, 6, 10, tzinfo=UTC)
    assert az.check("alice", "read", "docs:1", now=saturday).allowed is False
    line = az.explain("alice", "read", "docs:1", now=saturday).find("hours#office")
    assert line is not None
    assert line.reason == "outside the rule's time window at 2026-06-06T10:00:00.000000Z"


def test_temporal_deny_does_not_apply_outside_its_window() -> None:
    az = authorizer(
        [perm("p", "docs:*", "read")],
        [role("x", "p")],
        [grant("alice", "x")],
        [policy("hours", "temporal", office_hours("deny"))],
    )
    assert az.check("alice", "read", "docs:1", now=datetime(2026, 6, 3, 10, tzinfo=UTC)).allowed is False
    assert az.check("alice", "read", "docs:1", now=datetime(2026, 6, 6, 10, tzinfo=UTC)).allowed is True


def test_temporal_window_hours_use_utc_for_offset_times() -> None:
    az = authorizer(policies=[policy("hours", "temporal", office_hours("allow"))])
    # 10:00 at UTC+5 is 05:00 UTC, outside 9-17 UTC.
    assert (
        az.check("alice", "read", "docs:1", now=datetime(2026, 6, 3, 10, tzinfo=timezone(timedelta(hours=5)))).allowed
        is False
    )


def test_temporal_not_before_and_not_after_bound_a_rule() -> None:
    rules = [
        {
            "rule_id": "w",
            "effect": "allow",
            "actions": ["read"],
            "resources": ["docs:*"],
            "not_before": "2026-06-01T00:00:00Z",
            "not_after": "2026-06-02T00:00:00+02:00",
        }
    ]
    az = authorizer(policies=[policy("window", "temporal", rules)])
    assert az.check("alice", "read", "docs:1", now=datetime(2026, 5, 31, 23, 59, 59, tzinfo=UTC)).allowed is False
    assert az.check("alice", "read", "docs:1", now=datetime(2026, 6, 1, tzinfo=UTC)).allowed is True
    assert az.check("alice", "read", "docs:1", now=datetime(2026, 6, 1, 21, 59, 59, tzinfo=UTC)).allowed is True
    assert az.check("alice", "read", "docs:1", now=datetime(2026, 6, 1, 22, tzinfo=UTC)).allowed is False
