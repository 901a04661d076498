"""Migration 001 builds exactly the seed's schema, compared from the system catalog of a real server.

The reference is the seed's DDL itself, copied by hand below and run on one
database; ``upgrade 001`` runs on another; their catalogs must not differ in
any column, constraint or index. Databases in the field were built from that
DDL, so a difference here means 001 upgrades them into something else.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, pool

from greenlang_pg import migrate
from greenlang_pg.config import DatabaseConfig
from greenlang_pg.models import Base
from greenlang_pg.testing import TestServer

# The seed document's four CREATE TABLE blocks and their indexes, verbatim.
SEED_DDL = """
CREATE TABLE permissions (
    permission_id VARCHAR(64) PRIMARY KEY,
    resource VARCHAR(255) NOT NULL,
    action VARCHAR(100) NOT NULL,
    effect VARCHAR(10) NOT NULL CHECK (effect IN ('allow', 'deny')),
    scope VARCHAR(255),
    conditions JSONB,
    metadata JSONB,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP,
    created_by VARCHAR(255),
    provenance_hash VARCHAR(64)
);

-- Performance indexes
CREATE INDEX idx_resource_action ON permissions(resource, action);
CREATE INDEX idx_effect_scope ON permissions(effect, scope);
CREATE INDEX idx_created_at ON permissions(created_at);
CREATE INDEX idx_provenance ON permissions(provenance_hash);

CREATE TABLE roles (
    role_id VARCHAR(64) PRIMARY KEY,
    role_name VARCHAR(100) UNIQUE NOT NULL,
    description TEXT,
    permissions JSONB,  -- Array of permission IDs
    metadata JSONB,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP,
    created_by VARCHAR(255),
    is_system_role BOOLEAN DEFAULT FALSE,
    priority INTEGER DEFAULT 0
);

-- Performance indexes
CREATE INDEX idx_role_name ON roles(role_name);
CREATE INDEX idx_role_priority ON roles(priority);
CREATE INDEX idx_system_role ON roles(is_system_role);

CREATE TABLE policies (
    policy_id VARCHAR(64) PRIMARY KEY,
    policy_name VARCHAR(100) UNIQUE NOT NULL,
    policy_type VARCHAR(50) NOT NULL,  -- 'rbac', 'abac', 'temporal'
    rules JSONB NOT NULL,
    conditions JSONB,
    priority INTEGER DEFAULT 0,
    enabled BOOLEAN DEFAULT TRUE,
    metadata JSONB,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP,
    created_by VARCHAR(255),
    expires_at TIMESTAMP
);

-- Performance indexes
CREATE INDEX idx_policy_name ON policies(policy_name);
CREATE INDEX idx_policy_type ON policies(policy_type);
CREATE INDEX idx_policy_enabled ON policies(enabled);
CREATE INDEX idx_policy_priority ON policies(priority);
CREATE INDEX idx_policy_expires ON policies(expires_at);

CREATE TABLE audit_logs (
    log_id VARCHAR(64) PRIMARY KEY DEFAULT gen_random_uuid(),
    timestamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    event_type VARCHAR(50) NOT NULL,
    user_id VARCHAR(255),
    resource VARCHAR(255),
    action VARCHAR(100),
    result VARCHAR(20) NOT NULL CHECK (result IN ('success', 'failure', 'error')),
    details JSONB,
    ip_address VARCHAR(45),
    user_agent TEXT,
    session_id VARCHAR(255),
    correlation_id VARCHAR(64),
    provenance_hash VARCHAR(64)
);

-- Performance indexes
CREATE INDEX idx_audit_timestamp ON audit_logs(timestamp);
CREATE INDEX idx_audit_user ON audit_logs(user_id);
CREATE INDEX idx_audit_event_type ON audit_logs(event_type);
CREATE INDEX idx_audit_session ON audit_logs(session_id);
CREATE INDEX idx_audit_correlation ON audit_logs(correlation_id);
CREATE INDEX idx_audit_result ON audit_logs(result);
"""

SEED_INDEXES = (
    "idx_resource_action",
    "idx_effect_scope",
    "idx_created_at",
    "idx_provenance",
    "idx_role_name",
    "idx_role_priority",
    "idx_system_role",
    "idx_policy_name",
    "idx_policy_type",
    "idx_policy_enabled",
    "idx_policy_priority",
    "idx_policy_expires",
    "idx_audit_timestamp",
    "idx_audit_user",
    "idx_audit_event_type",
    "idx_audit_session",
    "idx_audit_correlation",
    "idx_audit_result",
)

_ALEMBIC = ("alembic_version", "alembic_version_pkc")

_RELATIONS = """
SELECT c.relname, c.relkind, c.relpersistence, c.reloptions
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relname <> ALL(%(skip)s)
"""
_COLUMNS = """
SELECT table_name, column_name, ordinal_position, data_type, udt_name, character_maximum_length,
       numeric_precision, numeric_scale, datetime_precision, is_nullable, column_default,
       is_identity, identity_generation, is_generated, collation_name
