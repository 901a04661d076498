"""The embedded store: one SQLite file holding policy state and the audit trail.

Every policy write and its audit event commit together, and the ``revision``
counter moves with them, so a reader that sees a revision sees every change up
to it. See ``docs/storage.md``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from greenlang.audit.chain import ChainHead, ChainReport
from greenlang.audit.events import AuditEvent
from greenlang.auth.backends import sqlite_trail
from greenlang.auth.backends.arguments import check_list, check_page, check_tenant, given_filters
from greenlang.auth.backends.base import StoredPolicyState
from greenlang.auth.backends.sqlite_async import AsyncSQLiteBackend
from greenlang.auth.backends.sqlite_load import load
from greenlang.auth.backends.sqlite_records import SQLiteRecords
from greenlang.auth.backends.sqlite_rows import ASSIGNMENTS, AUDIT_LOGS, PERMISSIONS, POLICIES, ROLES
from greenlang.auth.backends.sqlite_store import operation
from greenlang.auth.permissions import Permission, PermissionEffect
from greenlang.auth.policies import Policy
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.config import Settings
from greenlang.errors import InputError, StoreError
from greenlang.timeutil import Clock, isoformat, utcnow

__all__ = ["SQLiteBackend", "AsyncSQLiteBackend", "StoredPolicyState"]

_PAGE = 500
_KEPT_STATES = 8
"""Policy states kept for reuse at one revision: the whole store's and up to seven tenants'."""


def stored_revision(conn: sqlite3.Connection) -> int:
    """The policy revision counter; a missing or mangled counter is damage, reported as such."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
    if row is None or type(row[0]) is not int:
        raise StoreError("the store's revision counter is missing or not an integer; the meta table was edited")
    return row[0]


