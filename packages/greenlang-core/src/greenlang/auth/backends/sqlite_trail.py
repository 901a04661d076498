"""The audit trail inside a SQLite transaction: append, read and verify.

Appends read the stored head, link the event to it and move the head, all in
the caller's write transaction, so concurrent writers (threads or processes)
serialize on SQLite's write lock and the chain stays linear.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

from greenlang.audit.chain import ChainHead, ChainReport, link, verify_chain
from greenlang.audit.events import AuditEvent
from greenlang.auth.backends.sqlite_rows import AUDIT_LOGS
from greenlang.errors import ConflictError, StoreError

__all__ = ["append", "append_many", "head", "read", "verify"]


def head(conn: sqlite3.Connection) -> ChainHead | None:
    row = conn.execute("SELECT sequence, hash FROM audit_chain_head WHERE id = 1").fetchone()
    return None if row is None else ChainHead(int(row[0]), str(row[1]))


def append(conn: sqlite3.Connection, event: AuditEvent) -> AuditEvent:
    """Link ``event`` after the stored head and store both; the caller holds a write transaction."""
    return append_many(conn, [event])[0]


def append_many(conn: sqlite3.Connection, events: Sequence[AuditEvent]) -> list[AuditEvent]:
    """Link ``events`` in order after the stored head; the head is read and moved once per batch."""
    seen: set[str] = set()
    for event in events:
        if event.log_id in seen or AUDIT_LOGS.exists(conn, event.log_id):
            raise ConflictError(
                f"audit event log_id {event.log_id!r} is already in the trail; leave log_id unset for a new one"
            )
        seen.add(event.log_id)
    linked: list[AuditEvent] = []
    current = head(conn)
    for event in events:
        event = link(event, current)
        current = ChainHead(event.sequence or 0, event.provenance_hash or "")
        linked.append(event)
    AUDIT_LOGS.insert_many(conn, linked)
    if current is not None:
        conn.execute(
            "INSERT INTO audit_chain_head (id, sequence, hash) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET sequence = excluded.sequence, hash = excluded.hash",
            (current.sequence, current.hash),
        )
    return linked


def read(conn: sqlite3.Connection, after_sequence: int, limit: int | None) -> list[AuditEvent]:
    rows = conn.execute(
        f"{AUDIT_LOGS.select()} WHERE sequence > ? ORDER BY sequence LIMIT ?",
        (after_sequence, -1 if limit is None else limit),
    )
    return [AUDIT_LOGS.decode(row, exact=False) for row in rows]


class _DamagedRow(Exception):
    def __init__(self, position: int, problem: str) -> None:
        super().__init__(problem)
        self.position = position
        self.problem = problem


def _stream(conn: sqlite3.Connection) -> Iterator[AuditEvent]:
    """Every stored event in ``sequence`` order, one row at a time, each checked against its stored bytes.

    The hash covers decoded values, and decoding forgives: a timestamp in
    another text form or JSON with reordered keys reads back the same. SQL that
    reads the table directly sees the text, so each row must be exactly what
    the store would write for the event it decodes to.
    """
    for position, row in enumerate(conn.execute(f"{AUDIT_LOGS.select()} ORDER BY sequence"), start=1):
        try:
            event = AUDIT_LOGS.decode(row, exact=False)
        except StoreError as exc:
            raise _DamagedRow(position, str(exc)) from None
        column = AUDIT_LOGS.differing_column(row, event)
        if column is not None:
            kind = "text" if isinstance(row[column], str) else "value"
            raise _DamagedRow(
                position,
                f"stored {kind} of column {column} differs from the hashed event; the row was edited after it was "
                "appended",
            )
        yield event


def verify(conn: sqlite3.Connection) -> ChainReport:
    """Walk the stored trail against the stored head; the caller holds one read transaction."""
    stored_head = head(conn)
    try:
        return verify_chain(_stream(conn), stored_head)
    except _DamagedRow as damaged:
        return ChainReport(False, damaged.position - 1, stored_head, damaged.position, damaged.problem)
