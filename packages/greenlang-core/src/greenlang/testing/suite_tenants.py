"""Conformance checks for tenants: ``tenant_id`` on every record, and ``load_policy_state(tenant=...)``.

A tenant's state is its own rows and the shared ones (``tenant_id`` None), read
in one snapshot with the revision of that moment, and nothing of another
tenant. Stores may build loaded records without validating them again; the
records must still equal, field for field and type for type, what validation
gives.

A record references only records of its own tenant or shared ones, and a
shared record only shared ones: a role's permissions and parents, an
assignment's role. A write that would break this, including moving a
referenced record to another tenant, is refused and stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from greenlang.auth.backends.base import AuthBackend, PolicyState
from greenlang.auth.conditions import Condition, Operator
from greenlang.auth.permissions import Permission, PermissionEffect
from greenlang.auth.policies import Policy, PolicyRule, PolicyType, Weekday
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.errors import ConflictError, InputError, NotFoundError
from greenlang.testing.hooks import ConformanceHooks
from greenlang.testing.samples import sample_assignment, sample_permission, sample_policy, sample_role

__all__ = ["TenantChecks", "every_field_records"]

START = datetime(2026, 3, 1, 8, 30, 15, 250_000, tzinfo=UTC)
RULE = "a record may only reference records of its own tenant or shared ones (no tenant)"


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


def _stored(backend: AuthBackend) -> tuple[Any, ...]:
    """Everything a refused write must leave as it was: revision, audit head and every record."""
    return (
        backend.revision(),
        backend.audit_head(),
        backend.list_permissions(),
        backend.list_roles(),
        backend.list_policies(),
        backend.list_assignments(),
    )


def _refused(backend: AuthBackend, message: str, write: Callable[[], object]) -> None:
    before = _stored(backend)
    with pytest.raises(ConflictError) as refused:
        write()
    assert type(refused.value) is ConflictError
    assert str(refused.value) == message
    assert _stored(backend) == before


def _permission(backend: AuthBackend, tenant: str | None) -> Permission:
    return backend.create_permission(
        sample_permission(permission_id=f"perm-{tenant or 'shared'}", action="read", tenant_id=tenant)
    )


def _role(backend: AuthBackend, tenant: str | None, **fields: Any) -> Role:
    name = f"role-{tenant or 'shared'}"
    return backend.create_role(sample_role(name, role_id=name, tenant_id=tenant, **fields))


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
        moved = backend.update_role(parent.role_id, {"tenant_id": None})
        assert moved.tenant_id is None
        assert backend.get_role(parent.role_id) == moved
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
        # A state read inside a transaction may yet be rolled back, and its revision number reused by
        # another write: the store says so, and an authorizer then never keeps it.
        assert (getattr(before, "committed", True), getattr(inside, "committed", True)) == (True, False)
        assert getattr(after, "committed", True) is True

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

    # references across tenants ---------------------------------------------------------------------------------
    @pytest.mark.parametrize(("tenant", "owner"), [("acme", "tenant 'acme'"), (None, "no tenant")])
    def test_a_role_listing_another_tenants_permission_is_refused(
        self, backend: AuthBackend, tenant: str | None, owner: str
    ) -> None:
        beta = _permission(backend, "beta")
        message = f"role 'viewer' ({owner}) lists permission 'perm-beta' of tenant 'beta'; {RULE}"
        role = sample_role("viewer", permissions=[beta.permission_id], tenant_id=tenant)
        _refused(backend, message, lambda: backend.create_role(role))
        _refused(backend, message, lambda: backend.bulk_create_roles([role]))

    @pytest.mark.parametrize(("tenant", "owner"), [("acme", "tenant 'acme'"), (None, "no tenant")])
    def test_a_role_naming_a_parent_of_another_tenant_is_refused(
        self, backend: AuthBackend, tenant: str | None, owner: str
    ) -> None:
        _role(backend, "beta")
        message = f"role 'child' ({owner}) names parent role 'role-beta' of tenant 'beta'; {RULE}"
        role = sample_role("child", parent_roles=["role-beta"], tenant_id=tenant)
        _refused(backend, message, lambda: backend.create_role(role))
        _refused(backend, message, lambda: backend.bulk_create_roles([role]))

    @pytest.mark.parametrize(("tenant", "owner"), [("acme", "tenant 'acme'"), (None, "no tenant")])
    def test_an_assignment_naming_a_role_of_another_tenant_is_refused(
        self, backend: AuthBackend, tenant: str | None, owner: str
    ) -> None:
        _role(backend, "beta")
        message = f"role assignment 'asg-1' ({owner}) names role 'role-beta' of tenant 'beta'; {RULE}"
        grant = sample_assignment("role-beta", assignment_id="asg-1", tenant_id=tenant)
        _refused(backend, message, lambda: backend.create_assignment(grant))
        _refused(backend, message, lambda: backend.bulk_create_assignments([grant]))

    def test_a_bulk_write_with_one_bad_reference_stores_none_of_the_batch(self, backend: AuthBackend) -> None:
        _permission(backend, "acme")
        _permission(backend, "beta")
        good = sample_role("good", role_id="good", permissions=["perm-acme"], tenant_id="acme")
        base = sample_role("base", role_id="base", tenant_id="beta")
        child = sample_role("child", role_id="child", parent_roles=["good", "base"], tenant_id="acme")
        message = f"role 'child' (tenant 'acme') names parent role 'base' of tenant 'beta'; {RULE}"
        _refused(backend, message, lambda: backend.bulk_create_roles([good, base, child]))
        bad = sample_role("bad", permissions=["perm-acme", "perm-beta"], tenant_id="acme")
        message = f"role 'bad' (tenant 'acme') lists permission 'perm-beta' of tenant 'beta'; {RULE}"
        _refused(backend, message, lambda: backend.bulk_create_roles([good, bad]))
        backend.bulk_create_roles([good, base])
        grants = [
            sample_assignment("good", "ann", assignment_id="asg-ann", tenant_id="acme"),
            sample_assignment("base", "bob", assignment_id="asg-bob", tenant_id="acme"),
        ]
        message = f"role assignment 'asg-bob' (tenant 'acme') names role 'base' of tenant 'beta'; {RULE}"
        _refused(backend, message, lambda: backend.bulk_create_assignments(grants))

    def test_an_update_adding_a_reference_to_another_tenant_is_refused(self, backend: AuthBackend) -> None:
        _permission(backend, "beta")
        _role(backend, "beta")
        role = _role(backend, "acme")
        grant = backend.create_assignment(sample_assignment(role.role_id, assignment_id="asg-1", tenant_id="acme"))
        message = f"role 'role-acme' (tenant 'acme') lists permission 'perm-beta' of tenant 'beta'; {RULE}"
        _refused(backend, message, lambda: backend.update_role(role.role_id, {"permissions": ["perm-beta"]}))
        message = f"role 'role-acme' (tenant 'acme') names parent role 'role-beta' of tenant 'beta'; {RULE}"
        _refused(backend, message, lambda: backend.update_role(role.replace(parent_roles=["role-beta"])))
        message = f"role assignment 'asg-1' (tenant 'acme') names role 'role-beta' of tenant 'beta'; {RULE}"
        _refused(backend, message, lambda: backend.update_assignment(grant.assignment_id, {"role_id": "role-beta"}))
        message = f"role assignment 'asg-1' (tenant 'beta') names role 'role-acme' of tenant 'acme'; {RULE}"
        _refused(backend, message, lambda: backend.update_assignment(grant.replace(tenant_id="beta")))

    def test_a_role_moving_away_from_what_it_references_is_refused(self, backend: AuthBackend) -> None:
        _permission(backend, "acme")
        role = _role(backend, "acme", permissions=["perm-acme"])
        message = f"role 'role-acme' (tenant 'beta') lists permission 'perm-acme' of tenant 'acme'; {RULE}"
        _refused(backend, message, lambda: backend.update_role(role.role_id, {"tenant_id": "beta"}))
        message = f"role 'role-acme' (no tenant) lists permission 'perm-acme' of tenant 'acme'; {RULE}"
        _refused(backend, message, lambda: backend.update_role(role.role_id, {"tenant_id": None}))

    def test_moving_a_referenced_permission_to_another_tenant_is_refused(self, backend: AuthBackend) -> None:
        acme = _permission(backend, "acme")
        shared = _permission(backend, None)
        backend.create_role(sample_role("viewer", permissions=[acme.permission_id], tenant_id="acme"))
        backend.create_role(sample_role("everyone", permissions=[shared.permission_id]))
        message = "permission 'perm-acme' cannot move to tenant 'beta' because role 'viewer' (tenant 'acme') lists it; "
        message += f"{RULE}, so remove that reference first"
        _refused(backend, message, lambda: backend.update_permission(acme.permission_id, {"tenant_id": "beta"}))
        message = "permission 'perm-shared' cannot move to tenant 'acme' because role 'everyone' (no tenant) lists it; "
        message += f"{RULE}, so remove that reference first"
        _refused(backend, message, lambda: backend.update_permission(shared.replace(tenant_id="acme")))

    def test_moving_a_referenced_role_to_another_tenant_is_refused(self, backend: AuthBackend) -> None:
        parent = _role(backend, "acme")
        backend.create_role(sample_role("child", parent_roles=[parent.role_id], tenant_id="acme"))
        message = "role 'role-acme' cannot move to tenant 'beta' because role 'child' (tenant 'acme') names it as a "
        message += f"parent role; {RULE}, so remove that reference first"
        _refused(backend, message, lambda: backend.update_role(parent.role_id, {"tenant_id": "beta"}))
        held = _role(backend, None)
        backend.create_assignment(sample_assignment(held.role_id, assignment_id="asg-1"))
        message = "role 'role-shared' cannot move to tenant 'acme' because role assignment 'asg-1' (no tenant) "
        message += f"names it; {RULE}, so remove that reference first"
        _refused(backend, message, lambda: backend.update_role(held.replace(tenant_id="acme")))

    def test_references_within_a_tenant_and_to_shared_records_are_kept(self, backend: AuthBackend) -> None:
        acme_permission, shared_permission = _permission(backend, "acme"), _permission(backend, None)
        shared_role = _role(backend, None, permissions=[shared_permission.permission_id])
        acme_base = _role(backend, "acme", permissions=[acme_permission.permission_id])
        roles = backend.bulk_create_roles(
            [
                sample_role("mixed", role_id="mixed", permissions=["perm-acme", "perm-shared"], tenant_id="acme"),
                sample_role(
                    "heir", role_id="heir", parent_roles=["mixed", "role-acme", "role-shared"], tenant_id="acme"
                ),
                sample_role("common", role_id="common", parent_roles=["role-shared"], permissions=["perm-shared"]),
            ]
        )
        grants = backend.bulk_create_assignments(
            [
                sample_assignment("heir", "ann", tenant_id="acme"),
                sample_assignment("role-shared", "ann", tenant_id="acme"),
                sample_assignment("common", "sam"),
            ]
        )
        backend.update_role(acme_base.role_id, {"parent_roles": [shared_role.role_id]})
        backend.update_assignment(grants[2].assignment_id, {"role_id": shared_role.role_id})
        state = backend.load_policy_state(tenant="acme")
        assert _ids(state) == {
            "permissions": ["perm-acme", "perm-shared"],
            "roles": ["role-shared", "role-acme", *(role.role_id for role in roles)],
            "policies": [],
            "assignments": [grant.assignment_id for grant in grants],
        }
        assert backend.get_role("role-acme") == state.roles[1]
        assert state.roles[1].parent_roles == ["role-shared"]

    def test_moving_a_referenced_record_to_the_referrers_tenant_or_to_shared_is_kept(
        self, backend: AuthBackend
    ) -> None:
        acme, shared = _permission(backend, "acme"), _permission(backend, None)
        parent = _role(backend, "acme")
        backend.create_role(
            sample_role(
                "viewer", permissions=["perm-acme", "perm-shared"], parent_roles=["role-acme"], tenant_id="acme"
            )
        )
        backend.create_assignment(sample_assignment(parent.role_id, assignment_id="asg-1", tenant_id="acme"))
        revision = backend.revision()
        assert backend.update_permission(acme.permission_id, {"tenant_id": None}).tenant_id is None
        assert backend.update_permission(acme.permission_id, {"tenant_id": "acme"}).tenant_id == "acme"
        assert backend.update_permission(shared.permission_id, {"tenant_id": "acme"}).tenant_id == "acme"
        assert backend.update_role(parent.role_id, {"tenant_id": None}).tenant_id is None
        assert backend.revision() == revision + 4
        assert [p.tenant_id for p in backend.list_permissions()] == ["acme", "acme"]
        assert [r.tenant_id for r in backend.list_roles()] == [None, "acme"]
