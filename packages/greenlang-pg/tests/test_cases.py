"""The authorization cases (../shared/cases, A3 and A5–A7) on PostgreSQL, through both drivers.

The core suite proves them on SQLite; what matters here is that PostgreSQL's
transactions, type conversions and stored rows give the same answers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from stores import Store

from greenlang.auth.engine import Authorizer
from greenlang.auth.policyfile import apply_policy, load_policy_file, parse_policy_file
from greenlang.errors import InputError
from greenlang.testing.samples import sample_permission, sample_role
from greenlang_pg.testing.conformance import raw_connection

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "emissions-platform" / "policy.yaml"


def snapshot(store: Store) -> dict[str, Any]:
    return {
        "permissions": sorted(p.model_dump_json() for p in store.list_permissions()),
        "roles": sorted(r.model_dump_json() for r in store.list_roles()),
        "policies": sorted(p.model_dump_json() for p in store.list_policies()),
        "assignments": sorted(a.model_dump_json() for a in store.list_assignments()),
        "audit_head": store.audit_head(),
        "revision": store.revision(),
    }


def test_case_A5_applying_the_example_twice_reports_no_changes(store: Store) -> None:
    document = load_policy_file(EXAMPLE)
    assert apply_policy(store, document).changed
    after_first = snapshot(store)
    assert apply_policy(store, document).lines() == ["no changes"]
    assert snapshot(store) == after_first
    assert store.verify_audit().ok


def test_case_A6_an_invalid_50th_entry_changes_nothing(store: Store) -> None:
    apply_policy(store, load_policy_file(EXAMPLE))
    before = snapshot(store)
    roles = [{"name": f"role-{i}", "permissions": [{"resource": f"data:set-{i}", "action": "read"}]} for i in range(60)]
    roles[49]["permissions"][0]["resource"] = "emissions::site"
    with pytest.raises(InputError, match=r"roles\.49\.permissions\.0\.resource"):
        apply_policy(store, parse_policy_file({"version": 1, "roles": roles}))
    assert snapshot(store) == before


class _FailsOnThirdRoleWrite:
    """The store, except that its third role write fails: a crash part-way through a replace."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self._role_writes = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in ("create_role", "update_role"):
            return attribute

        def write(*args: Any, **kwargs: Any) -> Any:
            self._role_writes += 1
            if self._role_writes == 3:
                raise RuntimeError("injected failure between the steps of the apply")
            return attribute(*args, **kwargs)

        return write


def test_case_A6_a_failure_part_way_through_an_apply_changes_nothing(store: Store) -> None:
    apply_policy(store, load_policy_file(EXAMPLE))
    before = snapshot(store)
    changed = {
        "version": 1,
        "roles": [
            {"name": f"role-{i}", "permissions": [{"resource": f"data:changed-{i}", "action": "write"}]}
            for i in range(5)
        ],
    }
    with pytest.raises(RuntimeError, match="injected failure"):
        apply_policy(_FailsOnThirdRoleWrite(store), parse_policy_file(changed))  # type: ignore[arg-type]
    assert snapshot(store) == before


def test_case_A7_an_offset_expiry_is_stored_as_the_same_instant(store: Store) -> None:
    permission = store.create_permission(sample_permission(resource="docs:*", action="read"))
    role = store.create_role(sample_role("reader", permissions=[permission.permission_id]))
    grant = store.create_assignment(
        {"subject": "alice", "role_id": role.role_id, "expires_at": "2027-01-01T00:00:00+01:00"}
    )
    stored = store.get_assignment(grant.assignment_id)
    assert stored is not None
    assert stored.expires_at == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    authorizer = Authorizer(store)  # type: ignore[arg-type]
    assert authorizer.check("alice", "read", "docs:1", now=datetime(2026, 12, 31, 22, 59, 59, tzinfo=UTC)).allowed
    assert not authorizer.check("alice", "read", "docs:1", now=datetime(2026, 12, 31, 23, 0, 1, tzinfo=UTC)).allowed


def test_case_A3_a_stored_cycle_terminates_and_answers_consistently(store: Store) -> None:
    permission = store.create_permission(sample_permission(resource="docs:*", action="read"))
    first = store.create_role(sample_role("a", permissions=[permission.permission_id]))
    second = store.create_role(sample_role("b", parent_roles=[first.role_id]))
    store.create_assignment({"subject": "alice", "role_id": second.role_id})
    with raw_connection(store) as conn:  # bypass the API's check: a inherits b, b inherits a
        conn.execute(
            "UPDATE roles SET parent_roles = %s::jsonb WHERE role_id = %s", (f'["{second.role_id}"]', first.role_id)
        )
    authorizer = Authorizer(store)  # type: ignore[arg-type]
    answers = {authorizer.check("alice", "read", "docs:1").allowed for _ in range(3)}
    assert answers == {True}
    assert {r.role_id for r in authorizer.roles_of("alice")} == {first.role_id, second.role_id}
