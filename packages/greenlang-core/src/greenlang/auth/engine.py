"""The decision engine: may a subject do an action on a resource, and why.

Deny overrides allow, no applicable allow means deny, and anything that cannot
be evaluated (a missing context attribute, a wrong type) keeps an allow from
applying but lets a deny apply, so errors never grant. Priority orders the
deciding rules and picks the one the reason names; it never changes the answer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from greenlang.auth.conditions import MISSING
from greenlang.auth.decision import (
    Decision,
    Explanation,
    Hit,
    Request,
    RuleKind,
    RuleTrace,
    assignment_problem,
    combine,
    note,
    permission_verdict,
    rule_verdict,
)
from greenlang.auth.patterns import SEPARATOR, validate_resource
from greenlang.auth.permissions import Permission, validate_action
from greenlang.auth.roles import Role
from greenlang.auth.snapshot import (
    ANY_ACTION,
    AsyncPolicySource,
    PolicySnapshot,
    PolicySource,
)
from greenlang.errors import InputError
from greenlang.timeutil import Clock, to_utc, utcnow

__all__ = ["Authorizer", "AsyncAuthorizer", "expand_context"]

Context = Mapping[str, Any]


# -- request input ---------------------------------------------------------------------------------------------------


def expand_context(context: Context | None) -> dict[str, Any]:
    """Nest dotted keys: ``{"report.confidential": True}`` becomes ``{"report": {"confidential": True}}``."""
    if context is None:
        return {}
    if not isinstance(context, Mapping):
        raise InputError("context must be a mapping of attribute names to values, such as {'org': 'acme'}")
    result: dict[str, Any] = {}
    _merge_into(result, context, "")
    return result


def _merge_into(target: dict[str, Any], source: Mapping[Any, Any], prefix: str) -> None:
    for key, value in source.items():
        if not isinstance(key, str) or any(not part for part in key.split(".")):
            raise InputError(
                f"context key {prefix + str(key)!r} must be a dot-path of non-empty names, e.g. 'report.status'"
            )
        *branches, leaf = key.split(".")
        node = target
        for depth, part in enumerate(branches):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = prefix + ".".join(branches[: depth + 1])
                raise InputError(f"context gives {where!r} both a value and nested attributes; give one")
            node = child
        path = prefix + key
        existing = node.get(leaf, MISSING)
        if isinstance(value, Mapping):
            if existing is MISSING:
                existing = node[leaf] = {}
            elif not isinstance(existing, dict):
                raise InputError(f"context gives {path!r} both a value and nested attributes; give one")
            _merge_into(existing, value, path + ".")
        elif existing is not MISSING:
            raise InputError(
                f"context gives {path!r} more than once (as a value and as nested attributes); give it once"
            )
        else:
            _check_value(value, path)
            node[leaf] = value


_EXACT_INT = 2**53 - 1


def _check_value(value: Any, path: str) -> None:
    """Numbers must mean the same to every JSON reader, and to the audit trail that records them.

    NaN compares false with everything, so it would quietly switch conditions
    off; integers past 2**53 lose precision in most JSON readers.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"context value {path!r} is {value}; give a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _EXACT_INT:
        raise InputError(f"context value {path!r} is too large for exact JSON (over 2**53 - 1); give it as a string")
    if isinstance(value, list | tuple):
        for item in value:
            _check_value(item, path)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_value(item, f"{path}.{key}")


def _check_request(subject: Any, action: Any, resource: Any) -> None:
    _check_subject(subject)
    if not isinstance(action, str):
        raise InputError("action must be a string such as 'read'")
    if action == ANY_ACTION:
        raise InputError("action must be a concrete action such as 'read'; '*' is only for permissions and rules")
    try:
        validate_action(action)
    except ValueError as exc:
        raise InputError(f"action: {exc}") from None
    try:
        validate_resource(resource)
    except ValueError as exc:
        raise InputError(f"resource: {exc}") from None


def _check_subject(subject: Any) -> None:
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 255:
        raise InputError("subject must be a non-empty name of at most 255 characters, such as 'alice@example.com'")


# -- evaluation ------------------------------------------------------------------------------------------------------


