"""The references between stored records: checked on every write, cleaned up on delete.

A role may only name permissions and parent roles that exist, and its parents
may not lead back to it. Deleting a permission or a role removes it from the
roles that name it, so no dangling id is ever left behind.
"""

from __future__ import annotations

import json
import sqlite3

from greenlang.auth.backends.sqlite_rows import PERMISSIONS, like_json_string
from greenlang.auth.graph import check_parents, check_parents_exist, on_cycles, refuse_cycle
from greenlang.auth.roles import Role
from greenlang.errors import DuplicateError, NotFoundError

__all__ = ["RoleBatch", "check_role", "check_unique_name", "unlink"]


def check_unique_name(
    conn: sqlite3.Connection, table: str, key: str, column: str, name: str, own_key: str, what: str
) -> None:
    row = conn.execute(f"SELECT {key} FROM {table} WHERE {column} = ?", (name,)).fetchone()  # noqa: S608
    if row is not None and row[0] != own_key:
        raise DuplicateError(
            f"a {what} named {name!r} already exists; choose another {column} or update the existing {what}"
        )


def check_role(conn: sqlite3.Connection, role: Role) -> None:
    """Refuse unknown permissions, unknown parents and parent cycles for ``role``."""
    _check_permissions(conn, role)
    names, parents_of = _graph(conn)
    check_parents(role.role_id, role.role_name, role.parent_roles, names, parents_of)


def _check_permissions(conn: sqlite3.Connection, role: Role) -> None:
    for permission_id in role.permissions:
        if not PERMISSIONS.exists(conn, permission_id):
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


class RoleBatch:
    """The checks of ``check_role`` for many new roles, with the role graph read once rather than once per role.

    Each role is checked as it comes, against the stored roles and the ones
    before it, so the first bad role is refused with the same message a
    single create would give; ``finish`` then looks for cycles over the whole
    batch in one pass.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._names, self._parents_of = _graph(conn)
        self._added: list[Role] = []

    def check(self, role: Role) -> None:
        _check_permissions(self._conn, role)
        check_parents_exist(role.role_id, role.role_name, role.parent_roles, self._names)
        self._names[role.role_id] = role.role_name
        self._parents_of[role.role_id] = list(role.parent_roles)
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
