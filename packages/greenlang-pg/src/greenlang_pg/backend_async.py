"""``AsyncPostgreSQLBackend``: the same contract for asyncio code, over asyncpg.

It behaves exactly as ``PostgreSQLBackend``: both run the same plans and
operations. A constructor cannot wait, so the schema check and the listener
start on first use. Use one backend object from one event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, ParamSpec, TypeVar, cast

from greenlang.audit.chain import ChainHead, ChainReport
from greenlang.audit.events import AuditEvent
from greenlang.auth.backends.arguments import check_tenant
from greenlang.auth.permissions import Permission, PermissionEffect
from greenlang.auth.policies import Policy
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.errors import StoreError
from greenlang.timeutil import Clock, utcnow
from greenlang_pg.async_runner import AsyncListener, AsyncRunner
from greenlang_pg.backend import resolve_config, runner_limits
from greenlang_pg.cache import MISSING, ReadCache
from greenlang_pg.config import DatabaseConfig
from greenlang_pg.engines import async_engine
from greenlang_pg.faults import OutcomeUnknown
from greenlang_pg.plans import Plan, Plans, StoredPolicyState
from greenlang_pg.rows import ASSIGNMENTS, PERMISSIONS, POLICIES, ROLES
from greenlang_pg.schema import check_schema

__all__ = ["AsyncPostgreSQLBackend"]

T = TypeVar("T")
P = ParamSpec("P")
_PAGE = 1000


class AsyncPostgreSQLBackend:
    """``AsyncAuthBackend`` over PostgreSQL; arguments as for ``PostgreSQLBackend``."""

    def __init__(
        self,
        config: DatabaseConfig | None = None,
        *,
        clock: Clock = utcnow,
        cache_ttl: float = 60.0,
        **options: Any,
    ) -> None:
        self.config = resolve_config(config, options)
        self._server = self.config.describe()
        self._cache = ReadCache(cache_ttl)
        self._engine = async_engine(self.config)
        self._runner = AsyncRunner(self._engine, self._server, self._cache, **runner_limits(self.config))
        self._plans = Plans(clock)
        self._operations = 0
        self._errors = 0
        self._listener = AsyncListener(self._engine, self._cache) if cache_ttl > 0 else None
        self._started = False
        self._closed = False
        self._starting: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"AsyncPostgreSQLBackend({self._server!r})"

    async def __aenter__(self) -> AsyncPostgreSQLBackend:
        await self._start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _start(self) -> None:
        if self._started:
            return
        if self._closed:
            raise StoreError(f"the PostgreSQL store at {self._server} is closed; open a new backend to use it")
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._started:
                return
            await self._runner.read(lambda: check_schema(self._server))
            if self._listener is not None:
                await self._listener.start()
            self._started = True

    async def _do(self, build: Callable[P, Plan[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Build the plan (checking arguments) and run it, counting the call and whether it failed."""
        failed = True
        try:
            plan = build(*args, **kwargs)
            await self._start()
            runner = self._runner
            if plan.mode == "write":
                result = await runner.write(plan.make)
            elif plan.mode == "statement" and runner.in_transaction and plan.fallback is not None:
                result = await runner.write(plan.fallback.make)  # a savepoint keeps a failure from spoiling the block
            elif plan.mode == "statement":
                result = await self._statement(plan)
            elif plan.cached is not None and self._cache.enabled and not runner.in_transaction:
                result = await self._cached(plan, plan.cached)
            else:
                result = await runner.read(plan.make, snapshot=plan.mode == "snapshot")
            failed = False
            return result
        finally:
            self._operations += 1
            self._errors += failed

    async def _statement(self, plan: Plan[T]) -> T:
        """An optimistic self-committing statement; if its connection dropped, find out whether it took effect."""
        runner = self._runner
        outcome: T | None
        try:
            outcome = await runner.read(plan.make, retry=False)
        except OutcomeUnknown:
            if plan.recover is None:
                raise
            outcome = await runner.read(plan.recover)
        if outcome is None and plan.fallback is not None:
            return await runner.write(plan.fallback.make)
        return cast(T, outcome)

    async def _cached(self, plan: Plan[T], key: tuple[str, str]) -> T:
        value = self._cache.get(*key)
        if value is not MISSING:
            return value  # type: ignore[no-any-return]
        generation = self._cache.generation()
        result = await self._runner.read(plan.make)
        if result is not None:
            self._cache.put(*key, result, generation)
        return result

    # permissions -------------------------------------------------------------
    async def create_permission(
        self, permission: Permission | Mapping[str, Any], *, actor: str | None = None
    ) -> Permission:
        return await self._do(self._plans.create, PERMISSIONS, permission, actor)

    async def bulk_create_permissions(
        self, permissions: Sequence[Permission | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[Permission]:
        return await self._do(self._plans.load_permissions, permissions, actor)

    async def get_permission(self, permission_id: str) -> Permission | None:
        return await self._do(self._plans.get, PERMISSIONS, permission_id)

    async def update_permission(
        self,
        permission: Permission | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> Permission:
        return await self._do(self._plans.update, PERMISSIONS, permission, actor, changes)

    async def delete_permission(self, permission_id: str, *, actor: str | None = None) -> bool:
        return await self._do(self._plans.delete, PERMISSIONS, permission_id, actor)

    async def delete_permissions(
        self, *, scope: str | None = None, resource: str | None = None, actor: str | None = None
    ) -> int:
        return await self._do(self._plans.delete_permissions, scope, resource, actor)

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
        return await self._do(self._plans.list_permissions, scope, resource, action, effect, limit, offset)

    # roles ---------------------------------------------------------------------
    async def create_role(self, role: Role | Mapping[str, Any], *, actor: str | None = None) -> Role:
        return await self._do(self._plans.create, ROLES, role, actor)

    async def bulk_create_roles(
        self, roles: Sequence[Role | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[Role]:
        return await self._do(self._plans.create_many, ROLES, roles, actor)

    async def get_role(self, role_id: str) -> Role | None:
        return await self._do(self._plans.get, ROLES, role_id)

    async def get_role_by_name(self, role_name: str) -> Role | None:
        return await self._do(self._plans.by_name, ROLES, "role_name", role_name)

    async def update_role(
        self,
        role: Role | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> Role:
        return await self._do(self._plans.update, ROLES, role, actor, changes)

    async def delete_role(self, role_id: str, *, actor: str | None = None) -> bool:
        return await self._do(self._plans.delete, ROLES, role_id, actor)

    async def list_roles(self, *, limit: int | None = None, offset: int = 0) -> list[Role]:
        return await self._do(self._plans.find, ROLES, {}, limit, offset)

    # policies ------------------------------------------------------------------
    async def create_policy(self, policy: Policy | Mapping[str, Any], *, actor: str | None = None) -> Policy:
        return await self._do(self._plans.create, POLICIES, policy, actor)

    async def bulk_create_policies(
        self, policies: Sequence[Policy | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[Policy]:
        return await self._do(self._plans.create_many, POLICIES, policies, actor)

    async def get_policy(self, policy_id: str) -> Policy | None:
        return await self._do(self._plans.get, POLICIES, policy_id)

    async def get_policy_by_name(self, policy_name: str) -> Policy | None:
        return await self._do(self._plans.by_name, POLICIES, "policy_name", policy_name)

    async def update_policy(
        self,
        policy: Policy | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> Policy:
        return await self._do(self._plans.update, POLICIES, policy, actor, changes)

    async def delete_policy(self, policy_id: str, *, actor: str | None = None) -> bool:
        return await self._do(self._plans.delete, POLICIES, policy_id, actor)

    async def list_policies(
        self, *, enabled: bool | None = None, limit: int | None = None, offset: int = 0
    ) -> list[Policy]:
        return await self._do(self._plans.list_policies, enabled, limit, offset)

    # role assignments ----------------------------------------------------------
    async def create_assignment(
        self, assignment: RoleAssignment | Mapping[str, Any], *, actor: str | None = None
    ) -> RoleAssignment:
        return await self._do(self._plans.create, ASSIGNMENTS, assignment, actor)

    async def bulk_create_assignments(
        self, assignments: Sequence[RoleAssignment | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[RoleAssignment]:
        return await self._do(self._plans.create_many, ASSIGNMENTS, assignments, actor)

    async def get_assignment(self, assignment_id: str) -> RoleAssignment | None:
        return await self._do(self._plans.get, ASSIGNMENTS, assignment_id)

    async def update_assignment(
        self,
        assignment: RoleAssignment | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> RoleAssignment:
        return await self._do(self._plans.update, ASSIGNMENTS, assignment, actor, changes)

    async def delete_assignment(self, assignment_id: str, *, actor: str | None = None) -> bool:
        return await self._do(self._plans.delete, ASSIGNMENTS, assignment_id, actor)

    async def list_assignments(
        self, *, subject: str | None = None, role_id: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[RoleAssignment]:
        return await self._do(self._plans.list_assignments, subject, role_id, limit, offset)

    # audit -----------------------------------------------------------------------
    async def append_audit_event(self, event: AuditEvent | Mapping[str, Any]) -> AuditEvent:
        return (await self._do(self._plans.append, event))[0]

    async def append_audit_events(self, events: Sequence[AuditEvent | Mapping[str, Any]]) -> list[AuditEvent]:
        return await self._do(self._plans.append_many, events)

    async def log_audit_event(self, event: AuditEvent | Mapping[str, Any]) -> str:
        return (await self.append_audit_event(event)).log_id

    async def read_audit_events(self, *, after_sequence: int = 0, limit: int | None = None) -> list[AuditEvent]:
        return await self._do(self._plans.read_events, after_sequence, limit)

    def iter_audit_events(self, *, after_sequence: int = 0) -> AsyncIterator[AuditEvent]:
        self._plans.read_events(after_sequence, None)
        return self._pages(after_sequence)

    async def _pages(self, after_sequence: int) -> AsyncIterator[AuditEvent]:
        while True:
            page = await self._do(self._plans.read_events, after_sequence, _PAGE)
            for event in page:
                yield event
            if len(page) < _PAGE:
                return
            after_sequence = page[-1].sequence or after_sequence

    async def audit_head(self) -> ChainHead | None:
        head: ChainHead | None = await self._do(self._plans.head)
        return head

    async def verify_audit(self) -> ChainReport:
        report: ChainReport = await self._do(self._plans.verify)
        return report

    # whole store -------------------------------------------------------------------
    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        await self._start()
        async with self._runner.atomic():
            yield

    async def revision(self) -> int:
        return await self._do(self._plans.revision)

    async def load_policy_state(self, tenant: str | None = None) -> StoredPolicyState:
        enclosed = self._runner.in_transaction
        kept = self._plans.kept(check_tenant(tenant))
        if not enclosed and kept is not None and self._cache.enabled and await self.revision() == kept.revision:
            self._cache.count_hit()
            return kept
        return await self._do(self._plans.load_policy_state, not enclosed, tenant)

    async def get_statistics(self) -> dict[str, Any]:
        await self._start()
        counts = await self._runner.read(self._plans.statistics().make, snapshot=True)
        return {
            **counts,
            **self._cache.stats(),
            "backend_operations": self._operations,
            "backend_errors": self._errors,
        }

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._runner.close()
        self._cache.set_live(False)
        if self._listener is not None and self._started:
            await self._listener.close()
        await self._engine.dispose()
