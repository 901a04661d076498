"""Tenants on PostgreSQL: migration 003, rows rebuilt without validation (or with it), batched bulk writes."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import pytest
from stores import Store, database

from greenlang.audit.state import verify_policy_state
from greenlang.errors import StoreError
from greenlang.testing.samples import sample_assignment, sample_permission, sample_policy, sample_role
from greenlang.testing.suite_tenants import every_field_records
from greenlang_pg import PostgreSQLBackend, migrate
from greenlang_pg.config import DatabaseConfig
from greenlang_pg.rows import ASSIGNMENTS, PERMISSIONS, POLICIES, ROLES, Table
from greenlang_pg.testing import TestServer

TENANT_INDEXES = {
    ("permissions", "idx_permission_tenant"),
    ("roles", "idx_role_tenant"),
    ("policies", "idx_policy_tenant"),
    ("role_assignments", "idx_assignment_tenant"),
}


def _sql(server: TestServer, config: DatabaseConfig, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    return server.execute(query, database(config), params=params, superuser=False)


def _tenant_columns(server: TestServer, config: DatabaseConfig) -> set[tuple[Any, ...]]:
    rows = _sql(
        server,
        config,
        "SELECT table_name, data_type, character_maximum_length, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'public' AND column_name = 'tenant_id'",
    )
    return set(rows)


def _tenant_indexes(server: TestServer, config: DatabaseConfig) -> set[tuple[Any, ...]]:
    rows = _sql(server, config, "SELECT tablename, indexname FROM pg_indexes WHERE indexname LIKE '%tenant%'")
    return set(rows)


# migration 003 -----------------------------------------------------------------------------------------------------
def test_003_adds_an_indexed_nullable_tenant_column_and_002_takes_it_away_keeping_the_rows(
    pg_server: TestServer, empty_pg_config: DatabaseConfig
) -> None:
    migrate.upgrade(empty_pg_config, "002")
    assert _tenant_columns(pg_server, empty_pg_config) == set()
    with_tenant = [
        ("permissions", "character varying", 64, "YES"),
        ("roles", "character varying", 64, "YES"),
        ("policies", "character varying", 64, "YES"),
        ("role_assignments", "character varying", 64, "YES"),
    ]
    migrate.upgrade(empty_pg_config)
    assert _tenant_columns(pg_server, empty_pg_config) == set(with_tenant)
    assert _tenant_indexes(pg_server, empty_pg_config) == TENANT_INDEXES
    with PostgreSQLBackend(empty_pg_config) as backend:
        kept = backend.create_permission(sample_permission(tenant_id="acme"))
        role = backend.create_role(sample_role("viewer", tenant_id="acme"))

    migrate.downgrade(empty_pg_config, "002")
    assert _tenant_columns(pg_server, empty_pg_config) == set()
    assert _tenant_indexes(pg_server, empty_pg_config) == set()
    assert _sql(pg_server, empty_pg_config, "SELECT permission_id FROM permissions") == [(kept.permission_id,)]

    migrate.upgrade(empty_pg_config)
    with PostgreSQLBackend(empty_pg_config) as backend:
        shared = backend.load_policy_state(tenant="beta")  # the tenant went with the column: now shared
        assert [p.permission_id for p in shared.permissions] == [kept.permission_id]
        assert [r.role_id for r in shared.roles] == [role.role_id]
        assert shared.permissions[0] == kept.replace(tenant_id=None)
        assert backend.verify_audit().ok


def test_the_tenant_query_can_use_the_tenant_index(pg_server: TestServer, pg_config: DatabaseConfig) -> None:
    with pg_server.connect(database(pg_config), superuser=False) as connection:
        connection.execute("SET enable_seqscan = off")
        for table in (PERMISSIONS, ROLES, POLICIES, ASSIGNMENTS):
            sql = table.load_sql(True).replace("$1", "%s")
            plan = "\n".join(row[0] for row in connection.execute(f"EXPLAIN {sql}", ("acme",)))
            assert "_tenant" in plan, plan


# rebuilt rows ------------------------------------------------------------------------------------------------------
def _seed_style_rows(server: TestServer, config: DatabaseConfig) -> None:
    """Rows with the seed's NULLs and a hash greenlang did not compute, as another tool might write them."""
    for statement in [
        "INSERT INTO permissions (permission_id, resource, action, effect, scope) "
        "VALUES ('perm-null', 'emissions:data', 'read', 'allow', 'organization:123')",
        "INSERT INTO permissions (permission_id, resource, action, effect, conditions, metadata, provenance_hash) "
        "VALUES ('perm-foreign-hash', 'emissions:**', 'delete', 'deny', "
        '\'[{"attribute": "report.status", "operator": "eq", "value": "published"}]\', '
        "'{\"ticket\": 42}', repeat('c', 64))",
        "INSERT INTO roles (role_id, role_name, permissions, metadata, is_system_role, priority) "
        "VALUES ('role-null', 'auditor', NULL, NULL, NULL, NULL)",
        "INSERT INTO policies (policy_id, policy_name, policy_type, rules, conditions, priority, enabled, metadata) "
        "VALUES ('pol-null', 'viewers-read', 'rbac', "
        '\'[{"effect": "allow", "actions": ["read"], "resources": ["emissions:**"], "roles": ["auditor"], '
        '"not_before": "2026-01-01T00:00:00+01:00"}]\', NULL, NULL, NULL, NULL)',
    ]:
        _sql(server, config, statement)


