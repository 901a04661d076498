"""The Alembic migrations on a real server: they agree with the models, run both ways with data present,
adopt seed-era rows, work from plain ``alembic``, and backends refuse a database they have not reached.
"""

from __future__ import annotations

import ast
import asyncio
import configparser
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

import greenlang_pg
from greenlang.audit.events import AuditEvent
from greenlang.audit.state import verify_policy_state
from greenlang.auth.permissions import Permission, PermissionEffect
from greenlang.errors import StoreError
from greenlang_pg import AsyncPostgreSQLBackend, PostgreSQLBackend, migrate, migrations
from greenlang_pg.config import DatabaseConfig
from greenlang_pg.models import Base
from greenlang_pg.testing import TestServer

SOURCE = Path(greenlang_pg.__file__).parent
GREENLANG_TABLES = {"permissions", "roles", "policies", "audit_logs", "role_assignments", "audit_chain_head"}


def _name(config: DatabaseConfig) -> str:
    assert config.database is not None
    return config.database


def _sql(server: TestServer, config: DatabaseConfig, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run plain SQL as the application user, the way seed-era code wrote its rows."""
    return server.execute(query, _name(config), params=params, superuser=False)


def _version(server: TestServer, config: DatabaseConfig) -> list[str]:
    return [row[0] for row in _sql(server, config, "SELECT version_num FROM alembic_version")]


def _relations(server: TestServer, config: DatabaseConfig) -> set[str]:
    rows = _sql(
        server,
        config,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'",
    )
    return {row[0] for row in rows}


def _secrets(server: TestServer) -> list[str]:
    password = server.app_password
    return [password, quote(password, safe="")] if password else []


# revisions -----------------------------------------------------------------------------
def test_head_constant_is_the_single_head_of_the_scripts() -> None:
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    assert scripts.get_heads() == [migrations.HEAD]
    assert scripts.get_bases() == ["001"]
    assert [script.revision for script in scripts.walk_revisions()] == ["003", "002", "001"]


def test_models_and_migrations_agree_under_autogenerate(pg_config: DatabaseConfig) -> None:
    diff = _autogenerate_diff(pg_config)
    assert diff == [], "autogenerate found differences between models.py and the migrations:\n" + "\n".join(
        map(repr, diff)
    )


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE roles ALTER COLUMN priority DROP DEFAULT",
        "ALTER TABLE permissions ALTER COLUMN scope TYPE varchar(200)",
        "ALTER TABLE policies ALTER COLUMN rules DROP NOT NULL",
        "DROP INDEX idx_audit_result",
        "ALTER TABLE role_assignments ADD COLUMN note text",
    ],
)
def test_autogenerate_comparison_notices_drift(pg_server: TestServer, pg_config: DatabaseConfig, change: str) -> None:
    """The agreement test above can fail: a database changed behind the models' back shows a difference."""
    _sql(pg_server, pg_config, change)
    assert _autogenerate_diff(pg_config)


def _autogenerate_diff(config: DatabaseConfig) -> list[Any]:
    engine = create_engine(config.sync_url(), connect_args=config.sync_connect_args(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


# both directions -------------------------------------------------------------------------
def test_upgrade_downgrade_to_base_and_upgrade_again(pg_server: TestServer, empty_pg_config: DatabaseConfig) -> None:
    migrate.upgrade(empty_pg_config)
    assert _version(pg_server, empty_pg_config) == [migrations.HEAD]
    assert GREENLANG_TABLES | {"greenlang_meta"} <= _relations(pg_server, empty_pg_config)

    migrate.downgrade(empty_pg_config, "base")
    assert _relations(pg_server, empty_pg_config) == {"alembic_version", "alembic_version_pkc"}
    assert _version(pg_server, empty_pg_config) == []
    assert migrate.current(empty_pg_config).strip() == ""

    migrate.upgrade(empty_pg_config)
    with PostgreSQLBackend(empty_pg_config) as backend:
        assert backend.verify_audit().ok
        assert backend.list_permissions() == []


def test_upgrade_at_head_changes_nothing(pg_server: TestServer, pg_config: DatabaseConfig) -> None:
    with PostgreSQLBackend(pg_config) as backend:
        backend.create_permission({"resource": "emissions:*", "action": "read", "effect": "allow"})
        before = backend.list_permissions()
    migrate.upgrade(pg_config)
    assert _version(pg_server, pg_config) == [migrations.HEAD]
    with PostgreSQLBackend(pg_config) as backend:
        assert backend.list_permissions() == before
        assert backend.verify_audit().ok


def test_downgrade_to_001_and_back_keeps_the_seed_columns_data(
    pg_server: TestServer, pg_config: DatabaseConfig
) -> None:
    with PostgreSQLBackend(pg_config) as backend:
        permission = backend.create_permission(
            {"resource": "emissions:acme:**", "action": "read", "effect": "allow", "scope": "org:acme"}
        )
        backend.create_role({"role_name": "viewer", "permissions": [permission.permission_id], "priority": 3})
        backend.create_policy(
            {
                "policy_name": "freeze",
                "policy_type": "rbac",
                "rules": [{"effect": "deny", "actions": ["write"], "resources": ["emissions:**"], "roles": ["viewer"]}],
            }
        )
        backend.append_audit_event({"event_type": "report.read", "result": "success", "details": {"n": 1}})
        permissions, roles, policies = backend.list_permissions(), backend.list_roles(), backend.list_policies()
        events = backend.read_audit_events()
    assert len(events) >= 4

    migrate.downgrade(pg_config, "001")
    assert _version(pg_server, pg_config) == ["001"]
    assert _sql(pg_server, pg_config, "SELECT role_name, priority FROM roles") == [("viewer", 3)]
    assert _sql(pg_server, pg_config, "SELECT count(*) FROM audit_logs") == [(len(events),)]
    assert "sequence" not in {
        row[0]
        for row in _sql(
            pg_server,
            pg_config,
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'audit_logs'",
        )
    }

    migrate.upgrade(pg_config)
    with PostgreSQLBackend(pg_config) as backend:
        assert backend.list_permissions() == permissions
        assert backend.list_roles() == roles
        assert backend.list_policies() == policies
        # the permission, role and policy writes come back as the revision, so the trail and tables agree
        assert backend.revision() == 3
        state = verify_policy_state(backend)
        assert state.ok, state.summary()
        report = backend.verify_audit()
        assert report.ok, report.summary()
        assert report.events_checked == len(events)
        adopted = backend.read_audit_events()
    # Without a sequence column the events are seed-era rows again: 002 numbers them by (timestamp, log_id)
    # and keeps each one's former chain hash.
    expected_order = [e.log_id for e in sorted(events, key=lambda e: (e.timestamp, e.log_id))]
    assert [e.log_id for e in adopted] == expected_order
    assert [e.sequence for e in adopted] == list(range(1, len(events) + 1))
    former = {e.log_id: e.provenance_hash for e in events}
    assert all(e.details["legacy_provenance_hash"] == former[e.log_id] for e in adopted)


# seed-era rows -----------------------------------------------------------------------------
def _write_seed_era_rows(server: TestServer, config: DatabaseConfig) -> None:
    """Rows as the seed's code wrote them: its NULLs, its defaults, its example values."""
    statements = [
        "INSERT INTO permissions (permission_id, resource, action, effect, scope) "
        "VALUES ('perm-seed-1', 'emissions:data', 'read', 'allow', 'organization:123')",
        "INSERT INTO permissions (permission_id, resource, action, effect, conditions, metadata, provenance_hash) "
        "VALUES ('perm-seed-2', 'emissions:**', 'delete', 'deny', "
        '\'[{"attribute": "report.status", "operator": "eq", "value": "published"}]\', '
        "'{\"ticket\": 42}', repeat('c', 64))",
        "INSERT INTO roles (role_id, role_name, description, permissions) "
        "VALUES ('role-seed-1', 'emissions_viewer', 'Can view emissions data', '[\"perm-seed-1\"]')",
        "INSERT INTO roles (role_id, role_name, permissions, metadata, is_system_role, priority) "
        "VALUES ('role-seed-2', 'auditor', NULL, NULL, NULL, NULL)",
        "INSERT INTO policies (policy_id, policy_name, policy_type, rules, conditions, priority, enabled, metadata) "
        "VALUES ('pol-seed-1', 'viewers-read', 'rbac', "
        '\'[{"effect": "allow", "actions": ["read"], "resources": ["emissions:**"], '
        '"roles": ["emissions_viewer"]}]\', NULL, NULL, NULL, NULL)',
        # audit rows: log_id from gen_random_uuid(), timestamp from CURRENT_TIMESTAMP or given
        "INSERT INTO audit_logs "
        "(timestamp, event_type, user_id, resource, action, result, ip_address, provenance_hash) "
        "VALUES ('2025-03-01 09:00:00', 'permission.granted', 'user123', 'emissions:data', 'read', 'success', "
        "'192.168.1.100', repeat('a', 64))",
        "INSERT INTO audit_logs (timestamp, event_type, result, details, provenance_hash) "
        "VALUES ('2025-03-02 09:00:00', 'role.created', 'failure', NULL, repeat('b', 64))",
        "INSERT INTO audit_logs (timestamp, event_type, result, details) "
        "VALUES ('2025-03-03 09:00:00', 'login', 'error', '[\"not\", \"an\", \"object\"]')",
        "INSERT INTO audit_logs (event_type, result, details) VALUES ('policy.updated', 'success', '{\"v\": 2}')",
    ]
    for statement in statements:
        _sql(server, config, statement)


def test_002_links_seed_era_audit_rows_into_the_chain(pg_server: TestServer, empty_pg_config: DatabaseConfig) -> None:
    migrate.upgrade(empty_pg_config, "001")
    _write_seed_era_rows(pg_server, empty_pg_config)
    log_ids = [row[0] for row in _sql(pg_server, empty_pg_config, "SELECT log_id FROM audit_logs ORDER BY timestamp")]
    assert all(len(log_id) == 36 for log_id in log_ids)  # the column default, gen_random_uuid()

    migrate.upgrade(empty_pg_config)
    with PostgreSQLBackend(empty_pg_config) as backend:
        report = backend.verify_audit()
        assert report.ok, report.summary()
        assert report.events_checked == 4 + 3
        events, reconciling = backend.read_audit_events()[:4], backend.read_audit_events(after_sequence=4)
        assert [e.log_id for e in events] == log_ids
        assert [e.sequence for e in events] == [1, 2, 3, 4]
        assert report.head is not None
        assert report.head.hash == reconciling[-1].provenance_hash
        # the seed-era records came in with the upgrade, and the trail now says so
        assert [(e.event_type, e.user_id, e.action) for e in reconciling] == [
            ("permission.bulk_created", "migration:002", "create"),
            ("role.bulk_created", "migration:002", "create"),
            ("policy.bulk_created", "migration:002", "create"),
        ]
        assert [r["permission_id"] for r in reconciling[0].details["created"]] == ["perm-seed-1", "perm-seed-2"]
        assert backend.revision() == 3
        state = verify_policy_state(backend)
        assert state.ok, state.summary()

        granted, created, login, updated = events
        assert granted.details == {"legacy_provenance_hash": "a" * 64}
        assert (granted.event_type, granted.user_id, granted.ip_address) == (
            "permission.granted",
            "user123",
            "192.168.1.100",
        )
        assert granted.timestamp == datetime.fromisoformat("2025-03-01T09:00:00+00:00")
        assert created.details == {"legacy_provenance_hash": "b" * 64}
        assert login.details == {"legacy_details": ["not", "an", "object"]}
        assert updated.details == {"v": 2}
        assert all(e.provenance_hash not in ("a" * 64, "b" * 64) for e in events)

        appended = backend.append_audit_event(AuditEvent(event_type="report.signed", result="success"))
        assert appended.sequence == 8
        report = backend.verify_audit()
        assert (report.ok, report.events_checked) == (True, 8)
        assert report.head is not None
        assert report.head.hash == appended.provenance_hash


def test_002_adopted_chain_breaks_when_a_seed_era_row_is_edited_afterwards(
    pg_server: TestServer, empty_pg_config: DatabaseConfig
) -> None:
    migrate.upgrade(empty_pg_config, "001")
    _write_seed_era_rows(pg_server, empty_pg_config)
    migrate.upgrade(empty_pg_config)
    _sql(pg_server, empty_pg_config, "UPDATE audit_logs SET user_id = 'mallory' WHERE user_id = 'user123'")
    with PostgreSQLBackend(empty_pg_config) as backend:
        report = backend.verify_audit()
    assert not report.ok
    assert report.first_bad_sequence == 1


def test_seed_era_records_read_back_through_the_backend(pg_server: TestServer, empty_pg_config: DatabaseConfig) -> None:
    migrate.upgrade(empty_pg_config, "001")
    _write_seed_era_rows(pg_server, empty_pg_config)
    migrate.upgrade(empty_pg_config)
    with PostgreSQLBackend(empty_pg_config) as backend:
        assert [p.permission_id for p in backend.list_permissions()] == ["perm-seed-1", "perm-seed-2"]
        viewer_permission = backend.get_permission("perm-seed-1")
        assert viewer_permission is not None
        assert (viewer_permission.scope, viewer_permission.conditions, viewer_permission.metadata) == (
            "organization:123",
            [],
            {},
        )
        deny = backend.get_permission("perm-seed-2")
        assert deny is not None
        assert deny.metadata == {"ticket": 42}
        assert [c.attribute for c in deny.conditions] == ["report.status"]

        viewer = backend.get_role_by_name("emissions_viewer")
        assert viewer is not None
        assert viewer.permissions == ["perm-seed-1"]
        assert viewer.parent_roles == []
        auditor = backend.get_role("role-seed-2")
        assert auditor is not None
        assert (auditor.permissions, auditor.metadata, auditor.is_system_role, auditor.priority) == ([], {}, False, 0)

        policy = backend.get_policy_by_name("viewers-read")
        assert policy is not None
        assert (policy.conditions, policy.priority, policy.enabled, policy.metadata, policy.valid_from) == (
            [],
            0,
            True,
            {},
            None,
        )
        assert policy.rules[0].roles == ["emissions_viewer"]

        # The seed-era rows take writes like any other.
        backend.update_role(auditor.model_copy(update={"priority": 7}))
        updated = backend.get_role("role-seed-2")
        assert updated is not None
        assert updated.priority == 7
        assert backend.verify_audit().ok


def test_002_refuses_a_seed_era_event_that_cannot_join_and_changes_nothing(
    pg_server: TestServer, empty_pg_config: DatabaseConfig
) -> None:
    migrate.upgrade(empty_pg_config, "001")
    _sql(
        pg_server,
        empty_pg_config,
        "INSERT INTO audit_logs (log_id, event_type, result) VALUES ('bad-row', 'user login', 'success')",
    )
    with pytest.raises(StoreError, match=r"'bad-row'.*repair the row"):
        migrate.upgrade(empty_pg_config)
    assert _version(pg_server, empty_pg_config) == ["001"]
    assert "role_assignments" not in _relations(pg_server, empty_pg_config)
    assert _sql(pg_server, empty_pg_config, "SELECT details FROM audit_logs") == [(None,)]


# plain alembic -------------------------------------------------------------------------------
def _ini_path() -> str:
    result = subprocess.run(
        [sys.executable, "-m", "greenlang_pg.migrations"], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def _clean_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith(("GL_DB_", "PG"))}


def _alembic(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", _ini_path(), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_python_m_greenlang_pg_migrations_prints_the_packaged_ini() -> None:
    path = Path(_ini_path())
    assert path == migrations.INI
    assert path.is_file()


def test_plain_alembic_with_the_packaged_ini_and_x_url(
    pg_server: TestServer, empty_pg_config: DatabaseConfig, tmp_path: Path
) -> None:
    url = f"url={pg_server.dsn(_name(empty_pg_config))}"
    upgraded = _alembic(["-x", url, "upgrade", "head"], tmp_path, _clean_env())
    assert upgraded.returncode == 0, upgraded.stderr
    assert _version(pg_server, empty_pg_config) == [migrations.HEAD]

    current = _alembic(["-x", url, "current"], tmp_path, _clean_env())
    assert current.returncode == 0, current.stderr
    assert current.stdout.strip() == f"{migrations.HEAD} (head)"

    downgraded = _alembic(["-x", url, "downgrade", "001"], tmp_path, _clean_env())
    assert downgraded.returncode == 0, downgraded.stderr
    assert _version(pg_server, empty_pg_config) == ["001"]
    for output in (upgraded, current, downgraded):
        for secret in _secrets(pg_server):
            assert secret not in output.stdout + output.stderr


def test_plain_alembic_with_gl_db_environment(
    pg_server: TestServer, empty_pg_config: DatabaseConfig, tmp_path: Path
) -> None:
    env = _clean_env()
    env.update(
        GL_DB_HOST=str(empty_pg_config.host),
        GL_DB_PORT=str(empty_pg_config.port),
        GL_DB_NAME=_name(empty_pg_config),
        GL_DB_USER=str(empty_pg_config.username),
    )
    if empty_pg_config.password is not None:
        env["GL_DB_PASSWORD"] = empty_pg_config.password.get_secret_value()
    for key in ("sslmode", "sslrootcert"):
        value = getattr(empty_pg_config, key)
        if value is not None:
            env[f"GL_DB_{key.upper()}"] = str(value)

    upgraded = _alembic(["upgrade", "head"], tmp_path, env)
    assert upgraded.returncode == 0, upgraded.stderr
    current = _alembic(["current"], tmp_path, env)
    assert current.returncode == 0, current.stderr
    assert current.stdout.strip() == f"{migrations.HEAD} (head)"
    assert _version(pg_server, empty_pg_config) == [migrations.HEAD]


def test_packaged_alembic_ini_holds_no_credentials() -> None:
    text = migrations.INI.read_text()
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    for section in parser.sections():
        for key, value in parser.items(section):
            if any(word in key for word in ("url", "password", "user", "dsn")):
                assert not value.strip(), f"[{section}] {key} has a value in the packaged alembic.ini"
    settings = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith(("#", ";"))]
    assert not [line for line in settings if "://" in line or "password" in line.lower()]


# production code ------------------------------------------------------------------------------
def _create_all_uses(source: str, where: str) -> list[str]:
    """Every mention of ``create_all`` as code (a call, an attribute, a name or a ``getattr`` string)."""
    found = []
    for node in ast.walk(ast.parse(source, filename=where)):
        if (
            (isinstance(node, ast.Attribute) and node.attr == "create_all")
            or (isinstance(node, ast.Name) and node.id == "create_all")
            or (isinstance(node, ast.Constant) and node.value == "create_all")
        ):
            found.append(f"{where}:{node.lineno}")
    return found


def test_the_create_all_detector_finds_a_call() -> None:
    assert _create_all_uses("from m import Base\nBase.metadata.create_all(engine)\n", "sample.py") == ["sample.py:2"]
    assert _create_all_uses('getattr(Base.metadata, "create_all")(engine)\n', "sample.py") == ["sample.py:1"]


def test_no_production_code_calls_create_all() -> None:
    sources = sorted(SOURCE.rglob("*.py"))
    assert SOURCE / "backend.py" in sources
    assert SOURCE / "migrations" / "env.py" in sources
    found = [use for path in sources for use in _create_all_uses(path.read_text(), str(path))]
    assert found == [], "the schema comes from the migrations only; remove: " + ", ".join(found)


# backends refuse a database they cannot use ----------------------------------------------------
def _revisions_behind_head() -> list[str]:
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    return [s.revision for s in scripts.walk_revisions() if s.revision != migrations.HEAD]


@pytest.fixture(params=["empty", *_revisions_behind_head()])
def behind(request: pytest.FixtureRequest, empty_pg_config: DatabaseConfig) -> DatabaseConfig:
    """A database with no schema, or at each revision before head."""
    if request.param != "empty":
        migrate.upgrade(empty_pg_config, request.param)
    return empty_pg_config


def _assert_refusal(error: StoreError, server: TestServer) -> None:
    message = str(error)
    assert "run `greenlang db upgrade`" in message
    assert "\n" not in message
    for secret in _secrets(server):
        assert secret not in message


def test_sync_backend_refuses_a_database_behind_head(pg_server: TestServer, behind: DatabaseConfig) -> None:
    with pytest.raises(StoreError) as caught:
        PostgreSQLBackend(behind)
    _assert_refusal(caught.value, pg_server)
    assert _name(behind) in str(caught.value)


def test_async_backend_refuses_a_database_behind_head_on_first_await(
    pg_server: TestServer, behind: DatabaseConfig
) -> None:
    async def first_use() -> StoreError:
        backend = AsyncPostgreSQLBackend(behind)  # a constructor cannot wait, so it does not check yet
        try:
            with pytest.raises(StoreError) as caught:
                await backend.list_roles()
            return caught.value
        finally:
            await backend.close()

    _assert_refusal(asyncio.run(first_use()), pg_server)


def test_backends_refuse_a_database_from_a_newer_greenlang_pg(pg_server: TestServer, pg_config: DatabaseConfig) -> None:
    _sql(pg_server, pg_config, "UPDATE alembic_version SET version_num = '999'")
    with pytest.raises(StoreError, match="999.*upgrade greenlang-pg"):
        PostgreSQLBackend(pg_config)


def test_backend_opens_at_head(pg_config: DatabaseConfig) -> None:
    with PostgreSQLBackend(pg_config) as backend:
        created = backend.create_permission(
            Permission(resource="emissions:*", action="read", effect=PermissionEffect.ALLOW)
        )
        assert backend.get_permission(created.permission_id) == created


def test_002_refuses_a_seed_era_record_greenlang_cannot_read_and_changes_nothing(
    pg_server: TestServer, empty_pg_config: DatabaseConfig
) -> None:
    migrate.upgrade(empty_pg_config, "001")
    _sql(
        pg_server,
        empty_pg_config,
        "INSERT INTO policies (policy_id, policy_name, policy_type, rules) "
        "VALUES ('pol-empty', 'nothing', 'rbac', '[]')",
    )
    with pytest.raises(StoreError, match=r"seed-era policy 'pol-empty' cannot be brought into greenlang.*rules"):
        migrate.upgrade(empty_pg_config)
    assert _version(pg_server, empty_pg_config) == ["001"]


def test_a_downgrade_cycle_that_dropped_assignments_still_verifies(
    pg_server: TestServer, pg_config: DatabaseConfig
) -> None:
    with PostgreSQLBackend(pg_config) as backend:
        role = backend.create_role({"role_name": "viewer"})
        parent = backend.create_role({"role_name": "base"})
        backend.update_role(role.replace(parent_roles=[parent.role_id]))
        backend.create_assignment({"subject": "alice", "role_id": role.role_id})
    migrate.downgrade(pg_config, "001")  # drops assignments and parent links
    migrate.upgrade(pg_config)
    with PostgreSQLBackend(pg_config) as backend:
        assert backend.list_assignments() == []
        state = verify_policy_state(backend)
        assert state.ok, state.summary()
        reconciling = [e for e in backend.read_audit_events() if e.user_id == "migration:002"]
        assert {e.event_type for e in reconciling} == {"role.updated", "assignment.deleted"}
        assert backend.verify_audit().ok
