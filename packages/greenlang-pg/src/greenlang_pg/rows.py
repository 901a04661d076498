"""How each record becomes a PostgreSQL row and back, identically for psycopg and asyncpg.

Timestamps are ``timestamp without time zone`` holding UTC, as the seed's schema
has them. JSON columns are ``jsonb``: written as JSON text and read back as
text (``::text``) so both drivers hand over the same thing. jsonb keeps numbers
as exact decimals and prints ``1e300`` as a 301-digit integer, so an integer
outside the range the models accept can only have been a float, and is read as one.
Whole floats are stored as written (``1.0``); RFC 8785 hashes them as integers either way.
Rows written by other tools with the seed's NULLs read as the model's defaults.

``load`` reads whole tables for ``load_policy_state``: rows are rebuilt
without validating them again (``greenlang.auth.backends.rebuild``), since
every row was validated when it was written; a row the rebuild does not
expect is decoded the careful way.
"""

# ruff: noqa: S608
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import cached_property
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from greenlang.audit.events import AuditEvent
from greenlang.auth.backends.rebuild import Convert, Decoders, Rebuilder
from greenlang.auth.permissions import Permission
from greenlang.auth.policies import Policy
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.errors import StoreError
from greenlang.model import Record
from greenlang.validation import describe

__all__ = [
    "Table",
    "PERMISSIONS",
    "ROLES",
    "POLICIES",
    "ASSIGNMENTS",
    "AUDIT_LOGS",
    "AUDIT_LOGS_TYPES",
    "TENANT_COLUMN",
    "json_text",
    "parse_json",
]

M = TypeVar("M", bound=Record)

_SAFE_INTEGER = 2**53


_EMPTY_JSON: dict[type, str] = {list: "[]", dict: "{}"}
"""Most conditions and metadata are empty; skip the encoder for them."""


def json_text(value: Any) -> str:
    """Compact JSON text for a jsonb column; jsonb keeps numbers exactly, so no rewriting is needed."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _column_json(value: Any) -> str:
    if not value:
        empty = _EMPTY_JSON.get(type(value))
        if empty is not None:
            return empty
    return json_text(value)


def _integer(text: str) -> int | float:
    number = int(text)
    return number if -_SAFE_INTEGER < number < _SAFE_INTEGER else float(text)


_DECODER = json.JSONDecoder(parse_int=_integer)
_EMPTY_VALUES: dict[str, Any] = {"[]": [], "{}": {}}


def parse_json(text: str) -> Any:
    """A jsonb column's text; empty containers, the common case, skip the decoder."""
    if len(text) == 2 and text in _EMPTY_VALUES:
        return type(_EMPTY_VALUES[text])()
    return _DECODER.decode(text)


TENANT_COLUMN = "tenant_id"
"""Added by migration 003; code that runs before it (migration 002) reads the record tables without it."""


def naive_utc(value: datetime | None) -> datetime | None:
    """The UTC wall time a ``timestamp without time zone`` column holds; naive values already are UTC."""
    if value is None or value.tzinfo is None:
        return value
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None)


