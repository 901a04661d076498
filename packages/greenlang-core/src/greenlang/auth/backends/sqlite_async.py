"""The embedded store for asyncio code: the sync store, run on one dedicated worker thread.

One worker keeps every operation serialized, as SQLite wants, and keeps the
event loop free while the disk works. While a task is inside ``atomic()``,
other tasks wait at a gate, so their writes never join its transaction.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from greenlang.audit.chain import ChainHead, ChainReport
from greenlang.audit.events import AuditEvent
from greenlang.auth.permissions import Permission, PermissionEffect
from greenlang.auth.policies import Policy
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.errors import StoreError
from greenlang.timeutil import Clock, utcnow

if TYPE_CHECKING:
    from greenlang.auth.backends.sqlite import SQLiteBackend, StoredPolicyState

__all__ = ["AsyncSQLiteBackend"]

P = ParamSpec("P")
R = TypeVar("R")
_PAGE = 500


class AsyncSQLiteBackend:
    """``AsyncAuthBackend`` with exactly the behaviour of ``SQLiteBackend`` (same arguments)."""

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, clock: Clock = utcnow, busy_timeout: float = 30.0
    ) -> None:
        from greenlang.auth.backends.sqlite import SQLiteBackend

        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="greenlang-sqlite")
        try:
            self._sync: SQLiteBackend = self._executor.submit(
                SQLiteBackend, path, clock=clock, busy_timeout=busy_timeout
            ).result()
        except BaseException:
            self._executor.shutdown(wait=False)
            raise
        self._gate = asyncio.Lock()
        # The open transaction, and the one each task believes it is in: a task started inside a block
        # inherits its token, which stops counting once that block is over.
        self._open: object | None = None
        self._inside: ContextVar[object | None] = ContextVar(f"greenlang_sqlite_atomic_{id(self)}", default=None)
        self._closed = False

    @property
    def path(self) -> str:
        return self._sync.path

    def __repr__(self) -> str:
        return f"AsyncSQLiteBackend({self.path!r})"

    async def __aenter__(self) -> AsyncSQLiteBackend:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _worker(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        if self._closed:
            raise StoreError(f"the SQLite store at {self.path!r} is closed; open a new backend to use it")
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(function, *args, **kwargs)
        )

    def _in_transaction(self) -> bool:
        return self._open is not None and self._inside.get() is self._open

    async def _run(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        if self._in_transaction():
            return await self._worker(function, *args, **kwargs)
        async with self._gate:
            return await self._worker(function, *args, **kwargs)

    # permissions
    async def create_permission(
        self, permission: Permission | Mapping[str, Any], *, actor: str | None = None
    ) -> Permission:
        return await self._run(self._sync.create_permission, permission, actor=actor)

    async def bulk_create_permissions(
        self, permissions: Sequence[Permission | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[Permission]:
        return await self._run(self._sync.bulk_create_permissions, permissions, actor=actor)

    async def get_permission(self, permission_id: str) -> Permission | None:
        return await self._run(self._sync.get_permission, permission_id)

    async def update_permission(
        self,
        permission: Permission | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> Permission:
        return await self._run(self._sync.update_permission, permission, changes, actor=actor)

    async def delete_permission(self, permission_id: str, *, actor: str | None = None) -> bool:
        return await self._run(self._sync.delete_permission, permission_id, actor=actor)

    async def delete_permissions(
        self, *, scope: str | None = None, resource: str | None = None, actor: str | None = None
    ) -> int:
        return await self._run(self._sync.delete_permissions, scope=scope, resource=resource, actor=actor)

    async def list_permissions(
        self,
        *,
        scope: str | None = None,
        resource: str | None = None,
        action: str | None = None,
        effect: PermissionEffect | str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Permission]:
        return await self._run(
            self._sync.list_permissions,
            scope=scope,
            resource=resource,
            action=action,
            effect=effect,
            limit=limit,
            offset=offset,
        )

    # roles
    async def create_role(self, role: Role | Mapping[str, Any], *, actor: str | None = None) -> Role:
        return await self._run(self._sync.create_role, role, actor=actor)

    async def bulk_create_roles(
        self, roles: Sequence[Role | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[Role]:
        return await self._run(self._sync.bulk_create_roles, roles, actor=actor)

    async def get_role(self, role_id: str) -> Role | None:
        return await self._run(self._sync.get_role, role_id)

    async def get_role_by_name(self, role_name: str) -> Role | None:
        return await self._run(self._sync.get_role_by_name, role_name)

    async def update_role(
        self,
        role: Role | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> Role:
        return await self._run(self._sync.update_role, role, changes, actor=actor)

    async def delete_role(self, role_id: str, *, actor: str | None = None) -> bool:
        return await self._run(self._sync.delete_role, role_id, actor=actor)

    async def list_roles(self, *, limit: int | None = None, offset: int = 0) -> list[Role]:
        return await self._run(self._sync.list_roles, limit=limit, offset=offset)

    # policies
    async def create_policy(self, policy: Policy | Mapping[str, Any], *, actor: str | None = None) -> Policy:
        return await self._run(self._sync.create_policy, policy, actor=actor)

    async def bulk_create_policies(
        self, policies: Sequence[Policy | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[Policy]:
        return await self._run(self._sync.bulk_create_policies, policies, actor=actor)

    async def get_policy(self, policy_id: str) -> Policy | None:
        return await self._run(self._sync.get_policy, policy_id)

    async def get_policy_by_name(self, policy_name: str) -> Policy | None:
        return await self._run(self._sync.get_policy_by_name, policy_name)

    async def update_policy(
        self,
        policy: Policy | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> Policy:
        return await self._run(self._sync.update_policy, policy, changes, actor=actor)

    async def delete_policy(self, policy_id: str, *, actor: str | None = None) -> bool:
        return await self._run(self._sync.delete_policy, policy_id, actor=actor)

    async def list_policies(
        self, *, enabled: bool | None = None, limit: int | None = None, offset: int = 0
    ) -> list[Policy]:
        return await self._run(self._sync.list_policies, enabled=enabled, limit=limit, offset=offset)

    # role assignments
    async def create_assignment(
        self, assignment: RoleAssignment | Mapping[str, Any], *, actor: str | None = None
    ) -> RoleAssignment:
        return await self._run(self._sync.create_assignment, assignment, actor=actor)

    async def bulk_create_assignments(
        self, assignments: Sequence[RoleAssignment | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[RoleAssignment]:
        return await self._run(self._sync.bulk_create_assignments, assignments, actor=actor)

    async def get_assignment(self, assignment_id: str) -> RoleAssignment | None:
        return await self._run(self._sync.get_assignment, assignment_id)

    async def update_assignment(
        self,
        assignment: RoleAssignment | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> RoleAssignment:
        return await self._run(self._sync.update_assignment, assignment, changes, actor=actor)

    async def delete_assignment(self, assignment_id: str, *, actor: str | None = None) -> bool:
        return await self._run(self._sync.delete_assignment, assignment_id, actor=actor)

    async def list_assignments(
        self, *, subject: str | None = None, role_id: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[RoleAssignment]:
        return await self._run(
            self._sync.list_assignments, subject=subject, role_id=role_id, limit=limit, offset=offset
        )

    # audit
    async def append_audit_event(self, event: AuditEvent | Mapping[str, Any]) -> AuditEvent:
        return await self._run(self._sync.append_audit_event, event)

    async def append_audit_events(self, events: Sequence[AuditEvent | Mapping[str, Any]]) -> list[AuditEvent]:
        return await self._run(self._sync.append_audit_events, events)

    async def log_audit_event(self, event: AuditEvent | Mapping[str, Any]) -> str:
        return await self._run(self._sync.log_audit_event, event)

    async def read_audit_events(self, *, after_sequence: int = 0, limit: int | None = None) -> list[AuditEvent]:
        return await self._run(self._sync.read_audit_events, after_sequence=after_sequence, limit=limit)

    async def iter_audit_events(self, *, after_sequence: int = 0) -> AsyncIterator[AuditEvent]:
        """Every event after ``after_sequence`` in order, fetched a page at a time."""
        while True:
            page = await self.read_audit_events(after_sequence=after_sequence, limit=_PAGE)
            for event in page:
                yield event
            if len(page) < _PAGE:
                return
            after_sequence = page[-1].sequence or after_sequence

    async def audit_head(self) -> ChainHead | None:
        return await self._run(self._sync.audit_head)

    async def verify_audit(self) -> ChainReport:
        return await self._run(self._sync.verify_audit)

    # whole store
    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        """Group writes: nothing commits until the outermost block exits; an exception undoes them all."""
        if self._in_transaction():
            async with self._transaction():
                yield
            return
        async with self._gate:
            self._open = opened = object()
            token = self._inside.set(opened)
            try:
                async with self._transaction():
                    yield
            finally:
                self._inside.reset(token)
                self._open = None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        block = self._sync.atomic()
        await self._worker(block.__enter__)
        try:
            yield
        except BaseException as exc:
            await self._worker(block.__exit__, type(exc), exc, exc.__traceback__)
            raise
        await self._worker(block.__exit__, None, None, None)

    async def revision(self) -> int:
        return await self._run(self._sync.revision)

    async def load_policy_state(self, tenant: str | None = None) -> StoredPolicyState:
        return await self._run(self._sync.load_policy_state, tenant)

    async def get_statistics(self) -> dict[str, Any]:
        return await self._run(self._sync.get_statistics)

    async def close(self) -> None:
        """Close the store and stop its worker; closing twice is harmless."""
        if self._closed:
            return
        await self._run(self._sync.close)
        self._closed = True
        self._executor.shutdown(wait=True)
