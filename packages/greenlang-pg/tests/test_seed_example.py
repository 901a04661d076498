"""The issue's example runs as written against a real server, and what it stores is really in PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from greenlang.audit.chain import event_hash
from greenlang.auth.permissions import Permission
from greenlang.jsonvalue import canonical_json
from greenlang_pg import DatabaseConfig, PostgreSQLBackend

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "examples" / "postgresql" / "seed_usage.py"


def run_example(env: dict[str, str]) -> dict[str, str]:
    """Run the example in a fresh interpreter and return the ids it printed."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stderr
    printed = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert set(printed) == {"permission_id", "role_id", "log_id"}, result.stdout
    return printed


def one_row(config: DatabaseConfig, query: str, *params: Any) -> dict[str, Any]:
    with psycopg.connect(**config.libpq_params()) as connection:
        cursor = connection.execute(query, params)
        names = [column.name for column in cursor.description or []]
        rows = cursor.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0], strict=True))


@pytest.fixture
def printed(pg_env: DatabaseConfig) -> dict[str, str]:
    return run_example(dict(os.environ))


def test_the_example_is_the_issue_text_with_only_the_connection_literals_replaced() -> None:
    body = SCRIPT.read_text(encoding="utf-8")
    assert "from greenlang.auth.backends.postgresql import DatabaseConfig, PostgreSQLBackend" in body
    for variable in ("GL_DB_HOST", "GL_DB_PORT", "GL_DB_NAME", "GL_DB_USER", "GL_DB_PASSWORD"):
        assert f'os.environ["{variable}"]' in body
    for literal in ('"localhost"', "5432", '"gl_user"', '"secure_password"'):
        assert literal not in body
    for call in (
        "backend = PostgreSQLBackend(config)",
        "created_perm = backend.create_permission(permission)",
        "role = backend.create_role(role_data)",
        "log_id = backend.log_audit_event(audit_data)",
    ):
        assert call in body


def test_the_example_stores_the_permission(pg_env: DatabaseConfig, printed: dict[str, str]) -> None:
    row = one_row(
        pg_env,
        "SELECT resource, action, effect, scope, conditions, metadata, created_at, provenance_hash "
        "FROM permissions WHERE permission_id = %s",
        printed["permission_id"],
    )
    assert (row["resource"], row["action"], row["effect"], row["scope"]) == (
        "emissions:data",
        "read",
        "allow",
        "organization:123",
    )
    assert row["conditions"] == []
    assert row["metadata"] == {}
    assert row["created_at"] is not None
    expected = Permission(resource="emissions:data", action="read", effect="allow", scope="organization:123")
    assert row["provenance_hash"] == expected.content_hash()
    assert row["provenance_hash"] == hashlib.sha256(canonical_json(expected.content())).hexdigest()


def test_the_example_stores_the_role_with_the_permission_in_its_jsonb_array(
    pg_env: DatabaseConfig, printed: dict[str, str]
) -> None:
    row = one_row(
        pg_env,
        "SELECT role_name, description, permissions, jsonb_typeof(permissions) AS kind, "
        "permissions @> jsonb_build_array(%s::text) AS holds FROM roles WHERE role_id = %s",
        printed["permission_id"],
        printed["role_id"],
    )
    assert row["role_name"] == "emissions_viewer"
    assert row["description"] == "Can view emissions data"
    assert row["kind"] == "array"
    assert row["permissions"] == [printed["permission_id"]]
    assert row["holds"] is True


def test_the_example_logs_the_audit_event_in_the_chain(pg_env: DatabaseConfig, printed: dict[str, str]) -> None:
    row = one_row(
        pg_env,
        "SELECT event_type, user_id, resource, action, result, ip_address, sequence, provenance_hash, "
        "(SELECT max(sequence) FROM audit_logs) AS last, (SELECT count(*) FROM audit_logs) AS total, "
        "(SELECT hash FROM audit_chain_head) AS head FROM audit_logs WHERE log_id = %s",
        printed["log_id"],
    )
    assert {key: row[key] for key in ("event_type", "user_id", "resource", "action", "result", "ip_address")} == {
        "event_type": "permission.granted",
        "user_id": "user123",
        "resource": "emissions:data",
        "action": "read",
        "result": "success",
        "ip_address": "192.168.1.100",
    }
    # creating the permission and the role were audited too, before the example's own event
    assert row["sequence"] == row["last"] == row["total"] == 3
    assert row["provenance_hash"] == row["head"]

    with PostgreSQLBackend(pg_env) as backend:
        report = backend.verify_audit()
        events = backend.read_audit_events()
    assert report.ok, report.reason
    assert report.events_checked == 3
    assert events[-1].log_id == printed["log_id"]
    previous = events[-2].provenance_hash
    assert event_hash(events[-1], previous) == row["provenance_hash"]


def test_the_example_fails_clearly_on_a_database_that_was_never_migrated(empty_pg_config: DatabaseConfig) -> None:
    password = empty_pg_config.password.get_secret_value() if empty_pg_config.password else ""
    env = {
        **os.environ,
        "GL_DB_HOST": str(empty_pg_config.host),
        "GL_DB_PORT": str(empty_pg_config.port),
        "GL_DB_NAME": str(empty_pg_config.database),
        "GL_DB_USER": str(empty_pg_config.username),
        "GL_DB_PASSWORD": password,
    }
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )
    assert result.returncode != 0
    assert "greenlang db upgrade" in result.stderr
    if password:
        assert password not in result.stderr + result.stdout
