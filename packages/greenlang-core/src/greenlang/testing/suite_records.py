"""Conformance checks for permissions, roles, policies and role assignments."""

from __future__ import annotations

from typing import Any

import pytest

from greenlang.auth.backends.base import AuthBackend
from greenlang.auth.permissions import Permission
from greenlang.auth.roles import Role
from greenlang.errors import ConflictError, InputError, NotFoundError
from greenlang.testing.hooks import ConformanceHooks
from greenlang.testing.samples import sample_assignment, sample_permission, sample_policy, sample_role

__all__ = ["RecordChecks", "store_contents"]


def ids(permissions: list[Permission]) -> list[str]:
    return [p.permission_id for p in permissions]


def store_contents(backend: AuthBackend) -> dict[str, Any]:
    """Everything the store holds, in JSON form: compare before and after to prove 'nothing changed'."""
    head = backend.audit_head()
    return {
        "permissions": [p.model_dump(mode="json") for p in backend.list_permissions()],
        "roles": [r.model_dump(mode="json") for r in backend.list_roles()],
        "policies": [p.model_dump(mode="json") for p in backend.list_policies()],
        "assignments": [a.model_dump(mode="json") for a in backend.list_assignments()],
        "audit": [e.model_dump(mode="json") for e in backend.iter_audit_events()],
        "head": None if head is None else (head.sequence, head.hash),
        "revision": backend.revision(),
    }