def _effective_roles(
    snapshot: PolicySnapshot, request: Request, trace: list[RuleTrace] | None
) -> list[tuple[Role, str]]:
    """Roles held through assignments in force, with inherited ones, as (role, assignment id), by priority."""
    via: dict[str, str] = {}
    for assignment in snapshot.assignments_of(request.subject):
        problem = assignment_problem(assignment, snapshot, request)
        if trace is not None:
            role = snapshot.roles.get(assignment.role_id)
            trace.append(
                RuleTrace(
                    assignment.assignment_id,
                    RuleKind.ASSIGNMENT,
                    None,
                    problem is None,
                    problem or "assignment in force",
                    role.priority if role else 0,
                    assignment.role_id,
                    role.role_name if role else None,
                    assignment.assignment_id,
                )
            )
        if problem is None:
            for role_id in snapshot.inherited(assignment.role_id):
                via.setdefault(role_id, assignment.assignment_id)
    roles = [(snapshot.roles[role_id], assignment_id) for role_id, assignment_id in via.items()]
    roles.sort(key=lambda pair: (-pair[0].priority, pair[0].role_id))
    return roles


def _evaluate(snapshot: PolicySnapshot, request: Request, trace: list[RuleTrace] | None) -> list[Hit]:
    roles = _effective_roles(snapshot, request, trace)
    wanted = None if trace is not None else request.action
    hits: list[Hit] = []
    seen: set[str] = set()
    for role, assignment_id in roles:
        if trace is not None:
            for missing in (pid for pid in role.permissions if pid not in snapshot.permissions):
                trace.append(
                    RuleTrace(
                        missing,
                        RuleKind.PERMISSION,
                        None,
                        False,
                        "permission does not exist; ignored",
                        role.priority,
                        role.role_id,
                        role.role_name,
                        assignment_id,
                    )
                )
        for cp in snapshot.permissions_of_role(role.role_id, wanted):
            if cp.id in seen:
                continue
            seen.add(cp.id)
            applies, why = permission_verdict(cp, request)
            permission = cp.permission
            if trace is not None:
                trace.append(
                    RuleTrace(
                        cp.id,
                        RuleKind.PERMISSION,
                        permission.effect,
                        applies,
                        why,
                        role.priority,
                        role.role_id,
                        role.role_name,
                        assignment_id,
                    )
                )
            if applies:
                summary = (
                    f"permission {cp.id} ({permission.effect.value} {permission.action} on {permission.resource})"
                    f" via role {role.role_name}"
                )
                hits.append(Hit(cp.id, permission.effect, role.priority, summary, note(why)))
    role_names = {role.role_name for role, _ in roles}
    for cr in snapshot.policy_rules(wanted):
        applies, why, via_role = rule_verdict(cr, request, role_names)
        if trace is not None:
            role_id = snapshot.role_ids_by_name.get(via_role) if via_role else None
            trace.append(
                RuleTrace(cr.ref, RuleKind.POLICY_RULE, cr.effect, applies, why, cr.policy.priority, role_id, via_role)
            )
        if applies:
            summary = f"{cr.policy.policy_type.value} policy {cr.policy.policy_name} rule {cr.ref} ({cr.effect.value})"
            hits.append(Hit(cr.ref, cr.effect, cr.policy.priority, summary, note(why)))
    return hits


# -- entry points shared by the sync and async authorizers -----------------------------------------------------------


def _request(subject: str, action: str, resource: str, context: Context | None, now: datetime) -> Request:
    _check_request(subject, action, resource)
    return Request(subject, action, resource, resource.split(SEPARATOR), expand_context(context), now)


def _run(
    snapshot: PolicySnapshot,
    clock: Clock,
    subject: str,
    action: str,
    resource: str,
    context: Context | None,
    now: datetime | None,
    explain: bool,
) -> Explanation:
    started = time.perf_counter()
    request = _request(subject, action, resource, context, to_utc(now if now is not None else clock()))
    trace: list[RuleTrace] | None = [] if explain else None
    hits = _evaluate(snapshot, request, trace)
    return Explanation(combine(snapshot, request, hits, started), tuple(trace or ()))


def _roles(
    snapshot: PolicySnapshot, clock: Clock, subject: str, context: Context | None, now: datetime | None
) -> list[Role]:
    _check_subject(subject)
    moment = to_utc(now if now is not None else clock())
    request = Request(subject, "", "", [], expand_context(context), moment)
    return [role for role, _ in _effective_roles(snapshot, request, None)]


def _permissions(roles: list[Role], snapshot: PolicySnapshot) -> list[Permission]:
    seen: dict[str, Permission] = {}
    for role in roles:
        for cp in snapshot.permissions_of_role(role.role_id):
            seen.setdefault(cp.id, cp.permission)
    return list(seen.values())


