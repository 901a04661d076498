"""What each public method does, short of running it: check the arguments, then build the operation.

``PostgreSQLBackend`` runs a ``Plan`` with psycopg and ``AsyncPostgreSQLBackend``
with asyncpg, so both flavours check the same arguments the same way and run
the same operation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from greenlang.audit.chain import ChainHead
from greenlang.audit.events import AuditEvent
from greenlang.auth.backends.arguments import (
    changed,
    check_list,
    check_page,
    check_tenant,
    check_update,
    given_filters,
    incoming,
)
from greenlang.auth.backends.base import StoredPolicyState
from greenlang.auth.permissions import Permission, PermissionEffect
from greenlang.auth.policies import Policy
from greenlang.auth.roles import RoleAssignment
from greenlang.errors import InputError, NotFoundError
from greenlang.model import Record
from greenlang.timeutil import isoformat
from greenlang_pg.operations import REVISION_KEY, Operations, Touched
from greenlang_pg.protocol import Op, Rows
from greenlang_pg.rows import ASSIGNMENTS, AUDIT_LOGS, PERMISSIONS, POLICIES, ROLES, Table, naive_utc

__all__ = ["Plan", "Plans", "StoredPolicyState", "REVISION_KEY"]

M = TypeVar("M", bound=Record)
T = TypeVar("T")

_KEPT_TENANTS = 7
"""Tenants' policy states kept for reuse at one revision, beside the whole store's."""


@dataclass(frozen=True, slots=True)
class Plan(Generic[T]):
    """``mode``: ``read`` (one statement at a time), ``snapshot`` (one consistent view), ``write`` (a
    transaction), or ``statement`` (one self-contained write statement, not retried if the connection drops).

    ``cached`` names a read-cache entry the result may come from and be kept in.
    """

    mode: Literal["read", "snapshot", "write", "statement"]
    make: Callable[..., Op[T]]
    cached: tuple[str, str] | None = None
    fallback: Plan[T] | None = None
    """Run when this plan answers ``None``: an optimistic attempt's careful second try."""
    recover: Callable[[], Op[T | None]] | None = None
    """For a ``statement`` whose connection dropped mid-flight: finds out whether it took effect (its
    result) or not (``None``, and the fallback runs)."""


