"""An immutable, pre-indexed view of the policy state that checks read from.

Everything that does not depend on the request is worked out once here:
patterns are split, role inheritance is closed over, permissions are grouped
by role and action, assignments by subject and policy rules by action. A check
then touches only the requesting subject's assignments and the rules for the
requested action.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, TypeVar

from greenlang.auth.conditions import Condition
from greenlang.auth.graph import ancestors
from greenlang.auth.patterns import parse_pattern, segments_match, validate_pattern
from greenlang.auth.permissions import Permission, PermissionEffect, Scope
from greenlang.auth.policies import Policy, PolicyRule
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.errors import InputError

__all__ = [
    "PolicySnapshot",
    "PolicySource",
    "AsyncPolicySource",
    "PolicyStateLike",
    "CompiledPattern",
    "CompiledPermission",
    "CompiledRule",
    "ANY_ACTION",
]

ANY_ACTION = "*"
T = TypeVar("T")


class PolicyStateLike(Protocol):
    """What ``PolicySnapshot.build`` reads; ``backends.base.PolicyState`` fits."""

    @property
    def revision(self) -> int: ...
    @property
    def permissions(self) -> Sequence[Permission]: ...
    @property
    def roles(self) -> Sequence[Role]: ...
    @property
    def policies(self) -> Sequence[Policy]: ...
    @property
    def assignments(self) -> Sequence[RoleAssignment]: ...


class PolicySource(Protocol):
    """The two store calls an ``Authorizer`` needs; every ``AuthBackend`` has them."""

    def revision(self) -> int: ...
    def load_policy_state(self) -> PolicyStateLike: ...


class AsyncPolicySource(Protocol):
    """The async twin of ``PolicySource``; every ``AsyncAuthBackend`` has it."""

    async def revision(self) -> int: ...
    async def load_policy_state(self) -> PolicyStateLike: ...


@dataclass(frozen=True, slots=True)
class CompiledPattern:
    """A resource pattern split once: its fixed segments and whether it ends in ``**``."""

    text: str
    fixed: tuple[str, ...]
    open_ended: bool

    @classmethod
    def of(cls, pattern: str, owner: str) -> CompiledPattern:
        # Records are validated when stored; this catches records built with
        # ``model_construct`` so that no malformed pattern ever reaches a check.
        try:
            validate_pattern(pattern)
        except ValueError as exc:
            raise InputError(f"{owner} holds a malformed resource pattern: {exc}") from None
        fixed, open_ended = parse_pattern(pattern)
        return cls(pattern, fixed, open_ended)

    def matches(self, resource: list[str]) -> bool:
        """Anchored match against a resource already split on ``:``."""
        return segments_match(self.fixed, self.open_ended, resource)


@dataclass(frozen=True, slots=True)
class CompiledPermission:
    permission: Permission
    pattern: CompiledPattern
    scope: Scope | None

    @property
    def id(self) -> str:
        return self.permission.permission_id


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One policy rule, with its policy's conditions prepended (all-of)."""

    policy: Policy
    index: int
    ref: str
    rule: PolicyRule
    patterns: tuple[CompiledPattern, ...]
    scope: Scope | None
    conditions: tuple[Condition, ...]
    subjects: frozenset[str]
    role_names: frozenset[str]

    @property
    def effect(self) -> PermissionEffect:
        return self.rule.effect


def _scope(text: str | None) -> Scope | None:
    return None if text is None else Scope(text)


def _compile_permission(permission: Permission) -> CompiledPermission:
    pattern = CompiledPattern.of(permission.resource, f"permission {permission.permission_id!r}")
    return CompiledPermission(permission, pattern, _scope(permission.scope))


def _compile_rules(policy: Policy) -> list[CompiledRule]:
    compiled = []
    for index, rule in enumerate(policy.rules):
        ref = policy.rule_ref(index)
        patterns = tuple(CompiledPattern.of(text, f"policy rule {ref!r}") for text in rule.resources)
        conditions = (*policy.conditions, *rule.conditions)
        compiled.append(
            CompiledRule(
                policy,
                index,
                ref,
                rule,
                patterns,
                _scope(rule.scope),
                conditions,
                frozenset(rule.subjects),
                frozenset(rule.roles),
            )
        )
    return compiled


def _by_action(entries: Iterable[tuple[Sequence[str], T]]) -> Mapping[str, tuple[T, ...]]:
    """Group by action name; an entry for ``*`` is filed only under ``*`` so it is never found twice."""
    grouped: dict[str, list[T]] = {}
    for names, item in entries:
        keys = {ANY_ACTION} if ANY_ACTION in names else set(names)
        for key in keys:
            grouped.setdefault(key, []).append(item)
    return MappingProxyType({key: tuple(items) for key, items in grouped.items()})