class Authorizer:
    """Answers checks against a snapshot, reloading it from ``backend`` when the store's revision moves.

    ``backend`` is any ``AuthBackend`` (only ``revision()`` and
    ``load_policy_state()`` are used); ``snapshot`` starts from a given view,
    e.g. in tests. ``clock`` supplies "now" unless a call passes ``now``.
    """

    def __init__(
        self, backend: PolicySource | None = None, *, snapshot: PolicySnapshot | None = None, clock: Clock = utcnow
    ) -> None:
        if backend is None and snapshot is None:
            raise InputError("Authorizer needs a backend or a snapshot; pass one of them")
        self._backend = backend
        self._snapshot = snapshot
        self._clock = clock

    def current(self) -> PolicySnapshot:
        """The snapshot checks use now, rebuilt first if the store's revision has moved on."""
        backend = self._backend
        if backend is not None and (self._snapshot is None or backend.revision() != self._snapshot.revision):
            return self.reload()
        assert self._snapshot is not None  # the constructor needs a backend or a snapshot
        return self._snapshot

    def reload(self) -> PolicySnapshot:
        """Rebuild the snapshot from the backend now (a no-op without a backend)."""
        if self._backend is not None:
            self._snapshot = PolicySnapshot.build(self._backend.load_policy_state())
        assert self._snapshot is not None
        return self._snapshot

    def check(
        self, subject: str, action: str, resource: str, context: Context | None = None, *, now: datetime | None = None
    ) -> Decision:
        return _run(self.current(), self._clock, subject, action, resource, context, now, explain=False).decision

    def explain(
        self, subject: str, action: str, resource: str, context: Context | None = None, *, now: datetime | None = None
    ) -> Explanation:
        return _run(self.current(), self._clock, subject, action, resource, context, now, explain=True)

    def roles_of(self, subject: str, *, now: datetime | None = None, context: Context | None = None) -> list[Role]:
        """Roles in force for ``subject``, inherited ones included, highest priority first."""
        return _roles(self.current(), self._clock, subject, context, now)

    def effective_permissions(
        self, subject: str, *, now: datetime | None = None, context: Context | None = None
    ) -> list[Permission]:
        """Every permission those roles hold, each id once; scopes and conditions are left to checks."""
        snapshot = self.current()
        return _permissions(_roles(snapshot, self._clock, subject, context, now), snapshot)


class AsyncAuthorizer:
    """``Authorizer`` over an ``AsyncAuthBackend``: loading awaits, evaluation is the same code."""

    def __init__(
        self, backend: AsyncPolicySource | None = None, *, snapshot: PolicySnapshot | None = None, clock: Clock = utcnow
    ) -> None:
        if backend is None and snapshot is None:
            raise InputError("AsyncAuthorizer needs a backend or a snapshot; pass one of them")
        self._backend = backend
        self._snapshot = snapshot
        self._clock = clock

    async def current(self) -> PolicySnapshot:
        """The snapshot checks use now, rebuilt first if the store's revision has moved on."""
        backend = self._backend
        if backend is not None and (self._snapshot is None or await backend.revision() != self._snapshot.revision):
            return await self.reload()
        assert self._snapshot is not None  # the constructor needs a backend or a snapshot
        return self._snapshot

    async def reload(self) -> PolicySnapshot:
        """Rebuild the snapshot from the backend now (a no-op without a backend)."""
        if self._backend is not None:
            self._snapshot = PolicySnapshot.build(await self._backend.load_policy_state())
        assert self._snapshot is not None
        return self._snapshot

    async def check(
        self, subject: str, action: str, resource: str, context: Context | None = None, *, now: datetime | None = None
    ) -> Decision:
        snapshot = await self.current()
        return _run(snapshot, self._clock, subject, action, resource, context, now, explain=False).decision

    async def explain(
        self, subject: str, action: str, resource: str, context: Context | None = None, *, now: datetime | None = None
    ) -> Explanation:
        return _run(await self.current(), self._clock, subject, action, resource, context, now, explain=True)

    async def roles_of(
        self, subject: str, *, now: datetime | None = None, context: Context | None = None
    ) -> list[Role]:
        return _roles(await self.current(), self._clock, subject, context, now)

    async def effective_permissions(
        self, subject: str, *, now: datetime | None = None, context: Context | None = None
    ) -> list[Permission]:
        snapshot = await self.current()
        return _permissions(_roles(snapshot, self._clock, subject, context, now), snapshot)
