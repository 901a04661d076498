"""``PostgreSQLBackend``: the storage contract over PostgreSQL, synchronously, with psycopg 3.

Construction checks the schema revision (a database behind the code is
refused with the command that fixes it) and starts the invalidation listener.
Every method checks its arguments before any connection is used, so bad input
stores nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar, cast

from greenlang.audit.chain import ChainHead, ChainReport
from greenlang.audit.events import AuditEvent
from greenlang.auth.backends.arguments import check_tenant
from greenlang.auth.permissions import Permission, PermissionEffect
from greenlang.auth.policies import Policy
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.timeutil import Clock, utcnow
from greenlang_pg.cache import MISSING, ReadCache
from greenlang_pg.config import DatabaseConfig
from greenlang_pg.engines import sync_engine
from greenlang_pg.faults import OutcomeUnknown
from greenlang_pg.plans import Plan, Plans, StoredPolicyState
from greenlang_pg.rows import ASSIGNMENTS, PERMISSIONS, POLICIES, ROLES
from greenlang_pg.schema import check_schema
from greenlang_pg.sync_runner import SyncListener, SyncRunner

__all__ = ["PostgreSQLBackend"]

T = TypeVar("T")
P = ParamSpec("P")
_PAGE = 1000


def resolve_config(config: DatabaseConfig | None, options: Mapping[str, Any]) -> DatabaseConfig:
    """``config`` as given, else one built from keyword options, else from ``GL_DB_*``."""
    if config is not None:
        if options:
            return config.model_copy(update=dict(options))
        return config
    return DatabaseConfig.from_env(**options)


def runner_limits(config: DatabaseConfig) -> dict[str, Any]:
    """How many connections a runner holds idle and lets operations use at once, from the pool settings.

    With ``pool_pre_ping`` none is held, so every operation's checkout is pinged as asked.
    """
    return {
        "keep": 0 if config.pool_pre_ping else config.pool_size,
        "recycle": config.pool_recycle,
        "capacity": config.pool_size + config.max_overflow,
        "timeout": config.pool_timeout,
    }


class PostgreSQLBackend:
    """``AuthBackend`` over PostgreSQL.

    ``config`` defaults to ``DatabaseConfig.from_env()``; keyword options
    (``host=...``, ``pool_size=...``) build or amend it. ``cache_ttl`` bounds how
    long a permission, role or policy lookup is served from memory (0 turns the
    cache off); changes made anywhere reach the cache through LISTEN/NOTIFY.
    """

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
        self._engine = sync_engine(self.config)
        self._runner = SyncRunner(self._engine, self._server, self._cache, **runner_limits(self.config))
        self._plans = Plans(clock)
        self._lock = threading.Lock()
        self._operations = 0
        self._errors = 0
        self._listener: SyncListener | None = None
        try:
            self._runner.read(lambda: check_schema(self._server))
            if cache_ttl > 0:
                self._listener = SyncListener(self._engine, self._cache)
        except BaseException:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"PostgreSQLBackend({self._server!r})"

    def __enter__(self) -> PostgreSQLBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _do(self, build: Callable[P, Plan[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Build the plan (checking arguments) and run it, counting the call and whether it failed."""
        failed = True
        try:
            plan = build(*args, **kwargs)
            runner = self._runner
            if plan.mode == "write":
                result = runner.write(plan.make)
            elif plan.mode == "statement" and runner.in_transaction and plan.fallback is not None:
                result = runner.write(plan.fallback.make)  # a savepoint keeps a failure from spoiling the block
            elif plan.mode == "statement":
                result = self._statement(plan)
            elif plan.cached is not None and self._cache.enabled and not runner.in_transaction:
                result = self._cached(plan, plan.cached)
            else:
                result = runner.read(plan.make, snapshot=plan.mode == "snapshot")
            failed = False
            return result
        finally:
            with self._lock:
                self._operations += 1
                self._errors += failed

    def _statement(self, plan: Plan[T]) -> T:
        """An optimistic self-committing statement; if its connection dropped, find out whether it took effect."""
        runner = self._runner
        outcome: T | None
        try:
            outcome = runner.read(plan.make, retry=False)
        except OutcomeUnknown:
            if plan.recover is None:
                raise
            outcome = runner.read(plan.recover)
        if outcome is None and plan.fallback is not None:
            return runner.write(plan.fallback.make)
        return cast(T, outcome)

    def _cached(self, plan: Plan[T], key: tuple[str, str]) -> T:
        value = self._cache.get(*key)
        if value is not MISSING:
            return value  # type: ignore[no-any-return]
        generation = self._cache.generation()
        result = self._runner.read(plan.make)
        if result is not None:
            self._cache.put(*key, result, generation)
        return result

    # permissions -------------------------------------------------------------
    def create_permission(self, permission: Permission | Mapping[str, Any], *, actor: str | None = None) -> Permission:
        return self._do(self._plans.create, PERMISSIONS, permission, actor)

    def bulk_create_permissions(
        self, permissions: Sequence[Permission | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[Permission]:
        return self._do(self._plans.load_permissions, permissions, actor)

    def get_permission(self, permission_id: str) -> Permission | None:
        return self._do(self._plans.get, PERMISSIONS, permission_id)

    def update_permission(
        self,
        permission: Permission | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> Permission:
        return self._do(self._plans.update, PERMISSIONS, permission, actor, changes)

    def delete_permission(self, permission_id: str, *, actor: str | None = None) -> bool:
        return self._do(self._plans.delete, PERMISSIONS, permission_id, actor)

    def delete_permissions(
        self, *, scope: str | None = None, resource: str | None = None, actor: str | None = None
    ) -> int:
        """Delete the permissions matching every given filter exactly; at least one filter is required."""
        return self._do(self._plans.delete_permissions, scope, resource, actor)

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
        return self._do(self._plans.list_permissions, scope, resource, action, effect, limit, offset)

    # roles ---------------------------------------------------------------------
    def create_role(self, role: Role | Mapping[str, Any], *, actor: str | None = None) -> Role:
        return self._do(self._plans.create, ROLES, role, actor)

    def bulk_create_roles(self, roles: Sequence[Role | Mapping[str, Any]], *, actor: str | None = None) -> list[Role]:
        return self._do(self._plans.create_many, ROLES, roles, actor)

    def get_role(self, role_id: str) -> Role | None:
        return self._do(self._plans.get, ROLES, role_id)

    def get_role_by_name(self, role_name: str) -> Role | None:
        return self._do(self._plans.by_name, ROLES, "role_name", role_name)

    def update_role(
        self,
        role: Role | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> Role:
        return self._do(self._plans.update, ROLES, role, actor, changes)

    def delete_role(self, role_id: str, *, actor: str | None = None) -> bool:
        return self._do(self._plans.delete, ROLES, role_id, actor)

    def list_roles(self, *, limit: int | None = None, offset: int = 0) -> list[Role]:
        return self._do(self._plans.find, ROLES, {}, limit, offset)

    # policies ------------------------------------------------------------------
    def create_policy(self, policy: Policy | Mapping[str, Any], *, actor: str | None = None) -> Policy:
        return self._do(self._plans.create, POLICIES, policy, actor)

    def bulk_create_policies(
        self, policies: Sequence[Policy | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[Policy]:
        return self._do(self._plans.create_many, POLICIES, policies, actor)

    def get_policy(self, policy_id: str) -> Policy | None:
        return self._do(self._plans.get, POLICIES, policy_id)

    def get_policy_by_name(self, policy_name: str) -> Policy | None:
        return self._do(self._plans.by_name, POLICIES, "policy_name", policy_name)

    def update_policy(
        self,
        policy: Policy | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> Policy:
        return self._do(self._plans.update, POLICIES, policy, actor, changes)

    def delete_policy(self, policy_id: str, *, actor: str | None = None) -> bool:
        return self._do(self._plans.delete, POLICIES, policy_id, actor)

    def list_policies(self, *, enabled: bool | None = None, limit: int | None = None, offset: int = 0) -> list[Policy]:
        return self._do(self._plans.list_policies, enabled, limit, offset)

    # role assignments ----------------------------------------------------------
    def create_assignment(
        self, assignment: RoleAssignment | Mapping[str, Any], *, actor: str | None = None
    ) -> RoleAssignment:
        return self._do(self._plans.create, ASSIGNMENTS, assignment, actor)

    def bulk_create_assignments(
        self, assignments: Sequence[RoleAssignment | Mapping[str, Any]], *, actor: str | None = None
    ) -> list[RoleAssignment]:
        return self._do(self._plans.create_many, ASSIGNMENTS, assignments, actor)

    def get_assignment(self, assignment_id: str) -> RoleAssignment | None:
        return self._do(self._plans.get, ASSIGNMENTS, assignment_id)

    def update_assignment(
        self,
        assignment: RoleAssignment | Mapping[str, Any] | str,
        changes: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> RoleAssignment:
        return self._do(self._plans.update, ASSIGNMENTS, assignment, actor, changes)

    def delete_assignment(self, assignment_id: str, *, actor: str | None = None) -> bool:
        return self._do(self._plans.delete, ASSIGNMENTS, assignment_id, actor)

    def list_assignments(
        self, *, subject: str | None = None, role_id: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[RoleAssignment]:
        return self._do(self._plans.list_assignments, subject, role_id, limit, offset)

    # audit -----------------------------------------------------------------------
    def append_audit_event(self, event: AuditEvent | Mapping[str, Any]) -> AuditEvent:
        """Link ``event`` to the chain head and store it; ``sequence`` and ``provenance_hash`` are assigned here."""
        return self._do(self._plans.append, event)[0]

    def append_audit_events(self, events: Sequence[AuditEvent | Mapping[str, Any]]) -> list[AuditEvent]:
        """Link and store ``events`` in order in one transaction (loaded with COPY when there are many)."""
        return self._do(self._plans.append_many, events)

    def log_audit_event(self, event: AuditEvent | Mapping[str, Any]) -> str:
        """The seed's call: append ``event`` and return its ``log_id``."""
        return self.append_audit_event(event).log_id

    def read_audit_events(self, *, after_sequence: int = 0, limit: int | None = None) -> list[AuditEvent]:
        return self._do(self._plans.read_events, after_sequence, limit)

    def iter_audit_events(self, *, after_sequence: int = 0) -> Iterator[AuditEvent]:
        """Every event after ``after_sequence`` in order, fetched a page at a time."""
        self._plans.read_events(after_sequence, None)
        return self._pages(after_sequence)

    def _pages(self, after_sequence: int) -> Iterator[AuditEvent]:
        while True:
            page = self._do(self._plans.read_events, after_sequence, _PAGE)
            yield from page
            if len(page) < _PAGE:
                return
            after_sequence = page[-1].sequence or after_sequence

    def audit_head(self) -> ChainHead | None:
        head: ChainHead | None = self._do(self._plans.head)
        return head

    def verify_audit(self) -> ChainReport:
        """Walk the whole trail against the stored head in one snapshot."""
        report: ChainReport = self._do(self._plans.verify)
        return report

    # whole store -------------------------------------------------------------------
    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Group writes: nothing commits until the outermost block exits; an exception undoes them all."""
        with self._runner.atomic():
            yield

    def revision(self) -> int:
        return self._do(self._plans.revision)

    def load_policy_state(self, tenant: str | None = None) -> StoredPolicyState:
        """All policy state from one snapshot, or ``tenant``'s rows and the shared ones; outside a transaction,
        reused while the revision is unchanged."""
        enclosed = self._runner.in_transaction
        kept = self._plans.kept(check_tenant(tenant))
        if not enclosed and kept is not None and self._cache.enabled and self.revision() == kept.revision:
            self._cache.count_hit()
            return kept
        return self._do(self._plans.load_policy_state, not enclosed, tenant)

    def get_statistics(self) -> dict[str, Any]:
        """Row counts, this object's operation counters and its cache's (``get_statistics`` itself is not counted)."""
        counts = self._runner.read(self._plans.statistics().make, snapshot=True)
        with self._lock:
            operations, errors = self._operations, self._errors
        return {**counts, **self._cache.stats(), "backend_operations": operations, "backend_errors": errors}

    def close(self) -> None:
        """Stop the listener and close every pooled connection; closing twice is harmless."""
        self._runner.close()
        self._cache.set_live(False)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._engine.dispose()
