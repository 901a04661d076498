"""The SQLite schema: the seed's four tables plus what the model and the chain need.

JSON columns hold JSON text; timestamps hold ``timeutil.isoformat`` text, whose
fixed width makes text order equal time order and makes a stored audit event
hash to the same value after a round trip.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from greenlang.errors import StoreError

__all__ = ["SCHEMA_VERSION", "connect", "ensure_schema"]

SCHEMA_VERSION = 2
"""1: the seed's tables and the chain; 2: ``tenant_id`` on the four policy tables."""

_TENANT_TABLES = ("permissions", "roles", "policies", "role_assignments")

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS permissions (
    permission_id TEXT PRIMARY KEY,
    resource TEXT NOT NULL,
    action TEXT NOT NULL,
    effect TEXT NOT NULL CHECK (effect IN ('allow', 'deny')),
    scope TEXT,
    conditions TEXT NOT NULL DEFAULT '[]',
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT,
    created_by TEXT,
    provenance_hash TEXT,
    tenant_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_permissions_resource_action ON permissions (resource, action);
CREATE INDEX IF NOT EXISTS idx_permissions_effect_scope ON permissions (effect, scope);
CREATE INDEX IF NOT EXISTS idx_permissions_scope ON permissions (scope);
CREATE TABLE IF NOT EXISTS roles (
    role_id TEXT PRIMARY KEY,
    role_name TEXT NOT NULL UNIQUE,
    description TEXT,
    permissions TEXT NOT NULL DEFAULT '[]',
    parent_roles TEXT NOT NULL DEFAULT '[]',
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT,
    created_by TEXT,
    is_system_role INTEGER NOT NULL DEFAULT 0,
    priority INTEGER NOT NULL DEFAULT 0,
    tenant_id TEXT
);
CREATE TABLE IF NOT EXISTS policies (
    policy_id TEXT PRIMARY KEY,
    policy_name TEXT NOT NULL UNIQUE,
    policy_type TEXT NOT NULL CHECK (policy_type IN ('rbac', 'abac', 'temporal')),
    rules TEXT NOT NULL,
    conditions TEXT NOT NULL DEFAULT '[]',
    priority INTEGER NOT NULL DEFAULT 0,
    enabled INTEGER NOT NULL DEFAULT 1,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT,
    created_by TEXT,
    valid_from TEXT,
    expires_at TEXT,
    tenant_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_policies_enabled ON policies (enabled);
CREATE TABLE IF NOT EXISTS role_assignments (
    assignment_id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    role_id TEXT NOT NULL REFERENCES roles (role_id),
    scope TEXT,
    valid_from TEXT,
    expires_at TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    created_by TEXT,
    tenant_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_role_assignments_subject ON role_assignments (subject);
CREATE INDEX IF NOT EXISTS idx_role_assignments_role ON role_assignments (role_id);
CREATE TABLE IF NOT EXISTS audit_logs (
    log_id TEXT PRIMARY KEY,
    sequence INTEGER NOT NULL UNIQUE,
    timestamp TEXT NOT NULL,
    event_type TEXT NOT NULL,
    user_id TEXT,
    resource TEXT,
    action TEXT,
    result TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}',
    ip_address TEXT,
    user_agent TEXT,
    session_id TEXT,
    correlation_id TEXT,
    provenance_hash TEXT
);
CREATE INDEX IF NOT EXISTS idx_audit_timestamp ON audit_logs (timestamp);
CREATE INDEX IF NOT EXISTS idx_audit_user ON audit_logs (user_id);
CREATE INDEX IF NOT EXISTS idx_audit_event_type ON audit_logs (event_type);
CREATE TABLE IF NOT EXISTS audit_chain_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sequence INTEGER NOT NULL,
    hash TEXT NOT NULL
);
"""

_TENANT_INDEXES = [f"CREATE INDEX IF NOT EXISTS idx_{table}_tenant ON {table} (tenant_id)" for table in _TENANT_TABLES]
"""Made after any upgrade, since a version 1 file gains the column only then."""


def connect(path: str | Path, busy_timeout: float) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode (we issue ``BEGIN`` ourselves) with WAL and foreign keys on."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(
            f"cannot open the SQLite store at {str(path)!r} ({exc}); check the path and its permissions"
        ) from exc
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if str(path) != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        ensure_schema(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(
            f"cannot prepare the SQLite store at {str(path)!r} ({exc}); is it a GreenLang database?"
        ) from exc
    except StoreError:
        conn.close()
        raise
    return conn


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create missing tables, upgrade an older file in place, and refuse one written by a newer schema."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _TABLES.split(";"):
            if statement.strip():
                conn.execute(statement)
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            conn.execute("INSERT INTO meta (key, value) VALUES ('revision', 0)")
        elif row[0] > SCHEMA_VERSION:
            raise StoreError(
                f"the store uses schema version {row[0]}, newer than this greenlang-core understands "
                f"({SCHEMA_VERSION}); upgrade greenlang-core"
            )
        elif row[0] < 2:
            _add_tenants(conn)
        for statement in _TENANT_INDEXES:
            conn.execute(statement)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _add_tenants(conn: sqlite3.Connection) -> None:
    """Version 1 to 2: every policy row stays shared by all tenants (``tenant_id`` NULL).

    Adding a nullable column rewrites no row, so a row keeps the canonical form it was written in.
    """
    for table in _TENANT_TABLES:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN tenant_id TEXT")
    conn.execute("UPDATE meta SET value = 2 WHERE key = 'schema_version'")
