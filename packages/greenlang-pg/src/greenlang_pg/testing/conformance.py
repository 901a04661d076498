"""The conformance hooks for PostgreSQL stores: reopen, and raw row access that bypasses every check.

Tampering goes through a separate connection with plain SQL, as an operator
with database access would, and leaves the chain head alone.
"""

# ruff: noqa: S608
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from greenlang.audit.events import AuditEvent
from greenlang.auth.backends.base import AuthBackend
from greenlang.testing import BackendConformance, SyncFacade
from greenlang_pg.backend import PostgreSQLBackend
from greenlang_pg.backend_async import AsyncPostgreSQLBackend
from greenlang_pg.config import DatabaseConfig
from greenlang_pg.rows import AUDIT_LOGS, json_text

__all__ = ["PostgreSQLConformance", "raw_connection", "store_config"]


def store_config(backend: object) -> DatabaseConfig:
    """The database behind a PostgreSQL backend or a ``SyncFacade`` of one."""
    if isinstance(backend, SyncFacade):
        backend = backend.inner
    if isinstance(backend, PostgreSQLBackend | AsyncPostgreSQLBackend):
        return backend.config
    raise TypeError(f"expected a PostgreSQL backend, got {type(backend).__name__}")


@contextmanager
def raw_connection(backend: object) -> Iterator[psycopg.Connection[Any]]:
    """A separate connection to the store's database, inside one transaction."""
    with psycopg.connect(**store_config(backend).libpq_params()) as conn, conn.transaction():
        yield conn


class PostgreSQLConformance(BackendConformance):
    """The hooks for PostgreSQL stores, sync or through ``SyncFacade``; subclasses give ``backend``."""

    def reopen(self, backend: AuthBackend) -> AuthBackend:
        config = store_config(backend)
        backend.close()
        if isinstance(backend, SyncFacade):
            return SyncFacade(AsyncPostgreSQLBackend(config))
        return PostgreSQLBackend(config)

    def tamper(self, backend: AuthBackend, sequence: int, field: str, value: Any) -> None:
        if field not in AUDIT_LOGS.columns:
            raise ValueError(f"audit events have no field {field!r}")
        stored, cast = (json_text(value), "::jsonb") if field in AUDIT_LOGS.json_columns else (value, "")
        with raw_connection(backend) as conn:
            changed = conn.execute(
                f"UPDATE audit_logs SET {field} = %s{cast} WHERE sequence = %s", (stored, sequence)
            ).rowcount
        if changed != 1:
            raise LookupError(f"no stored audit event has sequence {sequence}")

    def delete_raw_event(self, backend: AuthBackend, sequence: int) -> None:
        with raw_connection(backend) as conn:
            if conn.execute("DELETE FROM audit_logs WHERE sequence = %s", (sequence,)).rowcount != 1:
                raise LookupError(f"no stored audit event has sequence {sequence}")

    def swap_raw_events(self, backend: AuthBackend, first: int, second: int) -> None:
        with raw_connection(backend) as conn:
            conn.execute("UPDATE audit_logs SET sequence = -1 WHERE sequence = %s", (first,))
            conn.execute("UPDATE audit_logs SET sequence = %s WHERE sequence = %s", (first, second))
            conn.execute("UPDATE audit_logs SET sequence = %s WHERE sequence = -1", (second,))

    def insert_raw_event(self, backend: AuthBackend, event: AuditEvent) -> None:
        if event.sequence is None:
            raise ValueError("the event to insert needs a sequence")
        values = AUDIT_LOGS.encode(event)
        marks = ", ".join("%s::jsonb" if column in AUDIT_LOGS.json_columns else "%s" for column in AUDIT_LOGS.columns)
        with raw_connection(backend) as conn:
            conn.execute("UPDATE audit_logs SET sequence = -(sequence + 1) WHERE sequence >= %s", (event.sequence,))
            conn.execute("UPDATE audit_logs SET sequence = -sequence WHERE sequence < 0")
            conn.execute(f"INSERT INTO audit_logs ({', '.join(AUDIT_LOGS.columns)}) VALUES ({marks})", values)

    def force_role_parents(self, backend: AuthBackend, role_id: str, parent_ids: Sequence[str]) -> None:
        with raw_connection(backend) as conn:
            conn.execute(
                "UPDATE roles SET parent_roles = %s::jsonb WHERE role_id = %s", (json_text(list(parent_ids)), role_id)
            )
