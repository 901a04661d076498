"""Small builders for engine tests: records with readable ids, and an authorizer over them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from greenlang.auth.engine import Authorizer
from greenlang.auth.permissions import Permission
from greenlang.auth.policies import Policy
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.auth.snapshot import PolicySnapshot

NOW = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)  # a Wednesday


def perm(pid: str, resource: str, action: str, effect: str = "allow", **extra: Any) -> Permission:
    return Permission(permission_id=pid, resource=resource, action=action, effect=effect, **extra)


def cond(attribute: str, operator: str, value: Any) -> dict[str, Any]:
    return {"attribute": attribute, "operator": operator, "value": value}


def role(
    rid: str, *permission_ids: str, parents: Iterable[str] = (), priority: int = 0, name: str | None = None
) -> Role:
    return Role(
        role_id=rid,
        role_name=name or rid,
        permissions=list(permission_ids),
        parent_roles=list(parents),
        priority=priority,
    )


def grant(subject: str, rid: str, aid: str | None = None, **extra: Any) -> RoleAssignment:
    return RoleAssignment(assignment_id=aid or f"asg-{subject}-{rid}", subject=subject, role_id=rid, **extra)


def policy(pid: str, policy_type: str, rules: list[dict[str, Any]], **extra: Any) -> Policy:
    return Policy(policy_id=pid, policy_name=pid, policy_type=policy_type, rules=rules, **extra)


def authorizer(
    permissions: Iterable[Permission] = (),
    roles: Iterable[Role] = (),
    assignments: Iterable[RoleAssignment] = (),
    policies: Iterable[Policy] = (),
) -> Authorizer:
    snapshot = PolicySnapshot.from_records(
        permissions=permissions, roles=roles, assignments=assignments, policies=policies
    )
    return Authorizer(snapshot=snapshot, clock=lambda: NOW)
