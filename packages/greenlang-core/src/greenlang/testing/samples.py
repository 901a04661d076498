"""Small valid records for tests: each call makes a fresh one, fields overridable."""

from __future__ import annotations

from typing import Any

from greenlang.audit.events import AuditEvent
from greenlang.auth.permissions import Permission
from greenlang.auth.policies import Policy
from greenlang.auth.roles import Role, RoleAssignment

__all__ = ["sample_permission", "sample_role", "sample_policy", "sample_assignment", "sample_event"]


def sample_permission(**fields: Any) -> Permission:
    data: dict[str, Any] = {"resource": "emissions:org-1:**", "action": "read", "effect": "allow"}
    data.update(fields)
    return Permission.model_validate(data)


def sample_role(role_name: str, **fields: Any) -> Role:
    return Role.model_validate({"role_name": role_name, **fields})


def sample_policy(policy_name: str, **fields: Any) -> Policy:
    data: dict[str, Any] = {
        "policy_name": policy_name,
        "policy_type": "rbac",
        "rules": [{"effect": "allow", "actions": ["read"], "resources": ["reports:**"], "roles": ["viewer"]}],
    }
    data.update(fields)
    return Policy.model_validate(data)


def sample_assignment(role_id: str, subject: str = "user-1", **fields: Any) -> RoleAssignment:
    return RoleAssignment.model_validate({"role_id": role_id, "subject": subject, **fields})


def sample_event(**fields: Any) -> AuditEvent:
    data: dict[str, Any] = {
        "event_type": "access.checked",
        "user_id": "user-1",
        "resource": "reports:2026",
        "action": "read",
        "result": "success",
        "details": {"reason": "role viewer allows read", "scores": [1, 2.5, None], "note": "ünïcode ✓"},
    }
    data.update(fields)
    return AuditEvent.model_validate(data)