def test_loading_rebuilds_rows_and_equals_what_decoding_gives(
    pg_server: TestServer, pg_config: DatabaseConfig, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [*every_field_records("acme", "ours"), *every_field_records(None, "shared")]
    for record in records:
        getattr(store, f"create_{type(record).__name__.lower().replace('roleassignment', 'assignment')}")(record)
    _seed_style_rows(pg_server, pg_config)
    decoded = {
        "permissions": [store.get_permission(key) for key in ("perm-ours", "perm-shared", "perm-null")],
        "foreign": store.get_permission("perm-foreign-hash"),
        "roles": [store.get_role(key) for key in ("role-parent-ours", "role-ours", "role-parent-shared")],
        "role-null": store.get_role("role-null"),
        "policy-null": store.get_policy("pol-null"),
    }
    calls: list[str] = []
    decode = Table.decode

    def counted(self: Table[Any], row: Any, columns: Any = None) -> Any:
        calls.append(str(row[0]))
        return decode(self, row, columns)

    monkeypatch.setattr(Table, "decode", counted)
    state = store.load_policy_state(tenant="acme")
    everything = store.load_policy_state()
    # Every row was rebuilt, seed-style NULLs included, except the rule whose timestamp is not in the canonical
    # UTC form (``+01:00``): that row, in both loads, went the careful way.
    assert calls == ["pol-null", "pol-null"]
    by_id = {p.permission_id: p for p in everything.permissions}
    assert [by_id[key] for key in ("perm-ours", "perm-shared", "perm-null")] == decoded["permissions"]
    assert by_id["perm-null"].provenance_hash == by_id["perm-null"].content_hash()
    roles = {r.role_id: r for r in state.roles}
    assert [roles[key] for key in ("role-parent-ours", "role-ours", "role-parent-shared")] == decoded["roles"]
    assert roles["role-null"] == decoded["role-null"]
    assert {p.policy_id: p for p in state.policies}["pol-null"] == decoded["policy-null"]
    # A hash another tool wrote is kept as stored; validation would have put greenlang's own in its place.
    foreign = by_id["perm-foreign-hash"]
    assert foreign.provenance_hash == "c" * 64
    assert foreign.replace() == decoded["foreign"]


def test_a_row_the_rebuild_does_not_expect_goes_the_careful_way(
    pg_server: TestServer, pg_config: DatabaseConfig, store: Store
) -> None:
    policy = store.create_policy(sample_policy("guard", tenant_id="acme"))
    role = store.create_role(sample_role("viewer"))
    _sql(pg_server, pg_config, "UPDATE roles SET metadata = '[1, 2]'::jsonb")
    with pytest.raises(StoreError, match=f"stored role '{role.role_id}' is not valid"):
        store.load_policy_state(tenant="acme")
    _sql(pg_server, pg_config, "UPDATE roles SET metadata = '{}'::jsonb")
    _sql(pg_server, pg_config, """UPDATE policies SET rules = '[{"effect": "allow", "actions": ["read"]}]'::jsonb""")
    with pytest.raises(StoreError, match=f"stored policy '{policy.policy_id}' is not valid"):
        store.load_policy_state(tenant="acme")
    _sql(
        pg_server,
        pg_config,
        """UPDATE policies SET rules = '[{"effect": "allow", "actions": ["read"], \
"resources": ["reports:**"], "roles": ["viewer"], "hours": [8.0, 18]}]'::jsonb""",
    )
    assert store.load_policy_state(tenant="acme").policies[0].rules[0].hours == (8, 18)  # as validation reads it


def test_tenant_states_verify_against_the_trail(store: Store) -> None:
    for tenant, tag in (("acme", "a"), (None, "b")):
        records = every_field_records(tenant, tag)
        store.create_permission(records[0])
        store.bulk_create_roles([records[1], records[2]])
        store.bulk_create_policies([records[3], records[4]])
        store.bulk_create_assignments([records[5]])
    assert verify_policy_state(store).ok
    assert len(store.load_policy_state(tenant="acme").roles) == 4


# batched bulk writes -----------------------------------------------------------------------------------------------
def _statements(caplog: pytest.LogCaptureFixture, write: Any) -> int:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="greenlang_pg.sql"):
        write()
    return len([r for r in caplog.records if r.name == "greenlang_pg.sql"])


def test_bulk_creates_take_the_same_statements_for_ten_records_or_two_hundred(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    permissions = store.bulk_create_permissions([sample_permission(action=f"a{i}") for i in range(20)])

    def roles(prefix: str, count: int) -> list[Any]:
        made = [sample_role(f"{prefix}0", role_id=f"{prefix}0", permissions=[permissions[0].permission_id])]
        made += [
            sample_role(f"{prefix}{i}", role_id=f"{prefix}{i}", parent_roles=[f"{prefix}{i - 1}"])
            for i in range(1, count)
        ]
        return made

    counts = {}
    for count in (20, 200):
        prefix = f"r{count}-"
        counts[count] = (
            _statements(caplog, partial(store.bulk_create_roles, roles(prefix, count))),
            _statements(
                caplog,
                partial(
                    store.bulk_create_assignments,
                    [sample_assignment(f"{prefix}{i}", f"user-{i}") for i in range(count)],
                ),
            ),
            _statements(
                caplog, partial(store.bulk_create_policies, [sample_policy(f"{prefix}p{i}") for i in range(count)])
            ),
        )
    assert counts[20] == counts[200]
    assert len(store.list_roles()) == 220
    assert store.get_role("r200-199") is not None
    assert verify_policy_state(store).ok
