"""Policy files: validation before writes, idempotent apply, atomic apply (cases A5, A6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.auth.policyfile import apply_policy, load_policy_file, parse_policy_file
from greenlang.errors import InputError

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "emissions-platform" / "policy.yaml"


def store_state(backend: SQLiteBackend) -> dict[str, Any]:
    """Everything a policy apply could change, in a comparable form."""
    return {
        "permissions": sorted(p.model_dump_json() for p in backend.list_permissions()),
        "roles": sorted(r.model_dump_json() for r in backend.list_roles()),
        "policies": sorted(p.model_dump_json() for p in backend.list_policies()),
        "assignments": sorted(a.model_dump_json() for a in backend.list_assignments()),
        "audit_head": backend.audit_head(),
        "revision": backend.revision(),
    }


@pytest.fixture
def backend(tmp_path: Path) -> SQLiteBackend:
    store = SQLiteBackend(tmp_path / "store.db")
    yield store
    store.close()


def small_document(description: str = "reads", resource: str = "emissions:*:**") -> dict[str, Any]:
    return {
        "version": 1,
        "roles": [
            {"name": "viewer", "description": description, "permissions": [{"resource": resource, "action": "read"}]},
            {
                "name": "analyst",
                "inherits": ["viewer"],
                "permissions": [{"resource": "emissions:*:**", "action": "write"}],
            },
        ],
        "assignments": [{"subject": "alice", "role": "analyst", "scope": "org:acme"}],
        "policies": [
            {
                "name": "no-confidential-export",
                "type": "abac",
                "rules": [
                    {
                        "effect": "deny",
                        "actions": ["export"],
                        "resources": ["reports:**"],
                        "conditions": [{"attribute": "report.confidential", "operator": "eq", "value": True}],
                    }
                ],
            }
        ],
    }


def test_case_A5_applying_the_example_twice_adds_nothing_and_reports_no_changes(backend: SQLiteBackend) -> None:
    document = load_policy_file(EXAMPLE)
    first = apply_policy(backend, document)
    after_first = store_state(backend)
    second = apply_policy(backend, document)
    assert first.changed
    assert second.lines() == ["no changes"]
    assert store_state(backend) == after_first
    counts = backend.get_statistics()
    assert counts["roles_count"] == 5
    assert counts["policies_count"] == 3
    assert counts["assignments_count"] == 8
    assert counts["permissions_count"] == 2 + 4 + 3 + 3 + 1


def test_first_apply_reports_each_created_object(backend: SQLiteBackend) -> None:
    report = apply_policy(backend, parse_policy_file(small_document()))
    assert report.lines() == [
        "+ role viewer (1 permissions)",
        "+ role analyst (1 permissions)",
        "+ policy no-confidential-export",
        "+ assignment alice -> analyst @ org:acme",
    ]


def test_changing_a_role_reports_what_changed(backend: SQLiteBackend) -> None:
    apply_policy(backend, parse_policy_file(small_document()))
    report = apply_policy(backend, parse_policy_file(small_document(description="reads all", resource="reports:**")))
    assert report.lines() == ["~ role viewer (permissions +1 -1, description)"]
    viewer = backend.get_role_by_name("viewer")
    assert viewer is not None
    resources = [backend.get_permission(pid).resource for pid in viewer.permissions]  # type: ignore[union-attr]
    assert resources == ["reports:**"]
    assert [p.resource for p in backend.list_permissions()].count("emissions:*:**") == 1  # analyst's write only


def test_case_A6_invalid_50th_entry_changes_nothing(backend: SQLiteBackend) -> None:
    apply_policy(backend, parse_policy_file(small_document()))
    before = store_state(backend)
    roles = [{"name": f"role-{i}", "permissions": [{"resource": f"data:set-{i}", "action": "read"}]} for i in range(60)]
    roles[49]["permissions"][0]["resource"] = "emissions::site"
    with pytest.raises(InputError) as caught:
        apply_policy(backend, parse_policy_file({"version": 1, "roles": roles}))
    assert "roles.49.permissions.0.resource" in str(caught.value)
    assert "empty segment" in str(caught.value)
    assert store_state(backend) == before


def test_case_A6_failure_between_delete_and_insert_of_a_replace_changes_nothing(
    backend: SQLiteBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_policy(backend, parse_policy_file(small_document()))
    before = store_state(backend)
    deleted: list[str] = []
    real_delete = backend.delete_permission

    def delete_then_record(permission_id: str, **kwargs: Any) -> bool:
        deleted.append(permission_id)
        return real_delete(permission_id, **kwargs)

    def fail_insert(*args: Any, **kwargs: Any) -> Any:
        assert deleted, "the failure must come after the delete step"
        raise RuntimeError("injected failure between delete and insert")

    monkeypatch.setattr(backend, "delete_permission", delete_then_record)
    monkeypatch.setattr(backend, "bulk_create_permissions", fail_insert)
    with pytest.raises(RuntimeError, match="injected failure"):
        apply_policy(backend, parse_policy_file(small_document(resource="reports:**")))
    monkeypatch.undo()
    assert deleted
    assert store_state(backend) == before
    assert backend.verify_audit().ok


def test_dry_run_reports_changes_and_writes_nothing(backend: SQLiteBackend) -> None:
    before = store_state(backend)
    report = apply_policy(backend, parse_policy_file(small_document()), dry_run=True)
    assert len(report.changes) == 4
    assert store_state(backend) == before


def test_prune_deletes_what_the_file_no_longer_names(backend: SQLiteBackend) -> None:
    apply_policy(backend, parse_policy_file(small_document()))
    document = small_document()
    document["roles"] = document["roles"][:1]
    document["assignments"] = []
    document["policies"] = []
    report = apply_policy(backend, parse_policy_file(document), prune=True)
    assert report.lines() == [
        "- assignment alice -> analyst",
        "- policy no-confidential-export",
        "- role analyst",
    ]
    assert [r.role_name for r in backend.list_roles()] == ["viewer"]
    assert len(backend.list_permissions()) == 1


def test_without_prune_unnamed_objects_stay(backend: SQLiteBackend) -> None:
    apply_policy(backend, parse_policy_file(small_document()))
    document = small_document()
    document["policies"] = []
    assert apply_policy(backend, parse_policy_file(document)).lines() == ["no changes"]
    assert len(backend.list_policies()) == 1


def test_changing_an_assignment_window_updates_it(backend: SQLiteBackend) -> None:
    apply_policy(backend, parse_policy_file(small_document()))
    document = small_document()
    document["assignments"][0]["expires_at"] = "2027-01-01T00:00:00+01:00"
    assert apply_policy(backend, parse_policy_file(document)).lines() == [
        "~ assignment alice -> analyst @ org:acme (validity)"
    ]
    (assignment,) = backend.list_assignments()
    assert assignment.expires_at is not None
    assert assignment.expires_at.isoformat() == "2026-12-31T23:00:00+00:00"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["assignments"].append({"subject": "bob", "role": "ghost"}), "names role 'ghost'"),
        (lambda d: d["roles"][0].update(inherits=["analyst"]), "cycle"),
        (lambda d: d["roles"].append(dict(d["roles"][0])), "defined twice"),
        (lambda d: d["roles"][0]["permissions"][0].update(effect="maybe"), "roles.0.permissions.0.effect"),
        (lambda d: d["roles"][0]["permissions"][0].update(action="re ad"), "roles.0.permissions.0.action"),
        (lambda d: d["roles"][0]["permissions"][0].update(scope="acme"), "roles.0.permissions.0.scope"),
        (lambda d: d["roles"][0].update(colour="green"), "roles.0.colour"),
        (lambda d: d["policies"][0].update(type="rbac"), "must name 'roles' or 'subjects'"),
        (
            lambda d: d["policies"][0]["rules"][0]["conditions"][0].update(operator="approximately"),
            "policies.0.rules.0.conditions.0.operator",
        ),
        (lambda d: d.update(version=2), "version"),
    ],
)
def test_bad_files_are_refused_before_any_write(backend: SQLiteBackend, mutate: Any, message: str) -> None:
    document = small_document()
    mutate(document)
    before = store_state(backend)
    with pytest.raises(InputError) as caught:
        apply_policy(backend, parse_policy_file(document))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert store_state(backend) == before


def test_yaml_syntax_errors_are_input_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("roles: [\n  - name: viewer\n")
    with pytest.raises(InputError, match="is not valid YAML"):
        load_policy_file(path)


def test_json_policy_files_are_accepted(tmp_path: Path, backend: SQLiteBackend) -> None:
    import json

    path = tmp_path / "policy.json"
    path.write_text(json.dumps(small_document()))
    assert apply_policy(backend, load_policy_file(path)).changed


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read policy file"):
        load_policy_file(tmp_path / "nope.yaml")


def test_example_policy_round_trips_through_yaml() -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    assert parse_policy_file(data) == load_policy_file(EXAMPLE)


def test_a_permission_listed_twice_in_one_role_is_refused(backend: SQLiteBackend) -> None:
    document = small_document()
    document["roles"][0]["permissions"].append(dict(document["roles"][0]["permissions"][0]))
    with pytest.raises(InputError, match="lists permission 1 twice"):
        parse_policy_file(document)


def test_an_assignment_listed_twice_is_refused(backend: SQLiteBackend) -> None:
    document = small_document()
    document["assignments"].append(dict(document["assignments"][0]))
    with pytest.raises(InputError, match="'alice' is assigned 'analyst' with scope org:acme twice"):
        parse_policy_file(document)
