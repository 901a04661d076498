"""Audit events written before the chain existed (seed-era rows), linked into it by migration 002."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, text

from greenlang.audit.chain import GENESIS_HASH, ChainHead, link
from greenlang.audit.events import AuditEvent
from greenlang.audit.state import replay
from greenlang.errors import StoreError
from greenlang.validation import describe
from greenlang_pg.rows import AUDIT_LOGS, json_text, parse_json

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
    writes = replay(adopted).writes
    return (head.sequence, head.hash, writes) if head else (0, GENESIS_HASH, 0)