@dataclass(frozen=True)
class PolicySnapshot:
    """Roles, permissions, assignments and policies of one store revision, indexed for checks."""

    revision: int
    roles: Mapping[str, Role]
    role_ids_by_name: Mapping[str, str]
    permissions: Mapping[str, Permission]
    assignments: Mapping[str, tuple[RoleAssignment, ...]]
    policies: tuple[Policy, ...]
    _closure: Mapping[str, tuple[str, ...]] = field(repr=False)
    _role_permissions: Mapping[str, tuple[CompiledPermission, ...]] = field(repr=False)
    _role_permissions_by_action: Mapping[str, Mapping[str, tuple[CompiledPermission, ...]]] = field(repr=False)
    _rules: tuple[CompiledRule, ...] = field(repr=False)
    _rules_by_action: Mapping[str, tuple[CompiledRule, ...]] = field(repr=False)

    @classmethod
    def build(cls, state: PolicyStateLike) -> PolicySnapshot:
        """Index a store's ``PolicyState``."""
        return cls.from_records(
            permissions=state.permissions,
            roles=state.roles,
            assignments=state.assignments,
            policies=state.policies,
            revision=state.revision,
        )

    @classmethod
    def from_records(
        cls,
        *,
        permissions: Iterable[Permission] = (),
        roles: Iterable[Role] = (),
        assignments: Iterable[RoleAssignment] = (),
        policies: Iterable[Policy] = (),
        revision: int = 0,
    ) -> PolicySnapshot:
        """Index records directly, e.g. in tests or for a policy file not yet stored."""
        perms = {p.permission_id: p for p in permissions}
        role_map = {r.role_id: r for r in roles}
        compiled = {pid: _compile_permission(p) for pid, p in perms.items()}

        def parents_of(role_id: str) -> list[str]:
            role = role_map.get(role_id)
            return [] if role is None else role.parent_roles

        closure = {rid: tuple(a for a in ancestors([rid], parents_of) if a in role_map) for rid in role_map}
        own = {
            rid: tuple(compiled[pid] for pid in role.permissions if pid in compiled) for rid, role in role_map.items()
        }
        own_by_action = {rid: _by_action(([cp.permission.action], cp) for cp in items) for rid, items in own.items()}
        by_subject: dict[str, list[RoleAssignment]] = {}
        for assignment in sorted(assignments, key=lambda a: a.assignment_id):
            by_subject.setdefault(assignment.subject, []).append(assignment)
        ordered = tuple(sorted(policies, key=lambda p: (-p.priority, p.policy_id)))
        rules = tuple(rule for policy in ordered for rule in _compile_rules(policy))
        return cls(
            revision=revision,
            roles=MappingProxyType(role_map),
            role_ids_by_name=MappingProxyType({r.role_name: rid for rid, r in role_map.items()}),
            permissions=MappingProxyType(perms),
            assignments=MappingProxyType({s: tuple(items) for s, items in by_subject.items()}),
            policies=ordered,
            _closure=MappingProxyType(closure),
            _role_permissions=MappingProxyType(own),
            _role_permissions_by_action=MappingProxyType(own_by_action),
            _rules=rules,
            _rules_by_action=_by_action((r.rule.actions, r) for r in rules),
        )

    def inherited(self, role_id: str) -> tuple[str, ...]:
        """``role_id`` and every stored role it inherits from, each once (cycles in stored data end the walk)."""
        return self._closure.get(role_id, ())

    def permissions_of_role(self, role_id: str, action: str | None = None) -> tuple[CompiledPermission, ...]:
        """The role's own permissions (not inherited); only those that can match ``action`` if given."""
        if action is None:
            return self._role_permissions.get(role_id, ())
        by_action = self._role_permissions_by_action.get(role_id)
        if not by_action:
            return ()
        return by_action.get(action, ()) + by_action.get(ANY_ACTION, ())

    def policy_rules(self, action: str | None = None) -> tuple[CompiledRule, ...]:
        """Policy rules by policy priority; only those that can match ``action`` if given."""
        if action is None:
            return self._rules
        return self._rules_by_action.get(action, ()) + self._rules_by_action.get(ANY_ACTION, ())

    def assignments_of(self, subject: str) -> tuple[RoleAssignment, ...]:
        return self.assignments.get(subject, ())
