"""Transactions and bookkeeping shared by every SQLite write: the connection, nesting, counters, audit.

One connection, one re-entrant lock. The outermost write runs ``BEGIN
IMMEDIATE``, so writers in other processes wait on SQLite's lock instead of
interleaving; nested writes are savepoints, so a failed inner write undoes only
itself while an exception that escapes the outermost block undoes everything.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from greenlang.audit.bulk import BULK_VERB
from greenlang.audit.events import AuditEvent
from greenlang.auth.backends import sqlite_trail
from greenlang.auth.backends.sqlite_schema import connect
from greenlang.errors import ConflictError, StoreError
from greenlang.timeutil import Clock
from greenlang.validation import parse

__all__ = ["SQLiteStore", "operation"]

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="SQLiteStore")

_ACTIONS = {"created": "create", "updated": "update", "deleted": "delete", BULK_VERB: "create"}


class SQLiteStore:
    """The connection and transaction machinery under ``SQLiteBackend``."""

    def __init__(self, path: str | Path, *, clock: Clock, busy_timeout: float) -> None:
        self._path = str(path)
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._depth = 0
        self._operations = 0
        self._errors = 0
        self._conn: sqlite3.Connection | None = connect(path, busy_timeout)

    @property
    def path(self) -> str:
        """The database file, or ``":memory:"``."""
        return self._path

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the SQLite store at {self._path!r} is closed; open a new backend to use it")
        return self._conn

    def _count(self, failed: bool) -> None:
        with self._lock:
            self._operations += 1
            if failed:
                self._errors += 1

    def _busy(self, exc: sqlite3.Error) -> StoreError:
        return StoreError(
            f"the SQLite store at {self._path!r} could not complete the operation ({exc}); "
            f"if another process holds it longer than {self._busy_timeout:g}s, retry later"
        )

    @contextmanager
    def _query(self) -> Iterator[sqlite3.Connection]:
        """The connection for one statement, under the lock."""
        with self._lock:
            yield self._connection()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction (a consistent snapshot), or the enclosing transaction."""
        with self._lock:
            conn = self._connection()
            if self._depth:
                yield conn
                return
            conn.execute("BEGIN")
            self._depth += 1
            try:
                yield conn
            finally:
                self._depth -= 1
                conn.execute("COMMIT")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, or a savepoint inside the enclosing one."""
        with self._lock:
            conn = self._connection()
            depth = self._depth
            savepoint = f"greenlang_{depth}"
            try:
                conn.execute(f"SAVEPOINT {savepoint}" if depth else "BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._busy(exc) from exc
            self._depth += 1
            try:
                yield conn
            except BaseException:
                self._depth -= 1
                if depth:
                    conn.execute(f"ROLLBACK TO {savepoint}")
                    conn.execute(f"RELEASE {savepoint}")
                elif conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            try:
                conn.execute(f"RELEASE {savepoint}" if depth else "COMMIT")
            except sqlite3.Error as exc:
                if not depth and conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise self._busy(exc) from exc

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Group writes: nothing commits until the outermost block exits; an exception undoes them all."""
        with self._write():
            yield

    def _record(
        self,
        conn: sqlite3.Connection,
        kind: str,
        verb: str,
        key: str | None,
        actor: str | None,
        details: dict[str, Any],
    ) -> AuditEvent:
        """Append the audit event for a policy write and bump the revision, in the caller's transaction."""
        event = parse(
            AuditEvent,
            {
                "timestamp": self._clock(),
                "event_type": f"{kind}.{verb}",
                "user_id": actor,
                "resource": key,
                "action": _ACTIONS[verb],
                "result": "success",
                "details": details,
            },
            "audit event",
        )
        linked = sqlite_trail.append(conn, event)
        conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'revision'")
        return linked

    def close(self) -> None:
        """Close the connection; closing twice is harmless."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def operation(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Count the call for statistics and turn SQLite's errors into the SDK's."""

    @functools.wraps(method)
    def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = method(self, *args, **kwargs)
        except sqlite3.IntegrityError as exc:
            self._count(failed=True)
            raise ConflictError(
                f"the store refused the write because it breaks a rule ({exc}); nothing was changed"
            ) from exc
        except sqlite3.Error as exc:
            self._count(failed=True)
            raise self._busy(exc) from exc
        except BaseException:
            self._count(failed=True)
            raise
        self._count(failed=False)
        return result

    return run
