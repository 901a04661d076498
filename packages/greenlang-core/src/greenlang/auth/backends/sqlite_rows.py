"""How each record becomes a SQLite row and back.

Table and column names in the SQL come from the constants below, never from input.

A row is written from the record's JSON form, so timestamps are stored exactly
as ``timeutil.isoformat`` prints them and JSON fields as compact JSON text with
sorted keys and whole numbers without a fraction (``1``, never ``1.0``, which
hashes the same under RFC 8785). That text is canonical: a record has exactly one row form, which
lets the audit trail check stored bytes, not only the values they decode to.
JSON is read back strictly (no duplicate keys), so SQL's ``json_extract`` and
Python never disagree about what a row says.
"""

# ruff: noqa: S608
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from greenlang.audit.events import AuditEvent
from greenlang.auth.permissions import Permission
from greenlang.auth.policies import Policy
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.errors import StoreError
from greenlang.jsonvalue import loads_strict
from greenlang.model import Record
from greenlang.validation import describe

__all__ = [
    "Table",
    "PERMISSIONS",
    "ROLES",
    "POLICIES",
    "ASSIGNMENTS",
    "AUDIT_LOGS",
    "json_column",
    "like_json_string",
]

M = TypeVar("M", bound=Record)


@dataclass(frozen=True)
class Table(Generic[M]):
    """One table holding one record type; ``what`` names a record in messages."""

    name: str
    key: str
    model: type[M]
    kind: str
    what: str
    json_columns: frozenset[str] = frozenset()
    bool_columns: frozenset[str] = frozenset()

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.model.model_fields)

    def encode(self, record: M) -> dict[str, Any]:
        """Column values for ``record``."""
        data = record.model_dump(mode="json")
        for column in self.json_columns:
            data[column] = json_column(data[column])
        for column in self.bool_columns:
            data[column] = int(data[column])
        return data

    def decode(self, row: sqlite3.Row | Mapping[str, Any], *, exact: bool = True) -> M:
        """The record a row holds; a row that no longer validates is reported as damaged.

        With ``exact`` (the default) the row must also be stored exactly as
        ``encode`` writes it. An edit made outside greenlang that reads back as
        an equal value (a respelled timestamp, reordered JSON, ``enabled = 5``,
        an escaped id) is refused rather than served to the engine.
        """
        data = dict(row)
        for column in self.json_columns:
            try:
                data[column] = loads_strict(data[column]) if data[column] is not None else None
            except (TypeError, ValueError) as exc:
                raise StoreError(
                    f"stored {self.what} {data.get(self.key)!r} holds invalid JSON in {column} ({exc}); "
                    "repair or delete the row"
                ) from None
        for column in self.bool_columns:
            data[column] = bool(data[column])
        try:
            record = self.model.model_validate(data)
        except ValidationError as exc:
            raise StoreError(
                f"stored {self.what} {data.get(self.key)!r} is not valid ({describe(exc, self.what)}); "
                "repair or delete the row"
            ) from None
        if exact:
            changed = self.differing_column(row, record)
            if changed is not None:
                raise StoreError(
                    f"stored {self.what} {data.get(self.key)!r} has column {changed} in a form greenlang never "
                    "writes; it was edited outside greenlang, so repair or delete the row"
                )
        return record

    def differing_column(self, row: sqlite3.Row | Mapping[str, Any], record: M) -> str | None:
        """The first column whose stored value is not exactly what ``encode(record)`` writes, if any.

        ``record`` is what ``row`` decodes to; text must match character for
        character and values must keep their SQLite type.
        """
        stored = dict(row)
        for column, expected in self.encode(record).items():
            value = stored.get(column)
            if type(value) is not type(expected) or value != expected:
                return column
        return None

    def select(self) -> str:
        return f"SELECT {', '.join(self.columns)} FROM {self.name}"

    def insert(self, conn: sqlite3.Connection, record: M) -> None:
        self.insert_many(conn, [record])

    def insert_many(self, conn: sqlite3.Connection, records: Sequence[M]) -> None:
        columns = self.columns
        marks = ", ".join("?" for _ in columns)
        rows = ([data[c] for c in columns] for data in map(self.encode, records))
        conn.executemany(f"INSERT INTO {self.name} ({', '.join(columns)}) VALUES ({marks})", rows)

    def update(self, conn: sqlite3.Connection, record: M) -> None:
        data = self.encode(record)
        columns = [c for c in self.columns if c != self.key]
        assignments = ", ".join(f"{c} = ?" for c in columns)
        conn.execute(
            f"UPDATE {self.name} SET {assignments} WHERE {self.key} = ?", [*(data[c] for c in columns), data[self.key]]
        )

    def delete(self, conn: sqlite3.Connection, key: str) -> None:
        conn.execute(f"DELETE FROM {self.name} WHERE {self.key} = ?", (key,))

    def get(self, conn: sqlite3.Connection, key: str) -> M | None:
        row = conn.execute(f"{self.select()} WHERE {self.key} = ?", (key,)).fetchone()
        return None if row is None else self.decode(row)

    def exists(self, conn: sqlite3.Connection, key: str) -> bool:
        return conn.execute(f"SELECT 1 FROM {self.name} WHERE {self.key} = ?", (key,)).fetchone() is not None

    def find(
        self,
        conn: sqlite3.Connection,
        where: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[M]:
        """Rows whose columns equal ``where``'s values, in insertion order."""
        clauses = [f"{column} = ?" for column in (where or {})]
        sql = self.select()
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY rowid LIMIT ? OFFSET ?"
        params: list[Any] = [*(where or {}).values(), -1 if limit is None else limit, offset]
        return [self.decode(row) for row in conn.execute(sql, params)]

    def count(self, conn: sqlite3.Connection) -> int:
        return int(conn.execute(f"SELECT COUNT(*) FROM {self.name}").fetchone()[0])


_SAFE_INTEGER = 2**53
"""RFC 8785 writes a whole float below this as an integer, so both spellings hash alike."""


def _whole_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < _SAFE_INTEGER:
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_floats_as_ints(item) for item in value]
    return value


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def json_column(value: Any) -> str:
    """The one text a JSON column holds for ``value``: compact, sorted keys, whole floats as integers."""
    return _ENCODER.encode(_whole_floats_as_ints(value))


def like_json_string(value: str) -> str:
    """A LIKE pattern matching JSON text that contains the string ``value``."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f'%"{escaped}"%'


def _table(
    name: str,
    key: str,
    model: type[M],
    kind: str,
    what: str,
    json_columns: Iterable[str] = (),
    bool_columns: Iterable[str] = (),
) -> Table[M]:
    return Table(name, key, model, kind, what, frozenset(json_columns), frozenset(bool_columns))


PERMISSIONS = _table("permissions", "permission_id", Permission, "permission", "permission", ("conditions", "metadata"))
ROLES = _table(
    "roles", "role_id", Role, "role", "role", ("permissions", "parent_roles", "metadata"), ("is_system_role",)
)
POLICIES = _table(
    "policies", "policy_id", Policy, "policy", "policy", ("rules", "conditions", "metadata"), ("enabled",)
)
ASSIGNMENTS = _table(
    "role_assignments", "assignment_id", RoleAssignment, "assignment", "role assignment", ("metadata",)
)
AUDIT_LOGS = _table("audit_logs", "log_id", AuditEvent, "audit", "audit event", ("details",))