class RecordChecks(ConformanceHooks):
    # permissions ------------------------------------------------------------
    def test_permission_round_trips_every_field(self, backend: AuthBackend) -> None:
        wanted = sample_permission(
            resource="emissions:org-1:*:report-2026",
            action="export",
            effect="deny",
            scope="org:acme",
            conditions=[{"attribute": "report.confidential", "operator": "eq", "value": True}],
            metadata={"ticket": "SEC-1", "weights": [1, 2.5]},
            created_by="alice",
        )
        stored = backend.create_permission(wanted)
        assert stored == wanted
        assert backend.get_permission(wanted.permission_id) == wanted

    def test_permission_accepts_a_mapping(self, backend: AuthBackend) -> None:
        stored = backend.create_permission({"resource": "emissions:data", "action": "read", "effect": "allow"})
        fetched = backend.get_permission(stored.permission_id)
        assert fetched is not None
        assert (fetched.resource, fetched.action, fetched.effect.value) == ("emissions:data", "read", "allow")

    @pytest.mark.parametrize(
        "bad",
        [
            {"resource": "*foo", "action": "read", "effect": "allow"},
            {"resource": "emissions::site", "action": "read", "effect": "allow"},
            {"resource": "   ", "action": "read", "effect": "allow"},
            {"resource": "emissions:data", "action": "read", "effect": "maybe"},
            {"resource": "emissions:data", "action": "read", "effect": "allow", "colour": "red"},
        ],
    )
    def test_case_A2_malformed_permission_is_refused_and_nothing_changes(
        self, backend: AuthBackend, bad: dict[str, Any]
    ) -> None:
        before = store_contents(backend)
        with pytest.raises(InputError):
            backend.create_permission(bad)
        assert store_contents(backend) == before

    def test_permission_id_is_unique(self, backend: AuthBackend) -> None:
        first = backend.create_permission(sample_permission())
        with pytest.raises(ConflictError, match=first.permission_id):
            backend.create_permission(sample_permission(permission_id=first.permission_id, action="write"))
        assert backend.get_permission(first.permission_id) == first

    def test_permission_update_keeps_creation_and_stamps_update(self, backend: AuthBackend) -> None:
        first = backend.create_permission(sample_permission(created_by="alice"))
        updated = backend.update_permission(first.replace(action="write", created_by="mallory"))
        fetched = backend.get_permission(first.permission_id)
        assert fetched is not None
        assert fetched == updated
        assert fetched.action == "write"
        assert fetched.created_at == first.created_at
        assert fetched.created_by == "alice"
        assert fetched.updated_at is not None

    def test_unknown_ids_are_reported(self, backend: AuthBackend) -> None:
        role = backend.create_role(sample_role("viewer"))
        assert backend.get_permission("perm_missing") is None
        assert backend.get_role("role_missing") is None
        assert backend.get_role_by_name("missing") is None
        assert backend.get_policy("pol_missing") is None
        assert backend.get_policy_by_name("missing") is None
        assert backend.get_assignment("asg_missing") is None
        with pytest.raises(NotFoundError):
            backend.update_permission(sample_permission(permission_id="perm_missing"))
        with pytest.raises(NotFoundError):
            backend.update_role(sample_role("ghost", role_id="role_missing"))
        with pytest.raises(NotFoundError):
            backend.update_policy(sample_policy("ghost", policy_id="pol_missing"))
        with pytest.raises(NotFoundError):
            backend.update_assignment(sample_assignment(role.role_id, assignment_id="asg_missing"))
        before = store_contents(backend)
        assert backend.delete_permission("perm_missing") is False
        assert backend.delete_role("role_missing") is False
        assert backend.delete_policy("pol_missing") is False
        assert backend.delete_assignment("asg_missing") is False
        assert store_contents(backend) == before

    def test_delete_permission_also_removes_it_from_roles(self, backend: AuthBackend) -> None:
        keep, drop = backend.bulk_create_permissions([sample_permission(), sample_permission(action="write")])
        role = backend.create_role(sample_role("editor", permissions=[keep.permission_id, drop.permission_id]))
        assert backend.delete_permission(drop.permission_id) is True
        assert backend.get_permission(drop.permission_id) is None
        fetched = backend.get_role(role.role_id)
        assert fetched is not None
        assert fetched.permissions == [keep.permission_id]
        assert backend.delete_permission(drop.permission_id) is False

    def test_list_permissions_filters_and_pages(self, backend: AuthBackend) -> None:
        a = backend.create_permission(sample_permission(scope="org:acme", action="read"))
        b = backend.create_permission(sample_permission(scope="org:acme", action="write", effect="deny"))
        c = backend.create_permission(sample_permission(scope="org:beta", resource="reports:**", action="read"))
        assert ids(backend.list_permissions()) == [a.permission_id, b.permission_id, c.permission_id]
        assert ids(backend.list_permissions(scope="org:acme")) == [a.permission_id, b.permission_id]
        assert ids(backend.list_permissions(action="read")) == [a.permission_id, c.permission_id]
        assert ids(backend.list_permissions(effect="deny")) == [b.permission_id]
        assert ids(backend.list_permissions(resource="reports:**")) == [c.permission_id]
        assert ids(backend.list_permissions(scope="org:acme", action="write")) == [b.permission_id]
        assert backend.list_permissions(scope="org:none") == []
        assert ids(backend.list_permissions(limit=2)) == [a.permission_id, b.permission_id]
        assert ids(backend.list_permissions(limit=2, offset=2)) == [c.permission_id]
        assert backend.list_permissions(limit=0) == []

    @pytest.mark.parametrize(
        "arguments",
        [{"limit": -1}, {"offset": -1}, {"scope": ""}, {"resource": "   "}, {"effect": "maybe"}],
    )
    def test_list_refuses_bad_arguments(self, backend: AuthBackend, arguments: dict[str, Any]) -> None:
        with pytest.raises(InputError):
            backend.list_permissions(**arguments)

    @pytest.mark.parametrize("method", ["list_roles", "list_policies", "list_assignments"])
    def test_every_list_refuses_negative_paging(self, backend: AuthBackend, method: str) -> None:
        with pytest.raises(InputError):
            getattr(backend, method)(limit=-1)
        with pytest.raises(InputError):
            getattr(backend, method)(offset=-5)

    def test_case_A4_delete_by_id_leaves_exactly_the_other_two(self, backend: AuthBackend) -> None:
        created = backend.bulk_create_permissions(
            [sample_permission(scope="org:acme", action=action) for action in ("read", "write", "export")]
        )
        assert backend.delete_permission(created[1].permission_id) is True
        remaining = backend.list_permissions(scope="org:acme")
        assert [p.permission_id for p in remaining] == [created[0].permission_id, created[2].permission_id]

    @pytest.mark.parametrize(
        "filters",
        [{}, {"scope": None}, {"scope": ""}, {"resource": ""}, {"scope": "", "resource": None}, {"scope": "  "}],
    )
    def test_case_A4_bulk_delete_without_a_filter_raises_and_deletes_nothing(
        self, backend: AuthBackend, filters: dict[str, Any]
    ) -> None:
        backend.bulk_create_permissions(
            [sample_permission(scope="org:acme", action=a) for a in ("read", "write", "export")]
        )
        before = store_contents(backend)
        with pytest.raises(InputError):
            backend.delete_permissions(**filters)
        assert store_contents(backend) == before

    def test_case_A4_bulk_delete_by_filter_is_exact(self, backend: AuthBackend) -> None:
        acme = backend.bulk_create_permissions(
            [sample_permission(scope="org:acme", action=a) for a in ("read", "write")]
        )
        other = backend.create_permission(sample_permission(scope="org:acme-2"))
        wild = backend.create_permission(sample_permission(scope="org:*"))
        assert backend.delete_permissions(scope="org:acme", actor="alice") == 2
        assert [p.permission_id for p in backend.list_permissions()] == [other.permission_id, wild.permission_id]
        deleted = [e.resource or "" for e in backend.read_audit_events() if e.event_type == "permission.deleted"]
        assert sorted(deleted) == sorted(p.permission_id for p in acme)
        assert backend.delete_permissions(scope="org:acme") == 0

    # roles --------------------------------------------------------------------
    def test_update_by_id_with_changes_the_seed_way(self, backend: AuthBackend) -> None:
        perm = backend.create_permission(sample_permission())
        role = backend.create_role(sample_role("viewer", description="old"))
        updated = backend.update_role(role.role_id, {"description": "new", "permissions": [perm.permission_id]})
        assert (updated.role_name, updated.description, updated.permissions) == ("viewer", "new", [perm.permission_id])
        assert updated.created_at == role.created_at
        assert updated.updated_at is not None
        assert backend.get_role(role.role_id) == updated
        event = backend.read_audit_events()[-1]
        assert (event.event_type, event.resource) == ("role.updated", role.role_id)
        assert (event.details["before"]["description"], event.details["after"]["description"]) == ("old", "new")
        moved = backend.update_permission(perm.permission_id, {"action": "write"})
        assert (moved.permission_id, moved.action) == (perm.permission_id, "write")
        assert moved.provenance_hash != perm.provenance_hash  # derived from the new content, not copied

    @pytest.mark.parametrize(
        ("arguments", "error"),
        [
            (("role-missing", {"description": "x"}), NotFoundError),
            (("ROLE", {"role_id": "role-other"}), InputError),
            (("ROLE", {"colour": "blue"}), InputError),
            (("ROLE", ["description"]), InputError),
            (("ROLE", None), InputError),
            (("ROLE-RECORD", {"description": "x"}), InputError),
            (("ROLE", {"role_name": "bad name"}), InputError),
        ],
    )
    def test_update_by_id_refuses_bad_changes_and_changes_nothing(
        self, backend: AuthBackend, arguments: tuple[Any, Any], error: type[Exception]
    ) -> None:
        role = backend.create_role(sample_role("viewer"))
        name, changes = arguments
        targets: dict[str, Role | str] = {"ROLE": role.role_id, "ROLE-RECORD": role}
        target = targets.get(name, name)
        before = store_contents(backend)
        with pytest.raises(error):
            backend.update_role(target, changes)
        assert store_contents(backend) == before

    def test_role_round_trips_and_is_found_by_name(self, backend: AuthBackend) -> None:
        perm = backend.create_permission(sample_permission())
        parent = backend.create_role(sample_role("viewer", permissions=[perm.permission_id]))
        wanted = sample_role(
            "analyst",
            description="reads and exports",
            parent_roles=[parent.role_id],
            metadata={"team": "carbon"},
            is_system_role=True,
            priority=7,
        )
        assert backend.create_role(wanted) == wanted
        assert backend.get_role(wanted.role_id) == wanted
        assert backend.get_role_by_name("analyst") == wanted
        assert [r.role_id for r in backend.list_roles()] == [parent.role_id, wanted.role_id]
        assert [r.role_id for r in backend.list_roles(offset=1)] == [wanted.role_id]

    def test_role_name_is_unique_on_create_and_rename(self, backend: AuthBackend) -> None:
        viewer = backend.create_role(sample_role("viewer"))
        editor = backend.create_role(sample_role("editor"))
        with pytest.raises(ConflictError, match="viewer"):
            backend.create_role(sample_role("viewer"))
        with pytest.raises(ConflictError, match="viewer"):
            backend.update_role(editor.replace(role_name="viewer"))
        assert backend.get_role_by_name("viewer") == viewer
        assert backend.get_role(editor.role_id) == editor

    def test_role_must_name_existing_permissions_and_parents(self, backend: AuthBackend) -> None:
        before = store_contents(backend)
        with pytest.raises(NotFoundError, match="perm_missing"):
            backend.create_role(sample_role("viewer", permissions=["perm_missing"]))
        with pytest.raises(NotFoundError, match="role_missing"):
            backend.create_role(sample_role("viewer", parent_roles=["role_missing"]))
        assert store_contents(backend) == before

    def test_case_A3_api_refuses_a_role_cycle(self, backend: AuthBackend) -> None:
        a = backend.create_role(sample_role("role-a"))
        b = backend.create_role(sample_role("role-b", parent_roles=[a.role_id]))
        c = backend.create_role(sample_role("role-c", parent_roles=[b.role_id]))
        before = store_contents(backend)
        with pytest.raises(ConflictError) as refused:
            backend.update_role(a.replace(parent_roles=[c.role_id]))
        assert all(name in str(refused.value) for name in ("role-a", "role-b", "role-c"))
        with pytest.raises(ConflictError, match="role-a"):
            backend.update_role(a.replace(parent_roles=[b.role_id]))
        with pytest.raises(InputError):
            backend.update_role({**a.model_dump(), "parent_roles": [a.role_id]})
        assert store_contents(backend) == before

    def test_case_A3_a_stored_cycle_still_reads_and_can_be_broken(self, backend: AuthBackend) -> None:
        a = backend.create_role(sample_role("role-a"))
        b = backend.create_role(sample_role("role-b", parent_roles=[a.role_id]))
        self.force_role_parents(backend, a.role_id, [b.role_id])
        fetched = backend.get_role(a.role_id)
        assert fetched is not None
        assert fetched.parent_roles == [b.role_id]
        state = backend.load_policy_state()
        assert {r.role_id: r.parent_roles for r in state.roles} == {a.role_id: [b.role_id], b.role_id: [a.role_id]}
        with pytest.raises(ConflictError):
            backend.update_role(fetched.replace(description="still cyclic"))
        repaired = backend.update_role(fetched.replace(parent_roles=[]))
        assert repaired.parent_roles == []
        assert backend.get_role(a.role_id) == repaired

    def test_delete_role_unlinks_children_and_drops_its_assignments(self, backend: AuthBackend) -> None:
        parent = backend.create_role(sample_role("viewer"))
        child = backend.create_role(sample_role("editor", parent_roles=[parent.role_id]))
        held = backend.create_assignment(sample_assignment(parent.role_id, "user-1"))
        kept = backend.create_assignment(sample_assignment(child.role_id, "user-2"))
        assert backend.delete_role(parent.role_id) is True
        assert backend.get_role(parent.role_id) is None
        fetched = backend.get_role(child.role_id)
        assert fetched is not None
        assert fetched.parent_roles == []
        assert backend.get_assignment(held.assignment_id) is None
        assert backend.list_assignments() == [kept]

    # policies -------------------------------------------------------------------
    def test_policy_round_trips_filters_and_updates(self, backend: AuthBackend) -> None:
        on = sample_policy(
            "temporal-reads",
            policy_type="temporal",
            rules=[
                {
                    "rule_id": "office-hours",
                    "effect": "allow",
                    "actions": ["read"],
                    "resources": ["reports:**"],
                    "weekdays": ["mon", "tue"],
                    "hours": [8, 18],
                }
            ],
            priority=3,
            metadata={"owner": "secops"},
        )
        off = sample_policy("dormant", enabled=False)
        assert backend.create_policy(on) == on
        backend.create_policy(off)
        assert backend.get_policy(on.policy_id) == on
        assert backend.get_policy_by_name("dormant") == off
        assert backend.list_policies(enabled=True) == [on]
        assert backend.list_policies(enabled=False) == [off]
        assert len(backend.list_policies()) == 2
        updated = backend.update_policy(off.replace(enabled=True))
        assert backend.get_policy(off.policy_id) == updated
        assert updated.enabled is True
        with pytest.raises(ConflictError, match="dormant"):
            backend.create_policy(sample_policy("dormant"))
        with pytest.raises(ConflictError, match="temporal-reads"):
            backend.update_policy(off.replace(policy_name="temporal-reads"))
        assert backend.delete_policy(on.policy_id) is True
        assert backend.list_policies() == [updated]

    # role assignments -------------------------------------------------------------
    def test_assignment_round_trips_filters_and_needs_its_role(self, backend: AuthBackend) -> None:
        viewer = backend.create_role(sample_role("viewer"))
        editor = backend.create_role(sample_role("editor"))
        first = sample_assignment(
            viewer.role_id,
            "user-1",
            scope="org:acme",
            valid_from="2026-01-01T00:00:00+01:00",
            expires_at="2027-01-01T00:00:00+01:00",
            metadata={"ticket": 42},
        )
        assert backend.create_assignment(first) == first
        second = backend.create_assignment(sample_assignment(editor.role_id, "user-1"))
        third = backend.create_assignment(sample_assignment(viewer.role_id, "user-2"))
        assert backend.get_assignment(first.assignment_id) == first
        assert backend.list_assignments(subject="user-1") == [first, second]
        assert backend.list_assignments(role_id=viewer.role_id) == [first, third]
        assert backend.list_assignments(subject="user-2", role_id=viewer.role_id) == [third]
        with pytest.raises(NotFoundError, match="role_missing"):
            backend.create_assignment(sample_assignment("role_missing"))
        with pytest.raises(NotFoundError, match="role_missing"):
            backend.update_assignment(first.replace(role_id="role_missing"))
        moved = backend.update_assignment(first.replace(role_id=editor.role_id))
        assert backend.get_assignment(first.assignment_id) == moved
        assert moved.created_at == first.created_at
        assert backend.delete_assignment(second.assignment_id) is True
        assert backend.list_assignments(subject="user-1") == [moved]

    # bulk -----------------------------------------------------------------------
    def test_bulk_creates_store_everything_in_order(self, backend: AuthBackend) -> None:
        perms = backend.bulk_create_permissions([sample_permission(action=a) for a in ("read", "write")])
        roles = backend.bulk_create_roles(
            [sample_role("viewer", permissions=[perms[0].permission_id]), {"role_name": "editor"}]
        )
        policies = backend.bulk_create_policies([sample_policy("p1"), sample_policy("p2")])
        assignments = backend.bulk_create_assignments([sample_assignment(r.role_id) for r in roles])
        assert backend.list_permissions() == perms
        assert backend.list_roles() == roles
        assert backend.list_policies() == policies
        assert backend.list_assignments() == assignments

    @pytest.mark.parametrize("kind", ["permissions", "roles", "policies", "assignments"])
    def test_bulk_create_is_all_or_nothing(self, backend: AuthBackend, kind: str) -> None:
        role = backend.create_role(sample_role("base"))
        good: dict[str, list[Any]] = {
            "permissions": [sample_permission(action=f"act{i}") for i in range(3)],
            "roles": [sample_role(f"role{i}") for i in range(3)],
            "policies": [sample_policy(f"policy{i}") for i in range(3)],
            "assignments": [sample_assignment(role.role_id, f"user-{i}") for i in range(3)],
        }
        invalid: dict[str, Any] = {
            "permissions": {"resource": "**:x", "action": "read", "effect": "allow"},
            "roles": {"role_name": "bad name with spaces"},
            "policies": {"policy_name": "p", "policy_type": "rbac", "rules": []},
            "assignments": {"role_id": role.role_id, "subject": ""},
        }
        conflicting: dict[str, Any] = {
            "permissions": sample_permission(permission_id=good["permissions"][0].permission_id),
            "roles": sample_role("role0"),
            "policies": sample_policy("policy0"),
            "assignments": sample_assignment("role_missing"),
        }
        create = getattr(backend, f"bulk_create_{kind}")
        before = store_contents(backend)
        with pytest.raises(InputError):
            create([*good[kind], invalid[kind]])
        assert store_contents(backend) == before
        with pytest.raises((ConflictError, NotFoundError)):
            create([*good[kind], conflicting[kind]])
        assert store_contents(backend) == before
        assert len(create(good[kind])) == 3
