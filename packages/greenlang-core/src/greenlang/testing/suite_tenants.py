"""Conformance checks for tenants: ``tenant_id`` on every record, and ``load_policy_state(tenant=...)``.

A tenant's state is its own rows and the shared ones (``tenant_id`` None), read
in one snapshot with the revision of that moment, and nothing of another
tenant. Stores may build loaded records without validating them again; the
records must still equal, field for field and type for type, what validation
gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from greenlang.auth.backends.base import AuthBackend, PolicyState
from greenlang.auth.conditions import Condition, Operator
from greenlang.auth.permissions import Permission, PermissionEffect
from greenlang.auth.policies import Policy, PolicyRule, PolicyType, Weekday
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.errors import InputError, NotFoundError
from greenlang.testing.hooks import ConformanceHooks
from greenlang.testing.samples import sample_assignment, sample_permission, sample_policy, sample_role

__all__ = ["TenantChecks", "every_field_records"]

START = datetime(2026, 3, 1, 8, 30, 15, 250_000, tzinfo=UTC)


def _ids(state: PolicyState) -> dict[str, list[str]]:
    return {
        "permissions": [p.permission_id for p in state.permissions],
        "roles": [r.role_id for r in state.roles],
        "policies": [p.policy_id for p in state.policies],
        "assignments": [a.assignment_id for a in state.assignments],
    }


def _contents(state: PolicyState) -> dict[str, list[Any]]:
    return {
        "permissions": list(state.permissions),
        "roles": list(state.roles),
        "policies": list(state.policies),
        "assignments": list(state.assignments),
    }


def every_field_records(tenant: str | None, tag: str) -> tuple[Permission, Role, Role, Policy, Policy, RoleAssignment]:
    """One record of each kind with every optional field set (two policies, to cover every rule field)."""
    conditions = [
        {"attribute": "report.status", "operator": "in", "value": ["draft", "final"]},
        {"attribute": "user.clearance", "operator": "between", "value": [1.5, 9]},
        {"attribute": "org.name", "operator": "matches", "value": "acme-*"},
        {"attribute": "request.flag", "operator": "eq"},
    ]
    permission = sample_permission(
        permission_id=f"perm-{tag}",
        resource="emissions:org-1:*:report-2026",
        action="export",
        effect="deny",
        scope="org:acme",
        conditions=conditions,
        metadata={"ticket": "SEC-1", "weights": [1, 2.5, None], "nested": {"é": True}},
        created_at=START,
        updated_at=START + timedelta(days=1),
        created_by="alice",
        tenant_id=tenant,
    )
    parent = sample_role(f"parent-{tag}", role_id=f"role-parent-{tag}", tenant_id=tenant)
    role = sample_role(
        f"role-{tag}",
        role_id=f"role-{tag}",
        description="reads and exports ✓",
        permissions=[permission.permission_id],
        parent_roles=[parent.role_id],
        metadata={"team": "carbon", "level": 3},
        is_system_role=True,
        priority=-7,
        created_at=START,
        updated_at=START + timedelta(hours=2),
        created_by="bob",
        tenant_id=tenant,
    )
    temporal = sample_policy(
        f"temporal-{tag}",
        policy_id=f"pol-temporal-{tag}",
        policy_type="temporal",
        rules=[
            {
                "rule_id": "office-hours",
                "effect": "allow",
                "actions": ["read", "export"],
                "resources": ["reports:**", "emissions:org-1:*"],
                "subjects": ["user-1"],
                "roles": [role.role_name],
                "scope": "org:*",
                "conditions": [conditions[0]],
                "not_before": "2026-01-01T00:00:00+01:00",
                "not_after": START + timedelta(days=300),
                "weekdays": ["mon", "fri", "sun"],
                "hours": [8, 18],
            },
            {"effect": "deny", "actions": ["*"], "resources": ["secrets:**"], "hours": [0, 24]},
        ],
        conditions=[conditions[2]],
        priority=12,
        enabled=False,
        metadata={"owner": "secops"},
        created_at=START,
        updated_at=START + timedelta(minutes=5),
        created_by="carol",
        valid_from=START - timedelta(days=30),
        expires_at=START + timedelta(days=365),
        tenant_id=tenant,
    )
    abac = sample_policy(
        f"abac-{tag}",
        policy_id=f"pol-abac-{tag}",
        policy_type="abac",
        rules=[
            {
                "effect": "deny",
                "actions": ["write"],
                "resources": ["emissions:**"],
                "conditions": [conditions[1], conditions[3]],
            }
        ],
        tenant_id=tenant,
    )
    assignment = sample_assignment(
        role.role_id,
        f"user-{tag}",
        assignment_id=f"asg-{tag}",
        scope="org:acme",
        valid_from="2026-01-01T00:00:00+01:00",
        expires_at=START + timedelta(days=365),
        metadata={"ticket": 42},
        created_at=START,
        created_by="dave",
        tenant_id=tenant,
    )
    return permission, parent, role, temporal, abac, assignment


def _store(backend: AuthBackend, records: Sequence[Any]) -> None:
    for record in records:
        if isinstance(record, Permission):
            backend.create_permission(record)
        elif isinstance(record, Role):
            backend.create_role(record)
        elif isinstance(record, Policy):
            backend.create_policy(record)
        else:
            backend.create_assignment(record)


def _same_types(loaded: Any, wanted: Any, where: str) -> None:
    """``loaded`` holds values of exactly the types ``wanted`` (a validated record) holds, all the way down."""
    assert type(loaded) is type(wanted), f"{where}: {type(loaded).__name__} is not {type(wanted).__name__}"
    if isinstance(wanted, Permission | Role | Policy | RoleAssignment | PolicyRule | Condition):
        for name in type(wanted).model_fields:
            _same_types(getattr(loaded, name), getattr(wanted, name), f"{where}.{name}")
    elif isinstance(wanted, list | tuple):
        assert len(loaded) == len(wanted), where
        for index, (got, want) in enumerate(zip(loaded, wanted, strict=True)):
            _same_types(got, want, f"{where}[{index}]")
    elif isinstance(wanted, dict):
        assert loaded.keys() == wanted.keys(), where
        for key in wanted:
            _same_types(loaded[key], wanted[key], f"{where}[{key!r}]")
    elif isinstance(wanted, datetime):
        assert loaded.utcoffset() == timedelta(0), f"{where}: {loaded!r} is not UTC"
        assert loaded.tzinfo is not None, f"{where}: {loaded!r} is naive"


class TenantChecks(ConformanceHooks):
    def test_tenant_id_round_trips_on_every_kind(self, backend: AuthBackend) -> None:
        permission, parent, role, temporal, _, assignment = every_field_records("acme", "one")
        _store(backend, [permission, parent, role, temporal, assignment])
        fetched = [
            backend.get_permission(permission.permission_id),
            backend.get_role(role.role_id),
            backend.get_policy(temporal.policy_id),
            backend.get_assignment(assignment.assignment_id),
        ]
        assert [record.tenant_id if record else None for record in fetched] == ["acme"] * 4
        moved = backend.update_role(role.role_id, {"tenant_id": "beta"})
        assert moved.tenant_id == "beta"
        shared = backend.update_permission(permission.replace(tenant_id=None))
        assert backend.get_permission(permission.permission_id) == shared
        assert shared.tenant_id is None
        assert shared.provenance_hash == permission.provenance_hash  # the tenant is not part of the content

    def test_tenant_load_reads_the_tenants_rows_and_the_shared_ones(self, backend: AuthBackend) -> None:
        shared = backend.create_permission(sample_permission(action="read"))
        acme = backend.bulk_create_permissions(
            [sample_permission(action=a, tenant_id="acme") for a in ("write", "export")]
        )
        beta = backend.create_permission(sample_permission(action="approve", tenant_id="beta"))
        acme_role = backend.create_role(
            sample_role("acme-viewer", permissions=[acme[0].permission_id], tenant_id="acme")
        )
        base_role = backend.create_role(sample_role("everyone", permissions=[shared.permission_id]))
        beta_role = backend.bulk_create_roles(
            [sample_role("beta-viewer", permissions=[beta.permission_id], tenant_id="beta")]
        )[0]
        acme_policy = backend.create_policy(sample_policy("acme-guard", tenant_id="acme"))
        beta_policy = backend.bulk_create_policies([sample_policy("beta-guard", tenant_id="beta")])[0]
        base_policy = backend.create_policy(sample_policy("base-guard"))
        acme_grant = backend.create_assignment(sample_assignment(acme_role.role_id, "ann", tenant_id="acme"))
        base_grant = backend.bulk_create_assignments([sample_assignment(base_role.role_id, "sam")])[0]
        beta_grant = backend.create_assignment(sample_assignment(beta_role.role_id, "bea", tenant_id="beta"))

        assert _ids(backend.load_policy_state(tenant="acme")) == {
            "permissions": [shared.permission_id, *(p.permission_id for p in acme)],
            "roles": [acme_role.role_id, base_role.role_id],
            "policies": [acme_policy.policy_id, base_policy.policy_id],
            "assignments": [acme_grant.assignment_id, base_grant.assignment_id],
        }
        assert _ids(backend.load_policy_state(tenant="beta")) == {
            "permissions": [shared.permission_id, beta.permission_id],
            "roles": [base_role.role_id, beta_role.role_id],
            "policies": [beta_policy.policy_id, base_policy.policy_id],
            "assignments": [base_grant.assignment_id, beta_grant.assignment_id],
        }
        assert _ids(backend.load_policy_state(tenant="nobody")) == {
            "permissions": [shared.permission_id],
            "roles": [base_role.role_id],
            "policies": [base_policy.policy_id],
            "assignments": [base_grant.assignment_id],
        }
        everything = backend.load_policy_state()
        assert len(everything.permissions) == 4
        assert _ids(everything)["roles"] == [acme_role.role_id, base_role.role_id, beta_role.role_id]
        assert _ids(backend.load_policy_state(tenant=None)) == _ids(everything)

    def test_tenant_names_match_exactly(self, backend: AuthBackend) -> None:
        tenants = ("acme", "Acme", "acme-eu", "acme_", "acm")  # case, prefixes and a LIKE wildcard
        for tenant in tenants:
            backend.create_permission(sample_permission(tenant_id=tenant))
        for tenant in tenants:
            assert [p.tenant_id for p in backend.load_policy_state(tenant=tenant).permissions] == [tenant]

    def test_tenant_load_reports_the_revision_of_its_snapshot(self, backend: AuthBackend) -> None:
        backend.create_permission(sample_permission(tenant_id="acme"))
        first = backend.load_policy_state(tenant="acme")
        assert first.revision == backend.revision()
        backend.create_permission(sample_permission(action="write", tenant_id="beta"))
        moved = backend.load_policy_state(tenant="acme")
        assert moved.revision == backend.revision() == first.revision + 1  # any write moves the store's revision
        assert _ids(moved) == _ids(first)
        added = backend.create_permission(sample_permission(action="export", tenant_id="acme"))
        again = backend.load_policy_state(tenant="acme")
        assert again.revision == first.revision + 2
        assert _ids(again)["permissions"] == [*_ids(first)["permissions"], added.permission_id]

    def test_tenant_load_inside_a_transaction_sees_its_writes(self, backend: AuthBackend) -> None:
        backend.create_permission(sample_permission(tenant_id="acme"))
        before = backend.load_policy_state(tenant="acme")
        with backend.atomic():
            added = backend.create_permission(sample_permission(action="write", tenant_id="acme"))
            inside = backend.load_policy_state(tenant="acme")
            assert inside.revision == backend.revision() == before.revision + 1
            assert _ids(inside)["permissions"] == [*_ids(before)["permissions"], added.permission_id]
        after = backend.load_policy_state(tenant="acme")
        assert (after.revision, _ids(after)) == (inside.revision, _ids(inside))

    @pytest.mark.parametrize(
        "tenant",
        ["", "   ", "acme eu", "acme/eu", "acme\x00", "ä", "x" * 65, 5, b"acme", ["acme"], True],
        ids=["empty", "blank", "space", "slash", "nul", "non-ascii", "too-long", "int", "bytes", "list", "bool"],
    )
    def test_malformed_tenant_is_refused_and_changes_nothing(self, backend: AuthBackend, tenant: Any) -> None:
        backend.create_permission(sample_permission(tenant_id="acme"))
        revision = backend.revision()
        with pytest.raises(InputError) as refused:
            backend.load_policy_state(tenant=tenant)
        message = str(refused.value)
        assert message.startswith("tenant must be None or an id of 1 to 64 letters")
        assert "\n" not in message
        assert len(message) < 300
        assert backend.revision() == revision

    def test_a_record_with_a_malformed_tenant_id_is_refused(self, backend: AuthBackend) -> None:
        with pytest.raises(InputError, match="tenant_id"):
            backend.create_permission(
                {"resource": "emissions:data", "action": "read", "effect": "allow", "tenant_id": "a b"}
            )
        with pytest.raises(InputError, match="tenant_id"):
            backend.create_role({"role_name": "viewer", "tenant_id": "x" * 65})
        assert backend.list_permissions() == []
        assert backend.list_roles() == []

    @pytest.mark.parametrize("tenant", ["acme", None])
    def test_loaded_records_equal_the_validated_ones_field_for_field(
        self, backend: AuthBackend, tenant: str | None
    ) -> None:
        """Whatever shortcut a store takes to build loaded records, they equal what validation makes of the rows."""
        ours = every_field_records(tenant, "ours")
        other = every_field_records("beta", "other")
        _store(backend, [*ours, *other])
        permission, parent, role, temporal, abac, assignment = ours
        wanted: dict[str, list[Any]] = {
            "permissions": [permission],
            "roles": [parent, role],
            "policies": [temporal, abac],
            "assignments": [assignment],
        }
        state = backend.load_policy_state(tenant="acme" if tenant else "ours-only")
        if tenant is None:  # a shared record: every tenant sees it, and the whole store holds both sets
            everything = _contents(backend.load_policy_state())
            for kind, records in wanted.items():
                assert everything[kind][: len(records)] == records
        loaded = _contents(state)
        assert loaded == wanted
        fetched = {
            "permissions": [backend.get_permission(permission.permission_id)],
            "roles": [backend.get_role(parent.role_id), backend.get_role(role.role_id)],
            "policies": [backend.get_policy(temporal.policy_id), backend.get_policy(abac.policy_id)],
            "assignments": [backend.get_assignment(assignment.assignment_id)],
        }
        assert loaded == fetched
        for kind, records in wanted.items():
            for index, record in enumerate(records):
                _same_types(loaded[kind][index], record, f"{kind}[{index}]")
                assert loaded[kind][index].model_dump(mode="json") == record.model_dump(mode="json")
        rule = state.policies[0].rules[0]
        assert (rule.hours, rule.weekdays[0], rule.conditions[0].operator) == ((8, 18), Weekday.MON, Operator.IN)
        assert (state.permissions[0].effect, state.policies[0].policy_type) == (
            PermissionEffect.DENY,
            PolicyType.TEMPORAL,
        )
        assert rule.not_before == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)

    def test_bulk_roles_may_name_earlier_roles_of_the_batch_as_parents_not_later_ones(
        self, backend: AuthBackend
    ) -> None:
        base = sample_role("base", role_id="role-base")
        middle = sample_role("middle", role_id="role-middle", parent_roles=[base.role_id])
        top = sample_role("top", role_id="role-top", parent_roles=[middle.role_id, base.role_id])
        assert backend.bulk_create_roles([base, middle, top]) == [base, middle, top]
        early = sample_role("early", role_id="role-early", parent_roles=["role-late"])
        late = sample_role("late", role_id="role-late")
        revision = backend.revision()
        with pytest.raises(NotFoundError, match="role-late"):
            backend.bulk_create_roles([early, late])
        assert backend.revision() == revision
        assert backend.get_role("role-late") is None
