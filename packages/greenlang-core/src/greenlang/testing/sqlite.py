"""Raw row access to a SQLite store file, and the conformance hooks built on it.

Tampering goes through a second connection to the file, as an attacker with
file access would, bypassing the backend's checks and leaving the chain head.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from typing import Any

from greenlang.audit.events import AuditEvent
from greenlang.auth.backends.base import AuthBackend
from greenlang.auth.backends.sqlite import AsyncSQLiteBackend, SQLiteBackend
from greenlang.auth.backends.sqlite_rows import AUDIT_LOGS
from greenlang.testing.facade import SyncFacade
from greenlang.testing.suite import BackendConformance

__all__ = [
    "SQLiteConformance",
    "store_path",
    "raw_rows",
    "tamper_event",
    "delete_event",
    "swap_events",
    "insert_event",
    "set_role_parents",
]


def store_path(backend: object) -> str:
    """The database file behind a SQLite backend, a ``SyncFacade`` of one, or a path itself."""
    if isinstance(backend, SyncFacade):
        backend = backend.inner
    if isinstance(backend, SQLiteBackend | AsyncSQLiteBackend):
        path = backend.path
    elif isinstance(backend, str | os.PathLike):
        path = os.fspath(backend)
    else:
        raise TypeError(f"expected a SQLite backend or a path, got {type(backend).__name__}")
    if path == ":memory:":
        raise ValueError("raw row access needs a file-backed store; open the backend on a file path")
    return path


@contextmanager
def raw_rows(backend: object) -> Iterator[sqlite3.Connection]:
    """A second connection to the store's file, inside one write transaction."""
    with closing(sqlite3.connect(store_path(backend), isolation_level=None, timeout=30)) as conn:
        conn.row_factory = sqlite3.Row
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def tamper_event(backend: object, sequence: int, field: str, value: Any) -> None:
    if field not in AUDIT_LOGS.columns:
        raise ValueError(f"audit events have no field {field!r}")
    stored = json.dumps(value) if field in AUDIT_LOGS.json_columns else value
    with raw_rows(backend) as conn:
        changed = conn.execute(
            f"UPDATE audit_logs SET {field} = ? WHERE sequence = ?",  # noqa: S608
            (stored, sequence),
        ).rowcount
    if changed != 1:
        raise LookupError(f"no stored audit event has sequence {sequence}")


def delete_event(backend: object, sequence: int) -> None:
    with raw_rows(backend) as conn:
        if conn.execute("DELETE FROM audit_logs WHERE sequence = ?", (sequence,)).rowcount != 1:
            raise LookupError(f"no stored audit event has sequence {sequence}")


def swap_events(backend: object, first: int, second: int) -> None:
    with raw_rows(backend) as conn:
        conn.execute("UPDATE audit_logs SET sequence = -1 WHERE sequence = ?", (first,))
        conn.execute("UPDATE audit_logs SET sequence = ? WHERE sequence = ?", (first, second))
        conn.execute("UPDATE audit_logs SET sequence = ? WHERE sequence = -1", (second,))


def insert_event(backend: object, event: AuditEvent) -> None:
    if event.sequence is None:
        raise ValueError("the event to insert needs a sequence")
    with raw_rows(backend) as conn:
        conn.execute("UPDATE audit_logs SET sequence = -(sequence + 1) WHERE sequence >= ?", (event.sequence,))
        conn.execute("UPDATE audit_logs SET sequence = -sequence WHERE sequence < 0")
        AUDIT_LOGS.insert(conn, event)


def set_role_parents(backend: object, role_id: str, parent_ids: Sequence[str]) -> None:
    with raw_rows(backend) as conn:
        conn.execute("UPDATE roles SET parent_roles = ? WHERE role_id = ?", (json.dumps(list(parent_ids)), role_id))


class SQLiteConformance(BackendConformance):
    """The hooks for file-backed SQLite stores, sync or through ``SyncFacade``; subclasses give ``backend``."""

    def reopen(self, backend: AuthBackend) -> AuthBackend:
        path = store_path(backend)
        backend.close()
        if isinstance(backend, SyncFacade):
            return SyncFacade(AsyncSQLiteBackend(path))
        return SQLiteBackend(path)

    def tamper(self, backend: AuthBackend, sequence: int, field: str, value: Any) -> None:
        tamper_event(backend, sequence, field, value)

    def delete_raw_event(self, backend: AuthBackend, sequence: int) -> None:
        delete_event(backend, sequence)

    def swap_raw_events(self, backend: AuthBackend, first: int, second: int) -> None:
        swap_events(backend, first, second)

    def insert_raw_event(self, backend: AuthBackend, event: AuditEvent) -> None:
        insert_event(backend, event)

    def force_role_parents(self, backend: AuthBackend, role_id: str, parent_ids: Sequence[str]) -> None:
        set_role_parents(backend, role_id, parent_ids)