@dataclass(frozen=True)
class Table(Generic[M]):
    """One table holding one record type; ``what`` names a record in messages."""

    name: str
    key: str
    model: type[M]
    kind: str
    what: str
    json_columns: frozenset[str]
    null_defaults: dict[str, Any]
    ordered_by: str = "insert_order"
    model_columns: frozenset[str] = frozenset()
    """JSON columns holding models (conditions, rules), which need dumping; the others already hold JSON values."""

    @cached_property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.model.model_fields)

    @cached_property
    def _select(self) -> str:
        return self.select_of(self.columns)

    def select(self) -> str:
        return self._select

    def select_of(self, columns: Sequence[str]) -> str:
        """A SELECT of ``columns`` only, JSON columns as text (``decode`` reads them with ``columns=``)."""
        listed = ", ".join(f"{c}::text" if c in self.json_columns else c for c in columns)
        return f"SELECT {listed} FROM {self.name}"

    def load_sql(self, tenant: bool) -> str:
        """Every row in insertion order, or (``tenant``: with parameter $1) a tenant's rows and the shared ones."""
        where = f" WHERE {TENANT_COLUMN} = $1 OR {TENANT_COLUMN} IS NULL" if tenant else ""
        return f"{self._select}{where} ORDER BY {self.ordered_by}"

    @cached_property
    def _rebuilder(self) -> Rebuilder[M]:
        converters = _DECODERS.converters(self.model)
        for column, default in self.null_defaults.items():
            converters[column] = _or_default(converters[column], default)
        return Rebuilder(self.model, self.columns, converters)

    def rebuild(self, row: Sequence[Any]) -> M:
        """The record ``decode`` would give for a row of ``select()``, built without validating it again."""
        try:
            return self._rebuilder(row)
        except (LookupError, TypeError, ValueError):
            return self.decode(row)

    def encode(
        self, record: M, dumped: Mapping[str, Any] | None = None, texts: Mapping[str, str] | None = None
    ) -> tuple[Any, ...]:
        """Driver values in ``columns`` order.

        ``dumped`` is ``record``'s JSON form and ``texts`` JSON columns already written as text, when the
        caller has them.
        """
        json_columns = self.json_columns
        if dumped is None:
            wanted = {c for c in self.model_columns if getattr(record, c)} - (texts or {}).keys()
            dumped = record.model_dump(mode="json", include=wanted) if wanted else {}
        values: list[Any] = []
        for column in self.columns:
            if column in json_columns:
                if texts and column in texts:
                    values.append(texts[column])
                elif column in dumped:
                    values.append(_column_json(dumped[column]))
                else:
                    values.append(_column_json(getattr(record, column)))
                continue
            value = getattr(record, column)
            kind = type(value)
            if kind is datetime:
                value = naive_utc(value)
            elif isinstance(value, Enum):
                value = value.value
            values.append(value)
        return tuple(values)

    def decode(self, row: Sequence[Any], columns: Sequence[str] | None = None) -> M:
        """The record a row (of ``columns``, by default all) holds; a row that no longer validates is damaged."""
        data = dict(zip(self.columns if columns is None else columns, row, strict=True))
        for column, default in self.null_defaults.items():
            if data.get(column, default) is None:
                data[column] = default
        for column in self.json_columns:
            if data.get(column) is not None:
                data[column] = parse_json(data[column])
        try:
            return self.model.model_validate(data)
        except ValidationError as exc:
            raise StoreError(
                f"stored {self.what} {data.get(self.key)!r} is not valid ({describe(exc, self.what)}); "
                "repair or delete the row"
            ) from None

    def placeholders(self, start: int = 1) -> str:
        marks = []
        for offset, column in enumerate(self.columns):
            mark = f"${start + offset}"
            marks.append(f"{mark}::jsonb" if column in self.json_columns else mark)
        return ", ".join(marks)

    def insert_sql(self) -> str:
        return f"INSERT INTO {self.name} ({', '.join(self.columns)}) VALUES ({self.placeholders()})"

    def update_sql(self) -> str:
        assignments = ", ".join(
            f"{c} = ${i}::jsonb" if c in self.json_columns else f"{c} = ${i}"
            for i, c in enumerate(self.columns, start=1)
            if c != self.key
        )
        return f"UPDATE {self.name} SET {assignments} WHERE {self.key} = ${self.columns.index(self.key) + 1}"


def _stored_moment(value: Any) -> datetime | None:
    """A ``timestamp without time zone`` holds UTC wall time."""
    if value is None:
        return None
    if type(value) is not datetime:
        raise TypeError("expected a timestamp")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _stored_json(text: Any) -> Any:
    if type(text) is not str:
        raise TypeError("expected JSON text")
    return parse_json(text)


def _stored_flag(value: Any) -> bool:
    if type(value) is not bool:
        raise TypeError("expected a boolean")
    return value


def _or_default(convert: Convert, default: Any) -> Convert:
    return lambda raw: convert(default if raw is None else raw)


_DECODERS = Decoders(moment=_stored_moment, json=_stored_json, flag=_stored_flag)


def _table(
    name: str,
    key: str,
    model: type[M],
    kind: str,
    what: str,
    json_columns: Iterable[str],
    null_defaults: dict[str, Any] | None = None,
    ordered_by: str = "insert_order",
    model_columns: Iterable[str] = (),
) -> Table[M]:
    return Table(
        name, key, model, kind, what, frozenset(json_columns), null_defaults or {}, ordered_by, frozenset(model_columns)
    )


PERMISSIONS = _table(
    "permissions",
    "permission_id",
    Permission,
    "permission",
    "permission",
    ("conditions", "metadata"),
    {"conditions": "[]", "metadata": "{}"},
    model_columns=("conditions",),
)
ROLES = _table(
    "roles",
    "role_id",
    Role,
    "role",
    "role",
    ("permissions", "parent_roles", "metadata"),
    {"permissions": "[]", "parent_roles": "[]", "metadata": "{}", "is_system_role": False, "priority": 0},
)
POLICIES = _table(
    "policies",
    "policy_id",
    Policy,
    "policy",
    "policy",
    ("rules", "conditions", "metadata"),
    {"conditions": "[]", "metadata": "{}", "priority": 0, "enabled": True},
    model_columns=("rules", "conditions"),
)
ASSIGNMENTS = _table(
    "role_assignments", "assignment_id", RoleAssignment, "assignment", "role assignment", ("metadata",)
)
AUDIT_LOGS = _table(
    "audit_logs", "log_id", AuditEvent, "audit", "audit event", ("details",), {"details": "{}"}, "sequence"
)


def _column_types(table_name: str, columns: Sequence[str]) -> tuple[str, ...]:
    """Each column's SQL type as the models declare it, for statements whose parameters need explicit casts."""
    from sqlalchemy.dialects import postgresql

    from greenlang_pg.models import Base

    table = Base.metadata.tables[table_name]
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    # No length: an explicit cast to VARCHAR(n) would cut a value short; the column's own check refuses it.
    return tuple(
        re.sub(r"^VARCHAR\(\d+\)$", "VARCHAR", table.columns[column].type.compile(dialect=dialect))
        for column in columns
    )


AUDIT_LOGS_TYPES = _column_types(AUDIT_LOGS.name, AUDIT_LOGS.columns)
