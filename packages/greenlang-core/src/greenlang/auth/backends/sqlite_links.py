"""The references between stored records: checked on every write, cleaned up on delete.

A role may only name permissions and parent roles that exist, and its parents
may not lead back to it; an assignment may only name a role that exists. Every
reference must also keep within a tenant (``greenlang.auth.tenancy``).
Deleting a permission or a role removes it from the roles that name it, so no
dangling id is ever left behind.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import Any

from greenlang.auth import tenancy
from greenlang.auth.backends.sqlite_rows import PERMISSIONS, ROLES, Table, like_json_string
from greenlang.auth.graph import check_parents, check_parents_exist, on_cycles, refuse_cycle
from greenlang.auth.permissions import Permission
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.errors import DuplicateError, NotFoundError

__all__ = ["RoleBatch", "check_assignment", "check_move", "check_role", "check_unique_name", "unlink"]

_CHUNK = 500
"""Ids per lookup statement, well under SQLite's oldest limit of 999 parameters."""


def check_unique_name(
    conn: sqlite3.Connection, table: str, key: str, column: str, name: str, own_key: str, what: str
) -> None:
    row = conn.execute(f"SELECT {key} FROM {table} WHERE {column} = ?", (name,)).fetchone()  # noqa: S608
    if row is not None and row[0] != own_key:
        raise DuplicateError(
            f"a {what} named {name!r} already exists; choose another {column} or update the existing {what}"
        )


def check_role(conn: sqlite3.Connection, role: Role) -> None:
    """Refuse unknown permissions, unknown parents, parent cycles and references across tenants for ``role``."""
    permissions = tenants_of(conn, PERMISSIONS, role.permissions)
    _check_permissions(role, permissions)
    names, parents_of = _graph(conn)
    check_parents(role.role_id, role.role_name, role.parent_roles, names, parents_of)
    tenancy.check_role_tenants(role, permissions, tenants_of(conn, ROLES, role.parent_roles))


def check_assignment(conn: sqlite3.Connection, assignment: RoleAssignment) -> None:
    """Refuse an assignment whose role does not exist or belongs to another tenant."""
    found = tenants_of(conn, ROLES, [assignment.role_id])
    if assignment.role_id not in found:
        raise NotFoundError(
            f"role assignment names role {assignment.role_id!r}, which does not exist; create the role first"
        )
    tenancy.check_assignment_tenant(assignment, found[assignment.role_id])


def tenants_of(conn: sqlite3.Connection, table: Table[Any], keys: Iterable[str]) -> dict[str, str | None]:
    """The tenant of each of ``keys`` stored in ``table``; a key not stored is absent."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, str | None] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        found.update(
            conn.execute(
                f"SELECT {table.key}, tenant_id FROM {table.name} WHERE {table.key} IN ({marks})",  # noqa: S608
                chunk,
            ).fetchall()
        )
    return found


def _check_permissions(role: Role, found: dict[str, str | None]) -> None:
    for permission_id in role.permissions:
        if permission_id not in found:
            raise NotFoundError(
                f"role {role.role_name!r} lists permission {permission_id!r}, which does not exist; "
                "create it first or remove it from the role"
            )


def _graph(conn: sqlite3.Connection) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Every stored role's name and parents."""
    names: dict[str, str] = {}
    parents_of: dict[str, list[str]] = {}
    for role_id, role_name, parents in conn.execute("SELECT role_id, role_name, parent_roles FROM roles"):
        names[role_id] = role_name
        parents_of[role_id] = json.loads(parents)
    return names, parents_of


def check_move(conn: sqlite3.Connection, old: Permission | Role, new: Permission | Role) -> None:
    """Refuse moving a permission or role to another tenant while a record of another tenant references it."""
    if new.tenant_id is None or new.tenant_id == old.tenant_id:
        return
    if isinstance(new, Permission):
        referrers = _roles_naming(conn, "permissions", new.permission_id, new.tenant_id, "lists it")
        tenancy.check_move(f"permission {new.permission_id!r}", new.tenant_id, referrers)
        return
    children = _roles_naming(conn, "parent_roles", new.role_id, new.tenant_id, "names it as a parent role")
    rows = conn.execute(
        "SELECT assignment_id, tenant_id FROM role_assignments "
        "WHERE role_id = ? AND (tenant_id IS NULL OR tenant_id <> ?) ORDER BY rowid",
        (new.role_id, new.tenant_id),
    )
    holders = (tenancy.Referrer(f"role assignment {key!r}", tenant, "names it") for key, tenant in rows)
    tenancy.check_move(f"role {new.role_name!r}", new.tenant_id, chain(children, holders))


def _roles_naming(
    conn: sqlite3.Connection, column: str, target: str, tenant: str, verb: str
) -> Iterator[tenancy.Referrer]:
    """The roles outside ``tenant`` whose ``column`` list holds ``target``."""
    rows = conn.execute(
        f"SELECT role_name, tenant_id, {column} FROM roles "  # noqa: S608
        f"WHERE {column} LIKE ? ESCAPE '\\' AND (tenant_id IS NULL OR tenant_id <> ?) ORDER BY rowid",
        (like_json_string(target), tenant),
    )
    for role_name, role_tenant, text in rows:
        if target in json.loads(text):
            yield tenancy.Referrer(f"role {role_name!r}", role_tenant, verb)


class RoleBatch:
    """The checks of ``check_role`` for many new roles, with the role graph read once rather than once per role.

    Each role is checked as it comes, against the stored roles and the ones
    before it, so the first bad role is refused with the same message a
    single create would give; ``finish`` then looks for cycles over the whole
    batch in one pass.
    """

    def __init__(self, conn: sqlite3.Connection, roles: Sequence[Role]) -> None:
        self._conn = conn
        self._names, self._parents_of = _graph(conn)
        self._permissions = tenants_of(conn, PERMISSIONS, (pid for role in roles for pid in role.permissions))
        self._tenants = tenants_of(conn, ROLES, (rid for role in roles for rid in role.parent_roles))
        self._added: list[Role] = []

    def check(self, role: Role) -> None:
        _check_permissions(role, self._permissions)
        check_parents_exist(role.role_id, role.role_name, role.parent_roles, self._names)
        tenancy.check_role_tenants(role, self._permissions, self._tenants)
        self._names[role.role_id] = role.role_name
        self._parents_of[role.role_id] = list(role.parent_roles)
        self._tenants[role.role_id] = role.tenant_id
        self._added.append(role)

    def finish(self) -> None:
        """Refuse the first role of the batch that lies on a parent cycle."""
        cyclic = on_cycles(self._parents_of, (role.role_id for role in self._added))
        for role in self._added:
            if role.role_id in cyclic:
                refuse_cycle(role.role_id, role.role_name, self._names, self._parents_of)


def unlink(conn: sqlite3.Connection, column: str, removed_id: str, when: str) -> list[str]:
    """Remove ``removed_id`` from every role's ``column`` list; return the ids of the roles changed."""
    changed = []
    rows = conn.execute(
        f"SELECT role_id, {column} FROM roles WHERE {column} LIKE ? ESCAPE '\\'",  # noqa: S608
        (like_json_string(removed_id),),
    ).fetchall()
    for role_id, text in rows:
        ids = json.loads(text)
        if removed_id not in ids:
            continue
        ids.remove(removed_id)
        conn.execute(
            f"UPDATE roles SET {column} = ?, updated_at = ? WHERE role_id = ?",  # noqa: S608
            (json.dumps(ids, separators=(",", ":")), when, role_id),
        )
        changed.append(role_id)
    return changed