class SQLiteBackend(SQLiteRecords):
    """``AuthBackend`` over the standard library's ``sqlite3``.

    ``path`` defaults to ``Settings().db`` (``GREENLANG_DB``, else the user data
    directory); ``":memory:"`` gives a private in-memory store. ``clock`` stamps
    audit events and ``updated_at``.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, clock: Clock = utcnow, busy_timeout: float = 30.0
    ) -> None:
        if path is None:
            target: str | Path = Settings().db
        elif os.fspath(path) == ":memory:":
            target = ":memory:"
        else:
            target = Path(path).expanduser()
        super().__init__(target, clock=clock, busy_timeout=busy_timeout)
        self._state_cache: dict[str | None, StoredPolicyState] = {}
        self._cache_hits = 0
        self._cache_misses = 0

    def __enter__(self) -> SQLiteBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteBackend({self.path!r})"

    # permissions -------------------------------------------------------------
    @operation
    def create_permission(self, permission: Permission | Mapping[str, Any], *, actor: str | None = None) -> Permission:
        return self._create_one(PERMISSIONS, permission, actor)

    @operation
    def bulk_create_permissions(
        self, permissions: Sequence[Permission | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[Permission]:
        return self._create_many(PERMISSIONS, permissions, actor)

    @operation
    def get_permission(self, permission_id: str) -> Permission | None:
        return self._get(PERMISSIONS, permission_id)

    @operation
    def update_permission(
        self,
        permission: Permission | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> Permission:
        return self._update_one(PERMISSIONS, permission, actor, changes)

    @operation
    def delete_permission(self, permission_id: str, *, actor: str | None = None) -> bool:
        return self._delete_one(PERMISSIONS, permission_id, actor)

    @operation
    def delete_permissions(
        self, *, scope: str | None = None, resource: str | None = None, actor: str | None = None
    ) -> int:
        """Delete the permissions matching every given filter exactly; at least one filter is required."""
        if all(value is None or (isinstance(value, str) and not value.strip()) for value in (scope, resource)):
            raise InputError("refusing to delete every permission; give scope or resource")
        where = given_filters(scope=scope, resource=resource)
        with self._write() as conn:
            doomed = PERMISSIONS.find(conn, where)
            for permission in doomed:
                self._delete(conn, PERMISSIONS, permission.permission_id, actor)
            return len(doomed)

    @operation
    def list_permissions(
        self,
        *,
        scope: str | None = None,
        resource: str | None = None,
        action: str | None = None,
        effect: PermissionEffect | str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Permission]:
        where: dict[str, Any] = given_filters(scope=scope, resource=resource, action=action)
        if effect is not None:
            try:
                where["effect"] = PermissionEffect(effect).value
            except ValueError:
                raise InputError(f"filter effect must be 'allow' or 'deny', got {effect!r}") from None
        return self._list(PERMISSIONS, where, limit, offset)

    # roles ---------------------------------------------------------------------
    @operation
    def create_role(self, role: Role | Mapping[str, Any], *, actor: str | None = None) -> Role:
        return self._create_one(ROLES, role, actor)

    @operation
    def bulk_create_roles(self, roles: Sequence[Role | Mapping[str, Any]], *, actor: str | None = None) -> list[Role]:
        return self._create_many(ROLES, roles, actor)

    @operation
    def get_role(self, role_id: str) -> Role | None:
        return self._get(ROLES, role_id)

    @operation
    def get_role_by_name(self, role_name: str) -> Role | None:
        found = self._list(ROLES, {"role_name": role_name}, 1, 0)
        return found[0] if found else None

    @operation
    def update_role(
        self,
        role: Role | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> Role:
        return self._update_one(ROLES, role, actor, changes)

    @operation
    def delete_role(self, role_id: str, *, actor: str | None = None) -> bool:
        return self._delete_one(ROLES, role_id, actor)

    @operation
    def list_roles(self, *, limit: int | None = None, offset: int = 0) -> list[Role]:
        return self._list(ROLES, {}, limit, offset)

    # policies ------------------------------------------------------------------
    @operation
    def create_policy(self, policy: Policy | Mapping[str, Any], *, actor: str | None = None) -> Policy:
        return self._create_one(POLICIES, policy, actor)

    @operation
    def bulk_create_policies(
        self, policies: Sequence[Policy | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[Policy]:
        return self._create_many(POLICIES, policies, actor)

    @operation
    def get_policy(self, policy_id: str) -> Policy | None:
        return self._get(POLICIES, policy_id)

    @operation
    def get_policy_by_name(self, policy_name: str) -> Policy | None:
        found = self._list(POLICIES, {"policy_name": policy_name}, 1, 0)
        return found[0] if found else None

    @operation
    def update_policy(
        self,
        policy: Policy | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> Policy:
        return self._update_one(POLICIES, policy, actor, changes)

    @operation
    def delete_policy(self, policy_id: str, *, actor: str | None = None) -> bool:
        return self._delete_one(POLICIES, policy_id, actor)

    @operation
    def list_policies(self, *, enabled: bool | None = None, limit: int | None = None, offset: int = 0) -> list[Policy]:
        if enabled is not None and not isinstance(enabled, bool):
            raise InputError(f"filter enabled must be True, False or None, got {enabled!r}")
        return self._list(POLICIES, {} if enabled is None else {"enabled": int(enabled)}, limit, offset)

    # role assignments ----------------------------------------------------------
    @operation
    def create_assignment(
        self, assignment: RoleAssignment | Mapping[str, Any], *, actor: str | None = None
    ) -> RoleAssignment:
        return self._create_one(ASSIGNMENTS, assignment, actor)

    @operation
    def bulk_create_assignments(
        self, assignments: Sequence[RoleAssignment | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[RoleAssignment]:
        return self._create_many(ASSIGNMENTS, assignments, actor)

    @operation
    def get_assignment(self, assignment_id: str) -> RoleAssignment | None:
        return self._get(ASSIGNMENTS, assignment_id)

    @operation
    def update_assignment(
        self,
        assignment: RoleAssignment | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> RoleAssignment:
        return self._update_one(ASSIGNMENTS, assignment, actor, changes)

    @operation
    def delete_assignment(self, assignment_id: str, *, actor: str | None = None) -> bool:
        return self._delete_one(ASSIGNMENTS, assignment_id, actor)

    @operation
    def list_assignments(
        self, *, subject: str | None = None, role_id: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[RoleAssignment]:
        return self._list(ASSIGNMENTS, given_filters(subject=subject, role_id=role_id), limit, offset)

    # audit -----------------------------------------------------------------------
    @operation
    def append_audit_event(self, event: AuditEvent | Mapping[str, Any]) -> AuditEvent:
        """Link ``event`` to the chain head and store it; ``sequence`` and ``provenance_hash`` are assigned here."""
        record = self._incoming(AUDIT_LOGS, event)
        with self._write() as conn:
            return sqlite_trail.append(conn, record)

    @operation
    def append_audit_events(self, events: Sequence[AuditEvent | Mapping[str, Any]]) -> list[AuditEvent]:
        check_list(events, "append_audit_events", "audit events")
        records = [self._incoming(AUDIT_LOGS, item, f"audit event[{index}]") for index, item in enumerate(events)]
        with self._write() as conn:
            return sqlite_trail.append_many(conn, records)

    def log_audit_event(self, event: AuditEvent | Mapping[str, Any]) -> str:
        """The seed's call: append ``event`` and return its ``log_id``."""
        return self.append_audit_event(event).log_id

    @operation
    def read_audit_events(self, *, after_sequence: int = 0, limit: int | None = None) -> list[AuditEvent]:
        check_page(limit, after_sequence, "after_sequence")
        with self._query() as conn:
            return sqlite_trail.read(conn, after_sequence, limit)

    @operation
    def iter_audit_events(self, *, after_sequence: int = 0) -> Iterator[AuditEvent]:
        """Every event after ``after_sequence`` in order, fetched a page at a time."""
        check_page(None, after_sequence, "after_sequence")
        return self._pages(after_sequence)

    def _pages(self, after_sequence: int) -> Iterator[AuditEvent]:
        while True:
            with self._query() as conn:
                page = sqlite_trail.read(conn, after_sequence, _PAGE)
            yield from page
            if len(page) < _PAGE:
                return
            after_sequence = page[-1].sequence or after_sequence

    @operation
    def audit_head(self) -> ChainHead | None:
        with self._query() as conn:
            return sqlite_trail.head(conn)

    @operation
    def verify_audit(self) -> ChainReport:
        """Walk the whole trail against the stored head in one snapshot."""
        with self._read() as conn:
            return sqlite_trail.verify(conn)

    # whole store -------------------------------------------------------------------
    @operation
    def revision(self) -> int:
        with self._query() as conn:
            return stored_revision(conn)

    @operation
    def load_policy_state(self, tenant: str | None = None) -> StoredPolicyState:
        """Read all policy state in one snapshot, or with ``tenant`` its rows and the shared ones.

        Outside a transaction, a state already read at the same committed
        revision is reused: revisions only grow, one per committed write, so a
        committed revision names exactly one state. Inside a transaction the
        state may be uncommitted, so it is always read afresh and never kept.
        """
        tenant = check_tenant(tenant)
        with self._lock:
            enclosed = self._depth > 0
            with self._read() as conn:
                revision = stored_revision(conn)
                cached = self._state_cache.get(tenant)
                if not enclosed and cached is not None and cached.revision == revision:
                    self._cache_hits += 1
                    return cached
                state = StoredPolicyState(
                    revision=revision,
                    permissions=tuple(load(conn, PERMISSIONS, tenant)),
                    roles=tuple(load(conn, ROLES, tenant)),
                    policies=tuple(load(conn, POLICIES, tenant)),
                    assignments=tuple(load(conn, ASSIGNMENTS, tenant)),
                    committed=not enclosed,
                )
            if not enclosed:
                self._cache_misses += 1
                self._keep(tenant, state)
            return state

    def _keep(self, tenant: str | None, state: StoredPolicyState) -> None:
        """Keep ``state`` for reuse; states of older revisions, and the oldest kept beyond the limit, go."""
        kept = {key: value for key, value in self._state_cache.items() if value.revision == state.revision}
        kept.pop(tenant, None)
        while len(kept) >= _KEPT_STATES:
            del kept[next(iter(kept))]
        kept[tenant] = state
        self._state_cache = kept

    def get_statistics(self) -> dict[str, Any]:
        """Row counts and this object's operation counters (``get_statistics`` itself is not counted)."""
        now = isoformat(self._clock())
        with self._read() as conn:
            counts = {f"{table.name}_count": table.count(conn) for table in (PERMISSIONS, ROLES, POLICIES, AUDIT_LOGS)}
            active = conn.execute(
                "SELECT COUNT(*) FROM policies WHERE enabled = 1 AND (valid_from IS NULL OR valid_from <= ?) "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (now, now),
            ).fetchone()[0]
            assignments = ASSIGNMENTS.count(conn)
            revision = stored_revision(conn)
        with self._lock:
            operations, errors = self._operations, self._errors
            hits, misses = self._cache_hits, self._cache_misses
        return {
            "permissions_count": counts["permissions_count"],
            "roles_count": counts["roles_count"],
            "policies_count": counts["policies_count"],
            "audit_logs_count": counts["audit_logs_count"],
            "assignments_count": assignments,
            "active_policies": int(active),
            "revision": revision,
            "cache_hits": hits,
            "cache_misses": misses,
            "cache_hit_rate": hits / (hits + misses) if hits + misses else 0.0,
            "backend_operations": operations,
            "backend_errors": errors,
        }
