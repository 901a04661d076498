"""Run an asyncio store through the sync API, so one conformance suite checks both flavours."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from greenlang.audit.chain import ChainHead, ChainReport
from greenlang.audit.events import AuditEvent
from greenlang.auth.backends.base import AsyncAuthBackend, PolicyState
from greenlang.auth.permissions import Permission, PermissionEffect
from greenlang.auth.policies import Policy
from greenlang.auth.roles import Role, RoleAssignment

__all__ = ["SyncFacade"]

T = TypeVar("T")


class SyncFacade:
    """The ``AuthBackend`` API over an ``AsyncAuthBackend``, each call run on a private event loop.

    The loop lives as long as the facade, so the backend's loop-bound state
    (locks, pools) stays valid between calls. ``inner`` is the wrapped backend.
    """

    def __init__(self, inner: AsyncAuthBackend) -> None:
        self.inner = inner
        self._runner = asyncio.Runner()
        self._closed = False

    def __repr__(self) -> str:
        return f"SyncFacade({self.inner!r})"

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            return asyncio.run(coroutine)  # the closed backend reports its own error
        return self._runner.run(coroutine)

    # permissions
    def create_permission(self, permission: Permission | Mapping[str, Any], *, actor: str | None = None) -> Permission:
        return self._run(self.inner.create_permission(permission, actor=actor))

    def bulk_create_permissions(
        self, permissions: Sequence[Permission | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[Permission]:
        return self._run(self.inner.bulk_create_permissions(permissions, actor=actor))

    def get_permission(self, permission_id: str) -> Permission | None:
        return self._run(self.inner.get_permission(permission_id))

    def update_permission(
        self,
        permission: Permission | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> Permission:
        return self._run(self.inner.update_permission(permission, changes, actor=actor))

    def delete_permission(self, permission_id: str, *, actor: str | None = None) -> bool:
        return self._run(self.inner.delete_permission(permission_id, actor=actor))

    def delete_permissions(
        self, *, scope: str | None = None, resource: str | None = None, actor: str | None = None
    ) -> int:
        return self._run(self.inner.delete_permissions(scope=scope, resource=resource, actor=actor))

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
        return self._run(
            self.inner.list_permissions(
                scope=scope, resource=resource, action=action, effect=effect, limit=limit, offset=offset
            )
        )

    # roles
    def create_role(self, role: Role | Mapping[str, Any], *, actor: str | None = None) -> Role:
        return self._run(self.inner.create_role(role, actor=actor))

    def bulk_create_roles(self, roles: Sequence[Role | Mapping[str, Any]], *, actor: str | None = None) -> list[Role]:
        return self._run(self.inner.bulk_create_roles(roles, actor=actor))

    def get_role(self, role_id: str) -> Role | None:
        return self._run(self.inner.get_role(role_id))

    def get_role_by_name(self, role_name: str) -> Role | None:
        return self._run(self.inner.get_role_by_name(role_name))

    def update_role(
        self,
        role: Role | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> Role:
        return self._run(self.inner.update_role(role, changes, actor=actor))

    def delete_role(self, role_id: str, *, actor: str | None = None) -> bool:
        return self._run(self.inner.delete_role(role_id, actor=actor))

    def list_roles(self, *, limit: int | None = None, offset: int = 0) -> list[Role]:
        return self._run(self.inner.list_roles(limit=limit, offset=offset))

    # policies
    def create_policy(self, policy: Policy | Mapping[str, Any], *, actor: str | None = None) -> Policy:
        return self._run(self.inner.create_policy(policy, actor=actor))

    def bulk_create_policies(
        self, policies: Sequence[Policy | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[Policy]:
        return self._run(self.inner.bulk_create_policies(policies, actor=actor))

    def get_policy(self, policy_id: str) -> Policy | None:
        return self._run(self.inner.get_policy(policy_id))

    def get_policy_by_name(self, policy_name: str) -> Policy | None:
        return self._run(self.inner.get_policy_by_name(policy_name))

    def update_policy(
        self,
        policy: Policy | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> Policy:
        return self._run(self.inner.update_policy(policy, changes, actor=actor))

    def delete_policy(self, policy_id: str, *, actor: str | None = None) -> bool:
        return self._run(self.inner.delete_policy(policy_id, actor=actor))

    def list_policies(self, *, enabled: bool | None = None, limit: int | None = None, offset: int = 0) -> list[Policy]:
        return self._run(self.inner.list_policies(enabled=enabled, limit=limit, offset=offset))

    # role assignments
    def create_assignment(
        self, assignment: RoleAssignment | Mapping[str, Any], *, actor: str | None = None
    ) -> RoleAssignment:
        return self._run(self.inner.create_assignment(assignment, actor=actor))

    def bulk_create_assignments(
        self, assignments: Sequence[RoleAssignment | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[RoleAssignment]:
        return self._run(self.inner.bulk_create_assignments(assignments, actor=actor))

    def get_assignment(self, assignment_id: str) -> RoleAssignment | None:
        return self._run(self.inner.get_assignment(assignment_id))

    def update_assignment(
        self,
        assignment: RoleAssignment | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> RoleAssignment:
        return self._run(self.inner.update_assignment(assignment, changes, actor=actor))

    def delete_assignment(self, assignment_id: str, *, actor: str | None = None) -> bool:
        return self._run(self.inner.delete_assignment(assignment_id, actor=actor))

    def list_assignments(
        self, *, subject: str | None = None, role_id: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[RoleAssignment]:
        return self._run(self.inner.list_assignments(subject=subject, role_id=role_id, limit=limit, offset=offset))

    # audit
    def append_audit_event(self, event: AuditEvent | Mapping[str, Any]) -> AuditEvent:
        return self._run(self.inner.append_audit_event(event))

    def append_audit_events(self, events: Sequence[AuditEvent | Mapping[str, Any]]) -> list[AuditEvent]:
        return self._run(self.inner.append_audit_events(events))

    def log_audit_event(self, event: AuditEvent | Mapping[str, Any]) -> str:
        return self._run(self.inner.log_audit_event(event))

    def read_audit_events(self, *, after_sequence: int = 0, limit: int | None = None) -> list[AuditEvent]:
        return self._run(self.inner.read_audit_events(after_sequence=after_sequence, limit=limit))

    def iter_audit_events(self, *, after_sequence: int = 0) -> Iterator[AuditEvent]:
        return self._drain(self.inner.iter_audit_events(after_sequence=after_sequence))

    def _drain(self, events: AsyncIterator[AuditEvent]) -> Iterator[AuditEvent]:
        while True:
            try:
                yield self._run(_next(events))
            except StopAsyncIteration:
                return

    def audit_head(self) -> ChainHead | None:
        return self._run(self.inner.audit_head())

    def verify_audit(self) -> ChainReport:
        return self._run(self.inner.verify_audit())

    # whole store
    @contextmanager
    def atomic(self) -> Iterator[None]:
        block = self.inner.atomic()
        self._run(_enter(block))
        try:
            yield
        except BaseException as exc:
            self._run(block.__aexit__(type(exc), exc, exc.__traceback__))
            raise
        self._run(block.__aexit__(None, None, None))

    def revision(self) -> int:
        return self._run(self.inner.revision())

    def load_policy_state(self, tenant: str | None = None) -> PolicyState:
        return self._run(self.inner.load_policy_state(tenant))

    def get_statistics(self) -> dict[str, Any]:
        return self._run(self.inner.get_statistics())

    def close(self) -> None:
        """Close the wrapped backend, then the private loop; closing twice is harmless."""
        if self._closed:
            return
        try:
            self._run(self.inner.close())
        finally:
            self._closed = True
            self._runner.close()


async def _next(events: AsyncIterator[AuditEvent]) -> AuditEvent:
    return await events.__anext__()


async def _enter(block: Any) -> None:
    await block.__aenter__()
