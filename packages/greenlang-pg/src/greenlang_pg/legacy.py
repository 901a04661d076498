"""What migration 002 does with seed-era rows: link their audit events into the chain, and account for their records.

A seed-era database holds permissions, roles and policies that no greenlang
audit event ever created, so ``greenlang audit verify`` would report them
forever. After linking the old events, the migration compares the stored
records with what the trail replays to and appends the events that reconcile
the two (created in bulk, updated, deleted), under the actor ``migration:002``:
the trail then says, truthfully, that these records came in with the upgrade.
A record that no longer validates stops the upgrade, naming the row.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, text

from greenlang.audit.bulk import BULK_VERB, chunks
from greenlang.audit.chain import GENESIS_HASH, ChainHead, link
from greenlang.audit.events import AuditEvent
from greenlang.audit.state import Replayed, replay
from greenlang.errors import StoreError
from greenlang.timeutil import utcnow
from greenlang.validation import describe
from greenlang_pg.rows import (
    ASSIGNMENTS,
    AUDIT_LOGS,
    PERMISSIONS,
    POLICIES,
    ROLES,
    TENANT_COLUMN,
    Table,
    json_text,
    parse_json,
)

__all__ = ["adopt_events"]

_LEGACY_KEY = "legacy_provenance_hash"


def adopt_events(connection: Connection) -> tuple[int, str, int]:
    """Number and link every unsequenced event in (timestamp, log_id) order.

    Returns the new head's sequence and hash, and how many of the events are
    policy writes (what ``greenlang.audit.state`` replays), for the revision counter.
    """
    columns = [c for c in AUDIT_LOGS.columns if c != "sequence"]
    select = ", ".join(f"{c}::text" if c in AUDIT_LOGS.json_columns else c for c in columns)
    rows = connection.execute(
        text(f"SELECT {select} FROM audit_logs WHERE sequence IS NULL ORDER BY timestamp, log_id")  # noqa: S608
    ).all()
    head: ChainHead | None = None
    adopted: list[AuditEvent] = []
    for row in rows:
        data: dict[str, Any] = dict(zip(columns, row, strict=True))
        details = parse_json(data["details"]) if data["details"] is not None else {}
        if not isinstance(details, dict):
            details = {"legacy_details": details}
        if data["provenance_hash"] is not None:
            details[_LEGACY_KEY] = data["provenance_hash"]
        data.update(details=details, provenance_hash=None)
        try:
            event = AuditEvent.model_validate(data)
        except ValidationError as exc:
            raise StoreError(
                f"legacy audit event {data['log_id']!r} cannot join the chain ({describe(exc, 'audit event')}); "
                "repair the row and run the upgrade again"
            ) from None
        event = link(event, head)
        adopted.append(event)
        head = ChainHead(event.sequence or 0, event.provenance_hash or "")
        connection.execute(
            text(
                "UPDATE audit_logs SET sequence = :sequence, provenance_hash = :hash, "
                "details = CAST(:details AS jsonb) WHERE log_id = :log_id"
            ),
            {
                "sequence": event.sequence,
                "hash": event.provenance_hash,
                "details": json_text(event.model_dump(mode="json")["details"]),
                "log_id": event.log_id,
            },
        )
    for event in _reconciling_events(connection, replay(adopted)):
        event = link(event, head)
        adopted.append(event)
        head = ChainHead(event.sequence or 0, event.provenance_hash or "")
        _insert(connection, event)
    writes = replay(adopted).writes
    return (head.sequence, head.hash, writes) if head else (0, GENESIS_HASH, 0)


_ACTOR = "migration:002"
_ACTIONS = {BULK_VERB: "create", "updated": "update", "deleted": "delete"}
_TABLES: dict[str, Table[Any]] = {
    "permission": PERMISSIONS,
    "role": ROLES,
    "policy": POLICIES,
    "assignment": ASSIGNMENTS,
}


def _stored(connection: Connection, kind: str, table: Table[Any]) -> dict[str, dict[str, Any]]:
    """The records as of this revision, whose tables have no tenant column yet (003 adds it)."""
    columns = [column for column in table.columns if column != TENANT_COLUMN]
    rows = connection.execute(text(f"{table.select_of(columns)} ORDER BY {table.ordered_by}")).all()
    records: dict[str, dict[str, Any]] = {}
    for row in rows:
        try:
            record = table.decode(tuple(row), columns)
        except StoreError as exc:
            raise StoreError(
                f"seed-era {table.what} {row[0]!r} cannot be brought into greenlang ({exc}); "
                "repair the row and run the upgrade again"
            ) from None
        records[getattr(record, table.key)] = record.model_dump(mode="json", exclude={TENANT_COLUMN})
    return records


def _same(stored: dict[str, Any], replayed: dict[str, Any]) -> bool:
    """Equal but for the derived hash; a trail written after 003 names ``tenant_id``, and ``None`` is its absence."""

    def compared(record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if k != "provenance_hash" and not (k == TENANT_COLUMN and v is None)}

    return compared(stored) == compared(replayed)


def _reconciling_events(connection: Connection, replayed: Replayed) -> list[AuditEvent]:
    """The events after which the trail replays to exactly the stored records."""
    now = utcnow()
    events: list[AuditEvent] = []

    def event(kind: str, verb: str, resource: str | None, details: dict[str, Any]) -> AuditEvent:
        return AuditEvent(
            timestamp=now,
            event_type=f"{kind}.{verb}",
            user_id=_ACTOR,
            resource=resource,
            action=_ACTIONS[verb],
            result="success",
            details=details,
        )

    for kind, table in _TABLES.items():
        stored = _stored(connection, kind, table)
        expected = replayed.records[kind]
        new = [record for key, record in stored.items() if key not in expected]
        for chunk in chunks(new):
            events.append(event(kind, BULK_VERB, None, {"created": new[chunk.start : chunk.stop]}))
        for key, record in stored.items():
            if key in expected and not _same(record, expected[key]):
                events.append(event(kind, "updated", key, {"before": expected[key], "after": record}))
        for key, record in expected.items():
            if key not in stored:
                events.append(event(kind, "deleted", key, {"before": record}))
    return events


def _insert(connection: Connection, event: AuditEvent) -> None:
    columns = AUDIT_LOGS.columns
    marks = ", ".join(
        f"CAST(:c{i} AS jsonb)" if column in AUDIT_LOGS.json_columns else f":c{i}" for i, column in enumerate(columns)
    )
    connection.execute(
        text(f"INSERT INTO audit_logs ({', '.join(columns)}) VALUES ({marks})"),  # noqa: S608
        {f"c{i}": value for i, value in enumerate(AUDIT_LOGS.encode(event))},
    )
