"""Whole tables read fast for ``load_policy_state``: rows rebuilt without validation, checked to be stored as written.

``Table.decode`` validates a row and then encodes the record again to prove
the row holds exactly what greenlang writes. For a whole policy state that
costs more than the read, so here a row is rebuilt (``rebuild``) and checked
column by column against what ``encode`` would write for it, which for a
record rebuilt from that very row comes down to its types and text forms. A
row that fails any of it is decoded the careful way, so the caller gets the
same record, or the same ``StoreError``, as ``decode`` gives.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, TypeVar

from greenlang.auth.backends.rebuild import CANONICAL_MOMENT, Decoders, Rebuilder, rebuilder
from greenlang.auth.backends.sqlite_rows import Table, json_column
from greenlang.auth.permissions import Permission
from greenlang.jsonvalue import loads_strict
from greenlang.model import Record

__all__ = ["load"]

M = TypeVar("M", bound=Record)
Check = Callable[[Any, Any], bool]
"""Whether a stored value is exactly what ``encode`` writes, given the field value rebuilt from it."""

_TIMES = frozenset({"created_at", "updated_at", "valid_from", "expires_at"})
_MODEL_JSON = frozenset({"conditions", "rules"})
_EMPTY = {"[]": list, "{}": dict}
_FLAGS = {0: False, 1: True}


def load(conn: sqlite3.Connection, table: Table[M], tenant: str | None = None) -> list[M]:
    """Every row in insertion order, or ``tenant``'s rows and the shared ones (``tenant_id`` NULL)."""
    sql = table.select()
    params: tuple[str, ...] = ()
    if tenant is not None:
        sql += " WHERE tenant_id = ? OR tenant_id IS NULL"
        params = (tenant,)
    rebuild, checks = _rebuilder(table), _checks(table)
    hashed = table.model is Permission
    records: list[M] = []
    for row in conn.execute(sql + " ORDER BY rowid", params):
        try:
            record: M | None = rebuild(row)
        except (LookupError, TypeError, ValueError):
            record = None
        if (
            record is None
            or not all(
                check(raw, value) for check, raw, value in zip(checks, row, record.__dict__.values(), strict=True)
            )
            or (hashed and record.provenance_hash != record.content_hash())  # type: ignore[attr-defined]
        ):
            record = table.decode(row)
        records.append(record)
    return records


def _stored_moment(text: Any) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _stored_json(text: Any) -> Any:
    empty = _EMPTY.get(text) if type(text) is str else None
    return empty() if empty is not None else loads_strict(text)


_DECODERS = Decoders(moment=_stored_moment, json=_stored_json, flag=_FLAGS.__getitem__)
"""Timestamps are ``isoformat`` text, JSON is text, booleans are 0 or 1."""


@cache
def _rebuilder(table: Table[M]) -> Rebuilder[M]:
    return rebuilder(table.model, table.columns, _DECODERS)


def _text(raw: Any, value: Any) -> bool:
    return type(raw) is str


def _optional_text(raw: Any, value: Any) -> bool:
    return raw is None or type(raw) is str


def _integer(raw: Any, value: Any) -> bool:
    return type(raw) is int


def _flag(raw: Any, value: Any) -> bool:
    return type(raw) is int and raw in _FLAGS


def _moment(raw: Any, value: Any) -> bool:
    return type(raw) is str and CANONICAL_MOMENT.fullmatch(raw) is not None


def _optional_moment(raw: Any, value: Any) -> bool:
    return raw is None or _moment(raw, value)


def _plain_json(raw: Any, value: Any) -> bool:
    return raw in _EMPTY or json_column(value) == raw


def _model_json(raw: Any, value: Any) -> bool:
    return raw == "[]" or bool(json_column([item.model_dump(mode="json") for item in value]) == raw)


@cache
def _checks(table: Table[M]) -> tuple[Check, ...]:
    """One check per column, in column order, from what kind of value the field holds."""
    checks: list[Check] = []
    for column in table.columns:
        field = table.model.model_fields[column]
        optional = field.default is None
        annotation = field.annotation
        if column in table.json_columns:
            checks.append(_model_json if column in _MODEL_JSON else _plain_json)
        elif column in _TIMES:
            checks.append(_optional_moment if optional else _moment)
        elif column in table.bool_columns:
            checks.append(_flag)
        elif annotation is int:
            checks.append(_integer)
        elif isinstance(annotation, type) and issubclass(annotation, Enum):
            checks.append(_text)
        elif column == "provenance_hash":
            checks.append(_text)  # encode always writes the hash, so a NULL here was not written by greenlang
        else:
            checks.append(_optional_text if optional else _text)
    return tuple(checks)
