"""``greenlang check --tenant``: decisions from one tenant's rows and the shared ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.auth.permissions import Permission
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.cli import main


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.db"
    store = SQLiteBackend(path)
    shared = store.create_permission(Permission(resource="reports:**", action="read", effect="allow"))
    for tenant in ("acme", "globex"):
        role = store.create_role(Role(role_name=f"reader-{tenant}", permissions=[shared.permission_id]))
        store.create_assignment(RoleAssignment(subject=f"{tenant}-user", role_id=role.role_id, tenant_id=tenant))
    store.close()
    return path


def _check(db: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--db", str(db), "check", *args, "--no-audit"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_tenant_sees_its_own_assignments_and_not_another_tenants(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _check(db, capsys, "acme-user", "read", "reports:q1", "--tenant", "acme")[0] == 0
    code, out, _ = _check(db, capsys, "globex-user", "read", "reports:q1", "--tenant", "acme")
    assert code == 1
    assert out.startswith("DENY: ")
    assert _check(db, capsys, "globex-user", "read", "reports:q1")[0] == 0  # the whole store


def test_batch_takes_the_tenant_too(db: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    batch = tmp_path / "requests.jsonl"
    batch.write_text(
        '{"subject": "acme-user", "action": "read", "resource": "reports:q1", "expect": "allow"}\n'
        '{"subject": "globex-user", "action": "read", "resource": "reports:q1", "expect": "deny"}\n'
    )
    code, out, _ = _check(db, capsys, "--batch", str(batch), "--tenant", "acme")
    assert code == 0
    assert [line.count('"allowed": true') for line in out.splitlines()] == [1, 0]


def test_a_malformed_tenant_is_a_usage_error_in_one_sentence(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _check(db, capsys, "acme-user", "read", "reports:q1", "--tenant", "acme corp")
    assert code == 2
    assert out == ""
    assert "tenant must be None or an id of 1 to 64 letters" in err
    assert "Traceback" not in err


def test_the_audit_event_names_the_tenant_whose_view_decided(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["--db", str(db), "check", "acme-user", "read", "reports:q1", "--tenant", "acme"]) == 0
    assert main(["--db", str(db), "check", "acme-user", "read", "reports:q1"]) == 0
    store = SQLiteBackend(db)
    tenanted, whole = [e for e in store.read_audit_events() if e.event_type == "authz.decision"]
    store.close()
    assert tenanted.details["tenant"] == "acme"
    assert "tenant" not in whole.details
