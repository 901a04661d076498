"""Record writes shared by every kind: parse, check references, write, audit, in one transaction.

Each write goes through ``_insert`` / ``_remove`` so a test can inject a failure
between the steps of a compound write and see that nothing survives it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from greenlang.audit.bulk import BULK_VERB, chunks
from greenlang.auth.backends import sqlite_links
from greenlang.auth.backends.arguments import changed, check_list, check_page, check_update, incoming
from greenlang.auth.backends.sqlite_rows import ASSIGNMENTS, PERMISSIONS, ROLES, Table
from greenlang.auth.backends.sqlite_store import SQLiteStore
from greenlang.auth.permissions import Permission
from greenlang.auth.policies import Policy
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.errors import DuplicateError, NotFoundError
from greenlang.model import Record
from greenlang.timeutil import isoformat

__all__ = ["SQLiteRecords"]

M = TypeVar("M", bound=Record)


class SQLiteRecords(SQLiteStore):
    """The generic create/update/delete/list machinery under ``SQLiteBackend``."""

    def _incoming(self, table: Table[M], data: M | Mapping[str, Any], what: str | None = None) -> M:
        return incoming(table.model, data, self._clock, what or table.what)

    def _insert(self, conn: sqlite3.Connection, table: Table[M], record: M) -> None:
        table.insert(conn, record)

    def _remove(self, conn: sqlite3.Connection, table: Table[M], key: str) -> None:
        table.delete(conn, key)

    def _check(self, conn: sqlite3.Connection, record: Record, batch: sqlite_links.RoleBatch | None = None) -> None:
        if isinstance(record, Role):
            sqlite_links.check_unique_name(
                conn, "roles", "role_id", "role_name", record.role_name, record.role_id, "role"
            )
            if batch is None:
                sqlite_links.check_role(conn, record)
            else:
                batch.check(record)
        elif isinstance(record, Policy):
            sqlite_links.check_unique_name(
                conn, "policies", "policy_id", "policy_name", record.policy_name, record.policy_id, "policy"
            )
        elif isinstance(record, RoleAssignment):
            sqlite_links.check_assignment(conn, record)

    def _create(
        self,
        conn: sqlite3.Connection,
        table: Table[M],
        record: M,
        actor: str | None,
        *,
        audit: bool = True,
        batch: sqlite_links.RoleBatch | None = None,
    ) -> M:
        key = getattr(record, table.key)
        if table.exists(conn, key):
            raise DuplicateError(f"{table.what} {key!r} already exists; use update_{table.kind} to change it")
        self._check(conn, record, batch)
        self._insert(conn, table, record)
        if audit:
            self._record(conn, table.kind, "created", key, actor, {"after": record.model_dump(mode="json")})
        return record

    def _update(self, conn: sqlite3.Connection, table: Table[M], record: M, actor: str | None) -> M:
        key = getattr(record, table.key)
        old = table.get(conn, key)
        if old is None:
            raise NotFoundError(f"{table.what} {key!r} does not exist; create it first")
        changes: dict[str, Any] = old.model_dump(include={"created_at", "created_by"})
        if "updated_at" in table.model.model_fields:
            changes["updated_at"] = self._clock()
        new = record.replace(**changes)
        self._check(conn, new)
        if isinstance(old, Permission | Role) and isinstance(new, Permission | Role):
            sqlite_links.check_move(conn, old, new)
        table.update(conn, new)
        details = {"before": old.model_dump(mode="json"), "after": new.model_dump(mode="json")}
        self._record(conn, table.kind, "updated", key, actor, details)
        return new

    def _delete(self, conn: sqlite3.Connection, table: Table[M], key: str, actor: str | None) -> bool:
        old = table.get(conn, key)
        if old is None:
            return False
        details: dict[str, Any] = {"before": old.model_dump(mode="json")}
        now = isoformat(self._clock())
        if table in (PERMISSIONS, ROLES):
            details["cascaded_at"] = now
        if table is PERMISSIONS:
            details["removed_from_roles"] = sqlite_links.unlink(conn, "permissions", key, now)
        elif table is ROLES:
            details["removed_from_parents_of"] = sqlite_links.unlink(conn, "parent_roles", key, now)
            held = ASSIGNMENTS.find(conn, {"role_id": key})
            for assignment in held:
                self._remove(conn, ASSIGNMENTS, assignment.assignment_id)
            details["deleted_assignments"] = [a.model_dump(mode="json") for a in held]
        self._remove(conn, table, key)
        self._record(conn, table.kind, "deleted", key, actor, details)
        return True

    def _create_one(self, table: Table[M], data: M | Mapping[str, Any], actor: str | None) -> M:
        record = self._incoming(table, data)
        with self._write() as conn:
            return self._create(conn, table, record, actor)

    def _create_many(self, table: Table[M], items: Sequence[M | Mapping[str, Any]], actor: str | None) -> list[M]:
        check_list(items, "bulk create", f"{table.what}s")
        records = [self._incoming(table, item, f"{table.what}[{index}]") for index, item in enumerate(items)]
        with self._write() as conn:
            roles = [record for record in records if isinstance(record, Role)]
            batch = sqlite_links.RoleBatch(conn, roles) if roles else None
            created = [self._create(conn, table, record, actor, audit=False, batch=batch) for record in records]
            if batch is not None:
                batch.finish()
            dumps = [record.model_dump(mode="json") for record in created]
            for chunk in chunks(dumps):
                self._record(conn, table.kind, BULK_VERB, None, actor, {"created": dumps[chunk.start : chunk.stop]})
            return created

    def _update_one(
        self, table: Table[M], data: M | Mapping[str, Any] | str, actor: str | None, changes: Mapping[str, Any] | None
    ) -> M:
        check_update(table.model, table.key, data, changes, table.what)
        if not isinstance(data, str):
            record = self._incoming(table, data)
            with self._write() as conn:
                return self._update(conn, table, record, actor)
        with self._write() as conn:
            old = table.get(conn, data)
            if old is None:
                raise NotFoundError(f"{table.what} {data!r} does not exist; create it first")
            return self._update(conn, table, changed(table.model, old, changes or {}, self._clock, table.what), actor)

    def _delete_one(self, table: Table[M], key: str, actor: str | None) -> bool:
        with self._write() as conn:
            return self._delete(conn, table, key, actor)

    def _get(self, table: Table[M], key: str) -> M | None:
        with self._query() as conn:
            return table.get(conn, key)

    def _list(self, table: Table[M], where: Mapping[str, Any], limit: int | None, offset: int) -> list[M]:
        check_page(limit, offset)
        with self._query() as conn:
            return table.find(conn, where, limit=limit, offset=offset)
