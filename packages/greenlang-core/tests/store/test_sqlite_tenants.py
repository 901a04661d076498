"""The SQLite store's tenants: the schema upgrade from version 1, the fast load and its checks, per-tenant reuse."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from greenlang.audit.state import verify_policy_state
from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.auth.backends.sqlite_load import load
from greenlang.auth.backends.sqlite_rows import ASSIGNMENTS, PERMISSIONS, POLICIES, ROLES, Table
from greenlang.auth.backends.sqlite_schema import SCHEMA_VERSION
from greenlang.errors import ConflictError, StoreError
from greenlang.testing.samples import sample_assignment, sample_permission, sample_policy, sample_role
from greenlang.testing.sqlite import raw_rows
from greenlang.testing.suite_tenants import every_field_records

TABLES: tuple[Table[Any], ...] = (PERMISSIONS, ROLES, POLICIES, ASSIGNMENTS)

# The version 1 schema of the four policy tables, as greenlang-core wrote it before tenants (with meta).
VERSION_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE permissions (
    permission_id TEXT PRIMARY KEY, resource TEXT NOT NULL, action TEXT NOT NULL,
    effect TEXT NOT NULL CHECK (effect IN ('allow', 'deny')), scope TEXT,
    conditions TEXT NOT NULL DEFAULT '[]', metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL, updated_at TEXT, created_by TEXT, provenance_hash TEXT
);
CREATE INDEX idx_permissions_resource_action ON permissions (resource, action);
CREATE INDEX idx_permissions_effect_scope ON permissions (effect, scope);
CREATE INDEX idx_permissions_scope ON permissions (scope);
CREATE TABLE roles (
    role_id TEXT PRIMARY KEY, role_name TEXT NOT NULL UNIQUE, description TEXT,
    permissions TEXT NOT NULL DEFAULT '[]', parent_roles TEXT NOT NULL DEFAULT '[]',
    metadata TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL, updated_at TEXT, created_by TEXT,
    is_system_role INTEGER NOT NULL DEFAULT 0, priority INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE policies (
    policy_id TEXT PRIMARY KEY, policy_name TEXT NOT NULL UNIQUE,
    policy_type TEXT NOT NULL CHECK (policy_type IN ('rbac', 'abac', 'temporal')), rules TEXT NOT NULL,
    conditions TEXT NOT NULL DEFAULT '[]', priority INTEGER NOT NULL DEFAULT 0, enabled INTEGER NOT NULL DEFAULT 1,
    metadata TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL, updated_at TEXT, created_by TEXT,
    valid_from TEXT, expires_at TEXT
);
CREATE INDEX idx_policies_enabled ON policies (enabled);
CREATE TABLE role_assignments (
    assignment_id TEXT PRIMARY KEY, subject TEXT NOT NULL, role_id TEXT NOT NULL REFERENCES roles (role_id),
    scope TEXT, valid_from TEXT, expires_at TEXT, metadata TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL,
    created_by TEXT
);
CREATE INDEX idx_role_assignments_subject ON role_assignments (subject);
CREATE INDEX idx_role_assignments_role ON role_assignments (role_id);
INSERT INTO meta (key, value) VALUES ('schema_version', 1), ('revision', 0);
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "tenants.db"


@pytest.fixture
def backend(path: Path) -> Iterator[SQLiteBackend]:
    with SQLiteBackend(path) as store:
        yield store


def store_every_kind(backend: SQLiteBackend, tenant: str | None, tag: str) -> list[Any]:
    permission, parent, role, temporal, abac, assignment = every_field_records(tenant, tag)
    backend.create_permission(permission)
    backend.bulk_create_roles([parent, role])
    backend.bulk_create_policies([temporal, abac])
    backend.create_assignment(assignment)
    return [permission, parent, role, temporal, abac, assignment]


def columns(path: Path, table: str) -> list[str]:
    with closing(sqlite3.connect(path)) as conn:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


# the schema upgrade ---------------------------------------------------------------------------------------------
def test_a_version_1_file_is_upgraded_in_place_and_its_rows_stay_shared(path: Path) -> None:
    old = every_field_records(None, "old")
    permission, parent, role, temporal, abac, assignment = old
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(VERSION_1)
        for table, record in [
            (PERMISSIONS, permission),
            (ROLES, parent),
            (ROLES, role),
            (POLICIES, temporal),
            (POLICIES, abac),
            (ASSIGNMENTS, assignment),
        ]:
            row = {column: value for column, value in table.encode(record).items() if column != "tenant_id"}
            names = ", ".join(row)
            marks = ", ".join("?" * len(row))
            conn.execute(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", list(row.values()))  # noqa: S608
        conn.commit()
    assert "tenant_id" not in columns(path, "permissions")

    with SQLiteBackend(path) as store:
        for table in ("permissions", "roles", "policies", "role_assignments"):
            assert columns(path, table)[-1] == "tenant_id"
        with raw_rows(path) as conn:
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
            indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert version == SCHEMA_VERSION == 2
        assert {f"idx_{t}_tenant" for t in ("permissions", "roles", "policies", "role_assignments")} <= indexes
        state = store.load_policy_state(tenant="acme")
        assert (state.revision, list(state.permissions), list(state.roles)) == (0, [permission], [parent, role])
        assert (list(state.policies), list(state.assignments)) == ([temporal, abac], [assignment])
        assert store.get_role(role.role_id) == role
        added = store.create_permission(sample_permission(tenant_id="acme"))
        assert [p.permission_id for p in store.load_policy_state(tenant="beta").permissions] == [
            permission.permission_id
        ]
        assert store.load_policy_state(tenant="acme").permissions[-1] == added
    with SQLiteBackend(path) as again:  # opening an upgraded file changes nothing more
        assert again.get_permission(added.permission_id) == added
        assert columns(path, "permissions").count("tenant_id") == 1


def test_a_fresh_file_has_the_tenant_columns_last_as_an_upgraded_one_does(path: Path, backend: SQLiteBackend) -> None:
    for table in TABLES:
        assert columns(path, table.name)[-1] == "tenant_id"
        assert set(columns(path, table.name)) == set(table.columns)


def test_the_tenant_query_uses_the_tenant_index(backend: SQLiteBackend) -> None:
    conn = backend._connection()
    for table in TABLES:
        plan = " ".join(
            str(row[3])
            for row in conn.execute(
                f"EXPLAIN QUERY PLAN {table.select()} WHERE tenant_id = ? OR tenant_id IS NULL ORDER BY rowid",
                ("acme",),
            )
        )
        assert f"idx_{table.name}_tenant" in plan, plan


# the fast load ---------------------------------------------------------------------------------------------------
def test_loading_rebuilds_rows_without_decoding_them(backend: SQLiteBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    ours = store_every_kind(backend, "acme", "ours")
    shared = store_every_kind(backend, None, "shared")
    store_every_kind(backend, "beta", "theirs")

    def no_decoding(self: Table[Any], row: Any, *, exact: bool = True) -> Any:
        raise AssertionError(f"{self.name} row was decoded the careful way")

    monkeypatch.setattr(Table, "decode", no_decoding)
    state = backend.load_policy_state(tenant="acme")
    assert list(state.permissions) == [ours[0], shared[0]]
    assert list(state.roles) == [ours[1], ours[2], shared[1], shared[2]]
    assert list(state.policies) == [ours[3], ours[4], shared[3], shared[4]]
    assert list(state.assignments) == [ours[5], shared[5]]
    assert len(backend.load_policy_state().roles) == 6


def test_rebuilt_records_equal_decoded_rows_in_every_table(backend: SQLiteBackend) -> None:
    for tenant, tag in (("acme", "a"), (None, "b"), ("beta", "c")):
        store_every_kind(backend, tenant, tag)
    conn = backend._connection()
    for table in TABLES:
        decoded = [table.decode(row) for row in conn.execute(f"{table.select()} ORDER BY rowid")]
        rebuilt = load(conn, table)
        assert rebuilt == decoded
        assert [r.model_dump(mode="json") for r in rebuilt] == [d.model_dump(mode="json") for d in decoded]
        assert [repr(r) for r in rebuilt] == [repr(d) for d in decoded]
        assert [r.tenant_id for r in load(conn, table, "acme")] == [
            d.tenant_id for d in decoded if d.tenant_id in ("acme", None)
        ]


@pytest.mark.parametrize(
    ("sql", "column"),
    [
        ("UPDATE policies SET enabled = 5", "enabled"),
        ("UPDATE policies SET created_at = replace(created_at, 'T', ' ')", "created_at"),
        ("UPDATE role_assignments SET expires_at = '2027-01-01T00:00:00.000000+01:00'", "expires_at"),
        ("UPDATE roles SET parent_roles = replace(parent_roles, '\"', ' \"')", "parent_roles"),
        ("UPDATE permissions SET provenance_hash = '00'", "provenance_hash"),
        ("UPDATE permissions SET provenance_hash = NULL", "provenance_hash"),
        ("UPDATE permissions SET effect = 'allow'", "provenance_hash"),
        ("UPDATE permissions SET tenant_id = X'61636d65' WHERE tenant_id IS NULL", "tenant_id"),
        ("UPDATE policies SET metadata = '{ }'", "metadata"),
        ("UPDATE policies SET rules = replace(rules, '\"hours\":[8,18],', '')", "rules"),
    ],
)
def test_a_row_edited_outside_greenlang_is_refused_by_a_tenant_load_too(
    backend: SQLiteBackend, sql: str, column: str
) -> None:
    store_every_kind(backend, None, "shared")
    store_every_kind(backend, "acme", "ours")
    with raw_rows(backend) as conn:
        assert conn.execute(sql).rowcount >= 1
    with pytest.raises(StoreError, match=f"column {column} in a form greenlang never writes"):
        backend.load_policy_state(tenant=None if column == "tenant_id" else "acme")  # a blob is no tenant's


def test_a_row_that_no_longer_validates_is_named(backend: SQLiteBackend) -> None:
    store_every_kind(backend, "acme", "ours")
    with raw_rows(backend) as conn:
        conn.execute("""UPDATE policies SET rules = '[{"effect":"allow"}]' WHERE policy_name = 'abac-ours'""")
    with pytest.raises(StoreError, match="stored policy 'pol-abac-ours' is not valid"):
        backend.load_policy_state(tenant="acme")


def test_a_tenant_state_verifies_against_the_trail(backend: SQLiteBackend) -> None:
    store_every_kind(backend, "acme", "ours")
    store_every_kind(backend, None, "shared")
    assert verify_policy_state(backend).ok


# reuse -------------------------------------------------------------------------------------------------------------
def test_each_tenants_state_is_reused_until_the_revision_moves(backend: SQLiteBackend) -> None:
    backend.create_permission(sample_permission(tenant_id="acme"))
    acme = backend.load_policy_state(tenant="acme")
    beta = backend.load_policy_state(tenant="beta")
    everything = backend.load_policy_state()
    assert backend.load_policy_state(tenant="acme") is acme
    assert backend.load_policy_state(tenant="beta") is beta
    assert backend.load_policy_state() is everything
    assert len(acme.permissions) == 1
    assert beta.permissions == ()
    backend.create_role(sample_role("viewer", tenant_id="beta"))
    fresh = backend.load_policy_state(tenant="acme")
    assert fresh is not acme
    assert fresh.revision == acme.revision + 1
    stats = backend.get_statistics()
    assert (stats["cache_hits"], stats["cache_misses"]) == (3, 4)


def test_only_a_few_tenant_states_are_kept(backend: SQLiteBackend) -> None:
    first = backend.load_policy_state(tenant="t0")
    for index in range(1, 12):
        backend.load_policy_state(tenant=f"t{index}")
    assert backend.load_policy_state(tenant="t11") is not None
    assert backend.load_policy_state(tenant="t0") is not first  # pushed out by the later ones
    assert len(backend._state_cache) <= 8


# bulk roles --------------------------------------------------------------------------------------------------------
def test_bulk_roles_read_the_role_graph_once(backend: SQLiteBackend) -> None:
    base = backend.bulk_create_permissions([sample_permission(action=f"act{i}") for i in range(5)])
    statements: list[str] = []
    backend._connection().set_trace_callback(statements.append)
    roles = [sample_role("r0", role_id="r0", permissions=[base[0].permission_id])]
    roles += [sample_role(f"r{i}", role_id=f"r{i}", parent_roles=[f"r{i - 1}"]) for i in range(1, 300)]
    backend.bulk_create_roles(roles)
    backend._connection().set_trace_callback(None)
    graph_reads = [s for s in statements if s.startswith("SELECT role_id, role_name, parent_roles FROM roles")]
    assert len(graph_reads) == 1
    assert [r.role_id for r in backend.list_roles()] == [f"r{i}" for i in range(300)]


def test_a_single_role_write_still_refuses_a_cycle_through_a_bulk_created_chain(backend: SQLiteBackend) -> None:
    chain = backend.bulk_create_roles(
        [sample_role("r0", role_id="r0")]
        + [sample_role(f"r{i}", role_id=f"r{i}", parent_roles=[f"r{i - 1}"]) for i in range(1, 50)]
    )
    assert len(chain) == 50
    with pytest.raises(ConflictError, match="'r0' would inherit from itself through 'r0' -> 'r49' -> 'r48'"):
        backend.update_role("r0", {"parent_roles": ["r49"]})
    assert backend.get_role("r0") == chain[0]


def test_bulk_create_keeps_tenant_ids(backend: SQLiteBackend) -> None:
    perms = backend.bulk_create_permissions([sample_permission(tenant_id="acme"), sample_permission()])
    roles = backend.bulk_create_roles([sample_role("viewer", permissions=[perms[0].permission_id], tenant_id="acme")])
    policies = backend.bulk_create_policies([sample_policy("guard", tenant_id="beta")])
    grants = backend.bulk_create_assignments([sample_assignment(roles[0].role_id, tenant_id="acme")])
    assert [p.tenant_id for p in backend.list_permissions()] == ["acme", None]
    assert [(r.tenant_id, p.tenant_id, a.tenant_id) for r, p, a in zip(roles, policies, grants, strict=True)] == [
        ("acme", "beta", "acme")
    ]
    assert backend.list_roles() == roles
    assert backend.list_policies() == policies
    assert backend.list_assignments() == grants
