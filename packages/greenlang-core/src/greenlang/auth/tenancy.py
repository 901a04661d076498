"""Which records may reference which across tenants, checked by every store on write.

A record may reference only records of its own tenant or shared ones
(``tenant_id`` None); a shared record only shared ones. Otherwise a tenant's
role could hand its users another tenant's permission in the unfiltered view,
while in that tenant's own view the reference would silently resolve to
nothing. References are a role's permissions and parent roles and an
assignment's role. Policies name roles only by name in their rules, so they
are not checked here: the snapshot never applies a rule through a role its
tenant may not reference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from greenlang.auth.roles import Role, RoleAssignment
from greenlang.errors import ConflictError

__all__ = [
    "RULE",
    "Referrer",
    "check_assignment_tenant",
    "check_move",
    "check_role_tenants",
    "may_reference",
    "owner",
]

RULE = "a record may only reference records of its own tenant or shared ones (no tenant)"


class Referrer(NamedTuple):
    """A stored record that references another: ``what`` names it, ``verb`` says how it references."""

    what: str
    tenant: str | None
    verb: str


def may_reference(referrer: str | None, referenced: str | None) -> bool:
    """Whether a record of tenant ``referrer`` may reference one of tenant ``referenced`` (None: shared)."""
    return referenced is None or referenced == referrer


def owner(tenant: str | None) -> str:
    return "no tenant" if tenant is None else f"tenant {tenant!r}"


def check_role_tenants(
    role: Role, permission_tenants: Mapping[str, str | None], role_tenants: Mapping[str, str | None]
) -> None:
    """Refuse the first permission or parent of ``role`` it may not reference.

    The mappings give the tenant of each referenced id; ids missing from them
    are left to the existence checks.
    """
    links = [("lists permission", pid, permission_tenants) for pid in role.permissions]
    links += [("names parent role", rid, role_tenants) for rid in role.parent_roles]
    for verb, target, tenants in links:
        if target in tenants and not may_reference(role.tenant_id, tenants[target]):
            raise ConflictError(
                f"role {role.role_name!r} ({owner(role.tenant_id)}) {verb} {target!r} of "
                f"{owner(tenants[target])}; {RULE}"
            )


def check_assignment_tenant(assignment: RoleAssignment, role_tenant: str | None) -> None:
    """Refuse ``assignment`` if it may not name its role, whose tenant is ``role_tenant``."""
    if not may_reference(assignment.tenant_id, role_tenant):
        raise ConflictError(
            f"role assignment {assignment.assignment_id!r} ({owner(assignment.tenant_id)}) names role "
            f"{assignment.role_id!r} of {owner(role_tenant)}; {RULE}"
        )


def check_move(what: str, new_tenant: str | None, referrers: Iterable[Referrer]) -> None:
    """Refuse moving ``what`` to ``new_tenant`` if one of the records referencing it could no longer do so.

    ``referrers`` may be lazy: it is read only up to the first that breaks the rule.
    """
    for referrer in referrers:
        if not may_reference(referrer.tenant, new_tenant):
            raise ConflictError(
                f"{what} cannot move to {owner(new_tenant)} because {referrer.what} ({owner(referrer.tenant)}) "
                f"{referrer.verb}; {RULE}, so remove that reference first"
            )