class Plans:
    """Plan builders for every method of the storage contract."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.ops = Operations(clock)
        self.state: StoredPolicyState | None = None
        self.tenant_states: dict[str, StoredPolicyState] = {}
        self.head_seen: ChainHead | None = None
        """The chain head after this object's last append: the guess the next single append links to."""

    # helpers ------------------------------------------------------------------
    def incoming(self, table: Table[M], data: M | Mapping[str, Any], what: str | None = None) -> M:
        return incoming(table.model, data, self.clock, what or table.what)

    def incoming_many(self, table: Table[M], items: Sequence[M | Mapping[str, Any]], noun: str) -> list[M]:
        check_list(items, noun, f"{table.what}s")
        return [self.incoming(table, item, f"{table.what}[{index}]") for index, item in enumerate(items)]

    def _write(self, body: Callable[[Touched], Op[T]]) -> Plan[T]:
        def make(touched: Touched) -> Op[T]:
            yield from self.ops.lock_writers()
            result = yield from body(touched)
            return result

        return Plan("write", make)

    # records --------------------------------------------------------------------
    def create(self, table: Table[M], data: M | Mapping[str, Any], actor: str | None) -> Plan[M]:
        record = self.incoming(table, data)
        return self._write(lambda touched: self.ops.create(table, record, actor, touched))

    def create_many(self, table: Table[M], items: Sequence[M | Mapping[str, Any]], actor: str | None) -> Plan[list[M]]:
        records = self.incoming_many(table, items, "bulk create")
        return self._write(lambda touched: self.ops.create_many(table, records, actor, touched))

    def load_permissions(
        self, items: Sequence[Permission | Mapping[str, Any]], actor: str | None
    ) -> Plan[list[Permission]]:
        """Bulk permissions are validated while they stream into COPY, not before (see ``Operations``)."""
        check_list(items, "bulk create", "permissions")

        def incoming(item: Permission | Mapping[str, Any], index: int) -> Permission:
            return self.incoming(PERMISSIONS, item, f"permission[{index}]")

        return self._write(lambda touched: self.ops.load_permissions(items, incoming, actor, touched))

    def update(
        self,
        table: Table[M],
        data: M | Mapping[str, Any] | str,
        actor: str | None,
        changes: Mapping[str, Any] | None = None,
    ) -> Plan[M]:
        """The whole new record, or an id and the changes to apply to the stored one in the same transaction."""
        check_update(table.model, table.key, data, changes, table.what)
        if not isinstance(data, str):
            record = self.incoming(table, data)
            return self._write(lambda touched: self.ops.update(table, record, actor, touched))
        key, fields = data, dict(changes or {})

        def body(touched: Touched) -> Op[M]:
            old = yield from self.ops.get(table, key)
            if old is None:
                raise NotFoundError(f"{table.what} {key!r} does not exist; create it first")
            record = changed(table.model, old, fields, self.clock, table.what)
            return (yield from self.ops.update(table, record, actor, touched))

        return self._write(body)

    def delete(self, table: Table[M], key: str, actor: str | None) -> Plan[bool]:
        _key(table, key)
        return self._write(lambda touched: self.ops.delete(table, key, actor, touched))

    def get(self, table: Table[M], key: str) -> Plan[M | None]:
        _key(table, key)
        return Plan("read", lambda: self.ops.get(table, key), (table.name, key))

    def by_name(self, table: Table[M], column: str, name: str) -> Plan[M | None]:
        _text(column, name)

        def make() -> Op[M | None]:
            found = yield from self.ops.find(table, {column: name}, 1, 0)
            return found[0] if found else None

        return Plan("read", make)

    def find(self, table: Table[M], where: Mapping[str, Any], limit: int | None, offset: int) -> Plan[list[M]]:
        check_page(limit, offset)
        return Plan("read", lambda: self.ops.find(table, where, limit, offset))

    def delete_permissions(self, scope: str | None, resource: str | None, actor: str | None) -> Plan[int]:
        if all(value is None or (isinstance(value, str) and not value.strip()) for value in (scope, resource)):
            raise InputError("refusing to delete every permission; give scope or resource")
        where = given_filters(scope=scope, resource=resource)

        def body(touched: Touched) -> Op[int]:
            doomed = yield from self.ops.find(PERMISSIONS, where)
            for permission in doomed:
                yield from self.ops.delete(PERMISSIONS, permission.permission_id, actor, touched)
            return len(doomed)

        return self._write(body)

    def list_permissions(
        self,
        scope: str | None,
        resource: str | None,
        action: str | None,
        effect: PermissionEffect | str | None,
        limit: int | None,
        offset: int,
    ) -> Plan[list[Permission]]:
        where: dict[str, Any] = given_filters(scope=scope, resource=resource, action=action)
        if effect is not None:
            try:
                where["effect"] = PermissionEffect(effect).value
            except ValueError:
                raise InputError(f"filter effect must be 'allow' or 'deny', got {effect!r}") from None
        return self.find(PERMISSIONS, where, limit, offset)

    def list_policies(self, enabled: bool | None, limit: int | None, offset: int) -> Plan[list[Policy]]:
        if enabled is not None and not isinstance(enabled, bool):
            raise InputError(f"filter enabled must be True, False or None, got {enabled!r}")
        return self.find(POLICIES, {} if enabled is None else {"enabled": enabled}, limit, offset)

    def list_assignments(
        self, subject: str | None, role_id: str | None, limit: int | None, offset: int
    ) -> Plan[list[RoleAssignment]]:
        return self.find(ASSIGNMENTS, given_filters(subject=subject, role_id=role_id), limit, offset)

    # audit ------------------------------------------------------------------------
    def append(self, data: AuditEvent | Mapping[str, Any]) -> Plan[list[AuditEvent]]:
        """One statement that links to the head this object last saw; if another writer moved it, the careful way."""
        event = self.incoming(AUDIT_LOGS, data)
        careful: Plan[list[AuditEvent]] = Plan("write", lambda touched: self._append([event]))

        def optimistic() -> Op[list[AuditEvent] | None]:
            linked = yield from self.ops.append_after(event, self.head_seen)
            if linked is None:
                return None
            self.head_seen = ChainHead(linked.sequence or 0, linked.provenance_hash or "")
            return [linked]

        def stored() -> Op[list[AuditEvent] | None]:
            self.head_seen = None
            found = yield from self.ops.get(AUDIT_LOGS, event.log_id)
            return None if found is None else [found]

        return Plan("statement", optimistic, fallback=careful, recover=stored)  # type: ignore[arg-type]

    def append_many(self, items: Sequence[AuditEvent | Mapping[str, Any]]) -> Plan[list[AuditEvent]]:
        check_list(items, "append_audit_events", "audit events")
        events = [self.incoming(AUDIT_LOGS, item, f"audit event[{index}]") for index, item in enumerate(items)]
        return Plan("write", lambda touched: self._append(events))

    def _append(self, events: list[AuditEvent]) -> Op[list[AuditEvent]]:
        if not events:
            return []
        linked = yield from self.ops.append(events)
        self.head_seen = ChainHead(linked[-1].sequence or 0, linked[-1].provenance_hash or "")
        return linked

    def read_events(self, after_sequence: int, limit: int | None) -> Plan[list[AuditEvent]]:
        check_page(limit, after_sequence, "after_sequence")
        return Plan("read", lambda: self.ops.read_events(after_sequence, limit))

    def head(self) -> Plan[Any]:
        return Plan("read", lambda: self.ops.head())

    def verify(self) -> Plan[Any]:
        return Plan("snapshot", lambda: self.ops.verify())

    # whole store -------------------------------------------------------------------
    def revision(self) -> Plan[int]:
        return Plan("read", lambda: self.ops.revision(), REVISION_KEY)

    def kept(self, tenant: str | None) -> StoredPolicyState | None:
        """The state last read for ``tenant`` (``None``: the whole store), if one is kept."""
        return self.state if tenant is None else self.tenant_states.get(tenant)

    def keep(self, tenant: str | None, state: StoredPolicyState) -> None:
        if tenant is None:
            self.state = state
            return
        kept = {key: value for key, value in self.tenant_states.items() if value.revision == state.revision}
        kept.pop(tenant, None)
        while len(kept) >= _KEPT_TENANTS:
            del kept[next(iter(kept))]
        kept[tenant] = state
        self.tenant_states = kept

    def load_policy_state(self, reuse: bool, tenant: str | None = None) -> Plan[StoredPolicyState]:
        """One snapshot of everything, or of ``tenant``'s rows and the shared ones; with ``reuse`` (outside a
        transaction), a state already read at the same revision is returned, and without it the state is
        marked uncommitted."""
        tenant = check_tenant(tenant)

        def make() -> Op[StoredPolicyState]:
            revision = yield from self.ops.revision()
            kept = self.kept(tenant)
            if reuse and kept is not None and kept.revision == revision:
                return kept
            state = StoredPolicyState(
                revision=revision,
                permissions=tuple((yield from self.ops.load(PERMISSIONS, tenant))),
                roles=tuple((yield from self.ops.load(ROLES, tenant))),
                policies=tuple((yield from self.ops.load(POLICIES, tenant))),
                assignments=tuple((yield from self.ops.load(ASSIGNMENTS, tenant))),
                committed=reuse,
            )
            if reuse:
                self.keep(tenant, state)
            return state

        return Plan("snapshot", make)

    def statistics(self) -> Plan[dict[str, Any]]:
        def make() -> Op[dict[str, Any]]:
            now = naive_utc(self.clock())
            rows = yield Rows(
                "SELECT (SELECT count(*) FROM permissions), (SELECT count(*) FROM roles), "
                "(SELECT count(*) FROM policies), (SELECT count(*) FROM audit_logs), "
                "(SELECT count(*) FROM role_assignments), "
                "(SELECT count(*) FROM policies WHERE coalesce(enabled, true) "
                "AND (valid_from IS NULL OR valid_from <= $1) AND (expires_at IS NULL OR expires_at > $1)), "
                "(SELECT value FROM greenlang_meta WHERE key = 'revision')",
                (now,),
            )
            permissions, roles, policies, audit, assignments, active, revision = rows[0]
            return {
                "permissions_count": int(permissions),
                "roles_count": int(roles),
                "policies_count": int(policies),
                "audit_logs_count": int(audit),
                "assignments_count": int(assignments),
                "active_policies": int(active),
                "revision": int(revision),
                "evaluated_at": isoformat(self.clock()),
            }

        return Plan("snapshot", make)


def _key(table: Table[Any], key: object) -> None:
    _text(table.key, key)


def _text(name: str, value: object) -> None:
    """PostgreSQL cannot even compare against a NUL, so an argument holding one is refused up front."""
    if not isinstance(value, str):
        raise InputError(f"{name} must be a string, got {type(value).__name__}")
    if "\x00" in value:
        raise InputError(f"{name} contains a NUL character (U+0000), which no stored value holds; remove it")
