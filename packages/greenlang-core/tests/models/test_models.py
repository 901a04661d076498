"""The domain model: ids, time, and refusal of bad input with a message naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from greenlang.audit.events import AuditEvent
from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.auth.permissions import Permission, PermissionEffect
from greenlang.auth.policies import Policy
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.errors import InputError
from greenlang.validation import parse

GOOD_PERMISSION: dict[str, Any] = {"resource": "emissions:org-1:**", "action": "read", "effect": "allow"}


def test_100k_permissions_made_in_a_tight_loop_have_distinct_ids() -> None:
    ids = {Permission(**GOOD_PERMISSION).permission_id for _ in range(100_000)}
    assert len(ids) == 100_000


@pytest.mark.parametrize(
    ("factory", "attribute"),
    [
        (lambda: Role(role_name="viewer"), "role_id"),
        (lambda: RoleAssignment(subject="alice", role_id="role_x"), "assignment_id"),
        (lambda: AuditEvent(event_type="x", result="success"), "log_id"),
        (
            lambda: Policy(
                policy_name="p",
                policy_type="rbac",
                rules=[{"effect": "allow", "actions": ["read"], "resources": ["a"], "roles": ["viewer"]}],
            ),
            "policy_id",
        ),
    ],
)
def test_100k_of_every_other_record_have_distinct_ids(factory: Any, attribute: str) -> None:
    assert len({getattr(factory(), attribute) for _ in range(100_000)}) == 100_000


def test_ids_fit_the_schema_columns() -> None:
    assert len(Permission(**GOOD_PERMISSION).permission_id) <= 64
    assert len(AuditEvent(event_type="x", result="success").log_id) <= 64


def test_naive_datetimes_are_taken_as_utc_everywhere() -> None:
    naive = datetime(2026, 12, 31, 23, 0, 0)
    expected = datetime(2026, 12, 31, 23, 0, 0, tzinfo=UTC)
    assert RoleAssignment(subject="a", role_id="r", expires_at=naive).expires_at == expected
    assert Permission(**GOOD_PERMISSION, created_at=naive).created_at == expected
    assert AuditEvent(event_type="x", result="success", timestamp=naive).timestamp == expected
    assert Role(role_name="r", created_at="2026-12-31T23:00:00").created_at == expected


def test_offsets_are_honoured_and_stored_as_utc() -> None:
    plus_one = timezone(timedelta(hours=1))
    assignment = RoleAssignment(subject="a", role_id="r", expires_at=datetime(2027, 1, 1, tzinfo=plus_one))
    assert assignment.expires_at == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert assignment.expires_at.utcoffset() == timedelta(0)
    assert RoleAssignment(subject="a", role_id="r", expires_at="2027-01-01T00:00:00+01:00").expires_at == (
        assignment.expires_at
    )


def test_default_timestamps_are_aware_utc() -> None:
    for value in (
        Permission(**GOOD_PERMISSION).created_at,
        Role(role_name="r").created_at,
        AuditEvent(event_type="x", result="success").timestamp,
    ):
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)


BAD_INPUT = [
    (Permission, {**GOOD_PERMISSION, "effect": "maybe"}, "permission.effect", "'allow' or 'deny'"),
    (Permission, {**GOOD_PERMISSION, "resource": ""}, "permission.resource", "must not be empty"),
    (Permission, {**GOOD_PERMISSION, "resource": "   "}, "permission.resource", "must not be empty"),
    (Permission, {**GOOD_PERMISSION, "resource": "*foo"}, "permission.resource", "whole segment"),
    (Permission, {**GOOD_PERMISSION, "resource": "**:x"}, "permission.resource", "last segment"),
    (Permission, {**GOOD_PERMISSION, "resource": "emissions::site"}, "permission.resource", "empty segment"),
    (
        Permission,
        {**GOOD_PERMISSION, "conditions": [{"attribute": "report.status", "operator": "like", "value": "x"}]},
        "permission.conditions.0.operator",
        "'eq'",
    ),
    (Permission, {**GOOD_PERMISSION, "action": "r" * 101}, "permission.action", "at most 100 characters"),
    (Permission, {**GOOD_PERMISSION, "resource": "a:" + "b" * 300}, "permission.resource", "at most 255"),
    (Role, {"role_name": "x" * 101}, "role.role_name", "at most 100 characters"),
    (
        AuditEvent,
        {"event_type": "login", "result": "success", "ip_address": "999.1.1.1"},
        "auditevent.ip_address",
        "not an IPv4 or IPv6 address",
    ),
    (AuditEvent, {"event_type": "login", "result": "maybe"}, "auditevent.result", "'success', 'failure' or 'error'"),
]


@pytest.mark.parametrize(("model", "data", "field", "hint"), BAD_INPUT)
def test_bad_input_names_the_field_in_one_sentence(model: Any, data: dict[str, Any], field: str, hint: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(model, data)
    message = str(caught.value)
    assert message.startswith(field + ":")
    assert hint in message
    assert "\n" not in message


@pytest.mark.parametrize(("model", "data", "field", "hint"), BAD_INPUT)
def test_bad_input_stores_nothing(tmp_path: Path, model: Any, data: dict[str, Any], field: str, hint: str) -> None:
    create = {
        Permission: "create_permission",
        Role: "create_role",
        AuditEvent: "append_audit_event",
    }[model]
    with SQLiteBackend(tmp_path / "s.db") as backend:
        with pytest.raises(InputError):
            getattr(backend, create)(data)
        stats = backend.get_statistics()
        assert (stats["permissions_count"], stats["roles_count"], stats["audit_logs_count"]) == (0, 0, 0)


def test_ip_addresses_are_normalised() -> None:
    assert AuditEvent(event_type="x", result="success", ip_address="2001:DB8:0:0::1").ip_address == "2001:db8::1"


def test_effect_enum_matches_the_seed() -> None:
    assert PermissionEffect.ALLOW.value == "allow"
    assert PermissionEffect.DENY.value == "deny"


def test_provenance_hash_follows_content() -> None:
    first = Permission(**GOOD_PERMISSION)
    twin = Permission(**GOOD_PERMISSION)
    other = Permission(**{**GOOD_PERMISSION, "action": "write"})
    assert first.permission_id != twin.permission_id
    assert first.provenance_hash == twin.provenance_hash
    assert first.provenance_hash != other.provenance_hash
    assert len(first.provenance_hash or "") == 64


def test_records_are_immutable_and_replace_revalidates() -> None:
    permission = Permission(**GOOD_PERMISSION)
    with pytest.raises(Exception, match="frozen"):
        permission.action = "write"  # type: ignore[misc]
    with pytest.raises(Exception, match="empty segment"):
        permission.replace(resource="a::b")


def test_json_fields_have_a_size_limit() -> None:
    with pytest.raises(InputError) as caught:
        parse(Permission, {**GOOD_PERMISSION, "metadata": {"k": "v" * 70_000}})
    assert str(caught.value).startswith("permission.metadata: value is 70,")
    assert "limit is 65,536 bytes" in str(caught.value)
    with pytest.raises(InputError, match="auditevent.details"):
        parse(AuditEvent, {"event_type": "x", "result": "success", "details": {"k": "v" * 1_100_000}})
    assert parse(AuditEvent, {"event_type": "x", "result": "success", "details": {"k": "v" * 500_000}})
