"""``verify_policy_state``: direct edits of the policy tables are caught by replaying the trail."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from greenlang.audit.state import verify_policy_state
from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.auth.policyfile import apply_policy, load_policy_file

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "emissions-platform" / "policy.yaml"


@pytest.fixture
def store(tmp_path: Path) -> SQLiteBackend:
    backend = SQLiteBackend(tmp_path / "state.db")
    apply_policy(backend, load_policy_file(EXAMPLE))
    yield backend
    backend.close()


def raw(store: SQLiteBackend, sql: str, *args: object) -> None:
    with sqlite3.connect(store.path) as connection:
        connection.execute(sql, args)


def test_state_written_through_the_api_matches_the_trail(store: SQLiteBackend) -> None:
    report = verify_policy_state(store)
    assert report.ok, report.summary()
    assert report.records_checked == 13 + 5 + 3 + 8


def test_cascading_deletes_replay_exactly(store: SQLiteBackend) -> None:
    viewer = store.get_role_by_name("viewer")
    analyst = store.get_role_by_name("analyst")
    assert viewer is not None
    assert analyst is not None
    store.delete_permission(analyst.permissions[0])  # removed from the analyst role
    store.delete_role(viewer.role_id)  # removed from analyst's parents; bob's assignment goes too
    updated = store.get_role(analyst.role_id)
    assert updated is not None
    assert viewer.role_id not in updated.parent_roles
    report = verify_policy_state(store)
    assert report.ok, report.summary()


def test_a_flipped_effect_is_caught(store: SQLiteBackend) -> None:
    (deny,) = store.list_permissions(effect="deny")
    raw(store, "UPDATE permissions SET effect = 'allow' WHERE permission_id = ?", deny.permission_id)
    assert store.verify_audit().ok  # the chain alone cannot see this
    report = verify_policy_state(store)
    assert not report.ok
    assert report.problem is not None
    assert f"permission {deny.permission_id!r}" in report.problem
    assert "edited outside greenlang" in report.problem


def test_a_deleted_assignment_is_caught(store: SQLiteBackend) -> None:
    (assignment,) = store.list_assignments(subject="erin")
    raw(store, "DELETE FROM role_assignments WHERE assignment_id = ?", assignment.assignment_id)
    report = verify_policy_state(store)
    assert report.problem == f"assignment {assignment.assignment_id} is missing but the trail says it exists"


def test_an_inserted_role_is_caught(store: SQLiteBackend, tmp_path: Path) -> None:
    other = SQLiteBackend(tmp_path / "other.db")
    role = other.create_role({"role_name": "smuggled"})
    other.close()
    with sqlite3.connect(store.path) as connection:
        connection.execute(f"ATTACH DATABASE '{tmp_path / 'other.db'}' AS other")
        connection.execute("INSERT INTO roles SELECT * FROM other.roles")
    report = verify_policy_state(store)
    assert report.problem == f"role {role.role_id} is stored but the trail never created it"


def test_a_widened_assignment_window_is_caught(store: SQLiteBackend) -> None:
    (assignment,) = store.list_assignments(subject="grace")
    raw(store, "UPDATE role_assignments SET expires_at = NULL WHERE assignment_id = ?", assignment.assignment_id)
    report = verify_policy_state(store)
    assert report.problem is not None
    assert report.problem.startswith(f"assignment {assignment.assignment_id}: expires_at is None but the trail says")


def test_a_value_change_that_keeps_the_row_canonical_is_named_field_by_field(store: SQLiteBackend) -> None:
    role = store.get_role_by_name("auditor")
    assert role is not None
    raw(store, "UPDATE roles SET description = 'Read-write' WHERE role_id = ?", role.role_id)
    report = verify_policy_state(store)
    assert report.problem == f"role {role.role_id}: description is 'Read-write' but the trail says {role.description!r}"


@pytest.mark.parametrize(
    ("sql", "column"),
    [
        ("UPDATE policies SET enabled = 5", "enabled"),
        ("UPDATE policies SET created_at = replace(created_at, 'T', ' ')", "created_at"),
        (
            "UPDATE role_assignments SET expires_at = '2027-01-01T00:00:00.000000+01:00' WHERE subject = 'erin'",
            "expires_at",
        ),
        (
            "UPDATE roles SET parent_roles = replace(parent_roles, '\"', ' \"') WHERE role_name = 'analyst'",
            "parent_roles",
        ),
        (
            "UPDATE roles SET permissions = replace(permissions, 'perm_', 'perm\\u005f') WHERE role_name = 'auditor'",
            "permissions",
        ),
        ("UPDATE permissions SET provenance_hash = '00'", "provenance_hash"),
        ("UPDATE policies SET metadata = '{ }'", "metadata"),
    ],
)
def test_edits_that_read_back_as_equal_values_are_caught(store: SQLiteBackend, sql: str, column: str) -> None:
    raw(store, sql)
    report = verify_policy_state(store)
    assert not report.ok
    assert report.problem is not None
    assert f"column {column} in a form greenlang never writes" in report.problem


def test_an_edited_revision_counter_is_caught(store: SQLiteBackend) -> None:
    raw(store, "UPDATE meta SET value = value + 5 WHERE key = 'revision'")
    report = verify_policy_state(store)
    # The example's 5 roles each get one bulk permission write, then 5 roles, 3 policies, 8 assignments: 21.
    assert report.problem == "the store's revision is 26 but the trail holds 21 policy writes"


def test_a_missing_revision_counter_is_reported_not_crashed(store: SQLiteBackend) -> None:
    raw(store, "DELETE FROM meta WHERE key = 'revision'")
    report = verify_policy_state(store)
    assert report.problem == "the store's revision counter is missing or not an integer; the meta table was edited"


def test_look_alike_events_from_other_tools_are_not_policy_writes(store: SQLiteBackend) -> None:
    revision = store.revision()
    for event_type, details in [
        ("role.updated", {"note": "written by the seed's code"}),
        ("permission.deleted", {"reason": "no 'before' record"}),
        ("policy.bulk_created", {"created": "not a list"}),
    ]:
        store.append_audit_event(
            {"event_type": event_type, "resource": "role-legacy", "result": "success", "details": details}
        )
    report = verify_policy_state(store)
    assert report.ok, report.summary()
    assert store.revision() == revision