FROM information_schema.columns
WHERE table_schema = 'public' AND table_name <> ALL(%(skip)s)
"""
_CONSTRAINTS = """
SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid), condeferrable, condeferred, convalidated
FROM pg_constraint
WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> ALL(%(skip)s)
"""
_INDEXES = """
SELECT tablename, indexname, indexdef FROM pg_indexes
WHERE schemaname = 'public' AND tablename <> ALL(%(skip)s)
"""
_COMMENTS = """
SELECT c.relname, d.objsubid, d.description
FROM pg_description d JOIN pg_class c ON c.oid = d.objoid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relname <> ALL(%(skip)s)
"""


@dataclass(frozen=True)
class Catalog:
    """What the catalog says about the public schema (Alembic's own table left out), keyed by name."""

    relations: dict[str, tuple[Any, ...]]
    columns: dict[tuple[str, str], tuple[Any, ...]]
    constraints: dict[tuple[str, str], tuple[Any, ...]]
    indexes: dict[tuple[str, str], str]
    comments: dict[tuple[str, int], str]


def read_catalog(connection: psycopg.Connection[tuple[Any, ...]]) -> Catalog:
    skip = {"skip": list(_ALEMBIC)}

    def rows(query: str) -> list[tuple[Any, ...]]:
        return connection.execute(query, skip).fetchall()

    return Catalog(
        relations={row[0]: row[1:] for row in rows(_RELATIONS)},
        columns={(row[0], row[1]): row[2:] for row in rows(_COLUMNS)},
        constraints={(row[0], row[1]): row[2:] for row in rows(_CONSTRAINTS)},
        # pg_indexes names the schema in each definition; the rest must match exactly.
        indexes={(row[0], row[1]): row[2].replace(" ON public.", " ON ") for row in rows(_INDEXES)},
        comments={(row[0], row[1]): row[2] for row in rows(_COMMENTS)},
    )


def catalog_of(server: TestServer, database: str) -> Catalog:
    with server.connect(database) as connection:
        return read_catalog(connection)


def differences(expected: Catalog, actual: Catalog) -> list[str]:
    """One line per difference: missing, unexpected or changed, by catalog part and name."""
    found: list[str] = []
    for part in fields(Catalog):
        want: Mapping[Any, Any] = getattr(expected, part.name)
        got: Mapping[Any, Any] = getattr(actual, part.name)
        for key in sorted(want.keys() | got.keys(), key=repr):
            if key not in got:
                found.append(f"{part.name} {key}: missing (reference has {want[key]!r})")
            elif key not in want:
                found.append(f"{part.name} {key}: unexpected {got[key]!r}")
            elif want[key] != got[key]:
                found.append(f"{part.name} {key}: reference {want[key]!r}, got {got[key]!r}")
    return found


def assert_same(expected: Catalog, actual: Catalog) -> None:
    found = differences(expected, actual)
    assert not found, "the schemas differ:\n" + "\n".join(found)


@pytest.fixture(scope="module")
def seed_database(pg_server: TestServer) -> Iterator[str]:
    """A database built by running the seed's DDL as the application user."""
    name = pg_server.create_database()
    try:
        pg_server.execute(SEED_DDL, name, superuser=False)
        yield name
    finally:
        pg_server.drop_database(name)


@pytest.fixture(scope="module")
def seed_catalog(pg_server: TestServer, seed_database: str) -> Catalog:
    return catalog_of(pg_server, seed_database)


@pytest.fixture
def at_001(empty_pg_config: DatabaseConfig) -> DatabaseConfig:
    migrate.upgrade(empty_pg_config, "001")
    return empty_pg_config


def _name(config: DatabaseConfig) -> str:
    assert config.database is not None
    return config.database


def test_the_seed_ddl_builds_the_four_tables_with_18_named_indexes(seed_catalog: Catalog) -> None:
    tables = {name for name, (kind, *_) in seed_catalog.relations.items() if kind == "r"}
    assert tables == {"permissions", "roles", "policies", "audit_logs"}
    named = {name for _, name in seed_catalog.indexes if name.startswith("idx_")}
    assert named == set(SEED_INDEXES)
    assert len(SEED_INDEXES) == 18


def test_upgrade_001_matches_the_seed_ddl_column_by_column(
    pg_server: TestServer, seed_catalog: Catalog, at_001: DatabaseConfig
) -> None:
    migrated = catalog_of(pg_server, _name(at_001))
    assert_same(seed_catalog, migrated)


def test_upgrade_001_has_every_seed_index_with_the_seed_definition(
    pg_server: TestServer, seed_catalog: Catalog, at_001: DatabaseConfig
) -> None:
    migrated = {name: definition for (_, name), definition in catalog_of(pg_server, _name(at_001)).indexes.items()}
    seed = {name: definition for (_, name), definition in seed_catalog.indexes.items()}
    for name in SEED_INDEXES:
        assert name in migrated, f"upgrade 001 did not create {name}"
        assert migrated[name] == seed[name]


def test_upgrade_001_keeps_the_seed_checks_defaults_and_unique_names(
    pg_server: TestServer, at_001: DatabaseConfig
) -> None:
    """Spot checks in plain words, so a failure of the catalog comparison above is easy to read."""
    catalog = catalog_of(pg_server, _name(at_001))
    checks = {name: definition for (_, name), (kind, definition, *_) in catalog.constraints.items() if kind == "c"}
    assert set(checks) == {"permissions_effect_check", "audit_logs_result_check"}
    assert "'allow'" in checks["permissions_effect_check"]
    assert "'deny'" in checks["permissions_effect_check"]
    unique = {name for (_, name), (kind, *_) in catalog.constraints.items() if kind == "u"}
    assert unique == {"roles_role_name_key", "policies_policy_name_key"}
    default = {key: row[8] for key, row in catalog.columns.items()}
    assert default[("audit_logs", "log_id")] == "gen_random_uuid()"
    assert default[("roles", "is_system_role")] == "false"
    assert default[("policies", "enabled")] == "true"
    assert default[("permissions", "created_at")] == "CURRENT_TIMESTAMP"
    assert catalog.columns[("audit_logs", "ip_address")][3] == 45


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE roles ALTER COLUMN priority SET DEFAULT 1",
        "ALTER TABLE audit_logs ALTER COLUMN log_id DROP DEFAULT",
        "ALTER TABLE audit_logs ALTER COLUMN ip_address TYPE varchar(64)",
        "ALTER TABLE policies ALTER COLUMN policy_type DROP NOT NULL",
        "ALTER TABLE permissions DROP CONSTRAINT permissions_effect_check, "
        "ADD CONSTRAINT permissions_effect_check CHECK (effect IN ('allow', 'deny', 'audit'))",
        "ALTER TABLE roles DROP CONSTRAINT roles_role_name_key",
        "DROP INDEX idx_effect_scope; CREATE INDEX idx_effect_scope ON permissions(scope, effect)",
        "CREATE UNIQUE INDEX idx_audit_extra ON audit_logs(correlation_id)",
        "COMMENT ON COLUMN roles.priority IS 'higher wins'",
    ],
)
def test_the_comparison_notices_a_small_change(
    pg_server: TestServer, seed_database: str, seed_catalog: Catalog, change: str
) -> None:
    """The comparison can fail: each change, made and rolled back inside one transaction, shows as a difference."""
    with pg_server.connect(seed_database, autocommit=False) as connection:
        connection.execute(change)
        changed = read_catalog(connection)
        connection.rollback()
    assert differences(seed_catalog, changed)
    assert not differences(seed_catalog, catalog_of(pg_server, seed_database))


def test_downgrade_from_head_to_001_restores_the_seed_schema(
    pg_server: TestServer, seed_catalog: Catalog, empty_pg_config: DatabaseConfig
) -> None:
    migrate.upgrade(empty_pg_config, "head")
    migrate.downgrade(empty_pg_config, "001")
    assert_same(seed_catalog, catalog_of(pg_server, _name(empty_pg_config)))


def test_the_models_build_the_same_catalog_as_the_migrations_at_head(
    pg_server: TestServer, pg_config: DatabaseConfig, empty_pg_config: DatabaseConfig
) -> None:
    """Autogenerate does not compare CHECK constraints or identity sequences; the catalog does."""
    engine = create_engine(
        empty_pg_config.sync_url(), connect_args=empty_pg_config.sync_connect_args(), poolclass=pool.NullPool
    )
    try:
        with engine.begin() as connection:
            Base.metadata.create_all(connection)
    finally:
        engine.dispose()
    assert_same(catalog_of(pg_server, _name(pg_config)), catalog_of(pg_server, _name(empty_pg_config)))
