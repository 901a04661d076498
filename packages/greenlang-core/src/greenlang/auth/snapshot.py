"""An immutable, pre-indexed view of the policy state that checks read from.

Everything that does not depend on the request is worked out once here:
patterns are split, role inheritance is closed over and ranked, permissions
are filed by role and action, policy rules by the subject, role or "everyone"
they name and then by action, and any bucket with many rules by resource
segment (``index``). A check then touches only the requesting subject's
assignments and the rules that can apply to it. The snapshot also records
what a cached decision depends on: the context attributes rules read and the
instants at which some rule or assignment starts or stops.
"""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import NamedTuple, Protocol, TypeVar

from greenlang.auth.conditions import Condition
from greenlang.auth.graph import ancestors
from greenlang.auth.holdings import Holdings
from greenlang.auth.index import ANY_ACTION, ActionMap, action_map
from greenlang.auth.packed import Packed, PackedView, pack
from greenlang.auth.patterns import SEPARATOR, parse_pattern, segments_match, validate_pattern
from greenlang.auth.permissions import Permission, PermissionEffect, Scope
from greenlang.auth.policies import Policy, PolicyRule
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.auth.tenancy import may_reference
from greenlang.errors import InputError

__all__ = [
    "PolicySnapshot",
    "PolicySource",
    "AsyncPolicySource",
    "PolicyStateLike",
    "CompiledPattern",
    "CompiledPermission",
    "CompiledRule",
    "Index",
    "RuleMap",
    "GrantMap",
    "ANY_ACTION",
]

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
    """A resource pattern split once: its fixed segments and whether it ends in ``**``.

    ``literal`` is the whole pattern when it has no wildcard (a resource
    matches it only by being equal to it); ``prefix`` is the pattern before a
    final ``**`` plus ``:`` when nothing else is a wildcard. Either lets a
    check compare strings instead of segments (``index.Bucket.matching``).
    """

    text: str
    fixed: tuple[str, ...]
    open_ended: bool
    literal: str | None = None
    prefix: str | None = None

    @classmethod
    def of(cls, pattern: str, owner: str) -> CompiledPattern:
        # Records are validated when stored; this catches records built with
        # ``model_construct`` so that no malformed pattern ever reaches a check.
        try:
            validate_pattern(pattern)
        except ValueError as exc:
            raise InputError(f"{owner} holds a malformed resource pattern: {exc}") from None
        fixed, open_ended = parse_pattern(pattern)
        fixed = tuple(map(sys.intern, fixed))  # segments repeat across patterns: keep one copy of each
        plain = "*" not in fixed
        literal = pattern if plain and not open_ended else None
        prefix = SEPARATOR.join((*fixed, "")) if plain and open_ended and fixed else None
        return cls(pattern, fixed, open_ended, literal, prefix)

    def matches(self, resource: list[str]) -> bool:
        """Anchored match against a resource already split on ``:``."""
        return segments_match(self.fixed, self.open_ended, resource)


@dataclass(frozen=True, slots=True)
class CompiledPermission:
    """A permission as checks read it; the record itself stays packed until someone asks for it."""

    packed: Packed[Permission]
    pattern: CompiledPattern
    scope: Scope | None
    id: str
    action: str
    effect: PermissionEffect
    conditions: tuple[Condition, ...]

    @property
    def permission(self) -> Permission:
        return self.packed.record()

    @property
    def deny(self) -> bool:
        return self.effect is PermissionEffect.DENY


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
    """The roles the rule names that it may apply through: a role of another tenant is not among them."""
    addressed: bool
    """Whether the rule names subjects or roles at all; a rule that names neither applies to everyone."""

    @property
    def effect(self) -> PermissionEffect:
        return self.rule.effect

    @property
    def deny(self) -> bool:
        return self.rule.effect is PermissionEffect.DENY


def _scope(text: str | None) -> Scope | None:
    return None if text is None else _parsed_scope(text)


@functools.lru_cache(maxsize=65_536)
def _parsed_scope(text: str) -> Scope:
    """One shared ``Scope`` per text: a snapshot may hold a hundred thousand ``org:...`` scopes."""
    return Scope(text)


def _compile_permission(permission: Permission, patterns: dict[str, CompiledPattern]) -> CompiledPermission:
    pattern = patterns.get(permission.resource)
    if pattern is None:
        pattern = patterns[permission.resource] = CompiledPattern.of(
            permission.resource, f"permission {permission.permission_id!r}"
        )
    return CompiledPermission(
        pack(permission),
        pattern,
        _scope(permission.scope),
        permission.permission_id,
        permission.action,
        permission.effect,
        tuple(permission.conditions),
    )


def _compile_rules(policy: Policy, role_tenants: Mapping[str, str | None]) -> list[CompiledRule]:
    """``role_tenants`` gives each stored role name's tenant: a rule naming another tenant's role never
    applies through it (names are matched store-wide, so only the tenant can tell them apart)."""
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
                frozenset(
                    name
                    for name in rule.roles
                    if name not in role_tenants or may_reference(policy.tenant_id, role_tenants[name])
                ),
                bool(rule.subjects or rule.roles),
            )
        )
    return compiled


class _AssignmentRow(NamedTuple):
    """What the snapshot keeps of an assignment while it is being built."""

    assignment_id: str
    subject: str
    role_id: str
    valid_from: datetime | None
    expires_at: datetime | None
    scope: Scope | None
    packed: Packed[RoleAssignment]

    @classmethod
    def of(cls, a: RoleAssignment) -> _AssignmentRow:
        return cls(a.assignment_id, a.subject, a.role_id, a.valid_from, a.expires_at, _scope(a.scope), pack(a))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Building allocates a few hundred thousand objects and frees none: cyclic collection would only
    rescan them, over and over, as the heap grows (a third of the build time at 100k rules)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _permission_of(cp: CompiledPermission) -> Permission:
    return cp.permission


def _records(items: tuple[Packed[RoleAssignment], ...]) -> tuple[RoleAssignment, ...]:
    return tuple(p.record() for p in items)


def _patterns_of_permission(cp: CompiledPermission) -> tuple[CompiledPattern]:
    return (cp.pattern,)


def _patterns_of_rule(cr: CompiledRule) -> tuple[CompiledPattern, ...]:
    return cr.patterns


RuleMap = ActionMap[CompiledPattern, CompiledRule]
GrantMap = ActionMap[CompiledPattern, CompiledPermission]


@dataclass(frozen=True, slots=True)
class Index:
    """What a check looks things up in: plain dicts, read without a method call on the hot path.

    ``grants`` maps a role id to its own permissions by action;
    ``rules_by_subject`` and ``rules_by_role`` (role name) map to the policy
    rules that name them, and ``everyone`` holds the rules that name neither;
    ``holdings`` tells which roles a subject holds for a request.
    """

    grants: dict[str, GrantMap]
    rules_by_subject: dict[str, RuleMap]
    rules_by_role: dict[str, RuleMap]
    everyone: RuleMap
    holdings: dict[str, Holdings]


def _rule_maps(rules: Iterable[CompiledRule]) -> tuple[dict[str, RuleMap], dict[str, RuleMap], RuleMap]:
    """Policy rules filed by each subject and role name they name; rules naming neither apply to everyone."""
    by_subject: dict[str, list[CompiledRule]] = {}
    by_role: dict[str, list[CompiledRule]] = {}
    everyone: list[CompiledRule] = []
    for rule in rules:
        for subject in rule.subjects:
            by_subject.setdefault(subject, []).append(rule)
        for name in rule.role_names:
            by_role.setdefault(name, []).append(rule)
        if not rule.addressed:
            everyone.append(rule)

    def index(items: list[CompiledRule]) -> RuleMap:
        return action_map(((r.rule.actions, r) for r in items), _patterns_of_rule)

    return (
        {key: index(items) for key, items in by_subject.items()},
        {key: index(items) for key, items in by_role.items()},
        index(everyone),
    )


def _read_paths(
    permissions: Iterable[CompiledPermission], rules: Iterable[CompiledRule], assignments: Iterable[_AssignmentRow]
) -> frozenset[str]:
    """Every context attribute a scope or condition reads: what a cached decision may depend on."""
    scopes = [a.scope for a in assignments]
    conditions: list[Condition] = []
    for item in permissions:
        scopes.append(item.scope)
        conditions.extend(item.conditions)
    for rule in rules:
        scopes.append(rule.scope)
        conditions.extend(rule.conditions)
    return frozenset({s.attribute for s in scopes if s is not None} | {c.attribute for c in conditions})


def _time_edges(
    assignments: Iterable[_AssignmentRow], policies: Iterable[Policy], rules: Iterable[CompiledRule]
) -> tuple[tuple[datetime, ...], bool]:
    """The instants at which an assignment, policy or rule starts or stops, and whether any window recurs."""
    edges: set[datetime | None] = set()
    for a in assignments:
        edges.update((a.valid_from, a.expires_at))
    for p in policies:
        edges.update((p.valid_from, p.expires_at))
    recurring = False
    for cr in rules:
        edges.update((cr.rule.not_before, cr.rule.not_after))
        recurring = recurring or bool(cr.rule.weekdays or cr.rule.hours)
    edges.discard(None)
    return tuple(sorted(t for t in edges if t is not None)), recurring


@dataclass(frozen=True)
class PolicySnapshot:
    """Roles, permissions, assignments and policies of one store revision, indexed for checks.

    ``read_paths``, ``time_edges`` and ``recurring_windows`` say what a
    decision can depend on besides subject, action and resource: the context
    attributes rules read, the instants when something starts or stops, and
    whether a rule has a weekday or hour window.
    """

    revision: int
    roles: Mapping[str, Role]
    role_ids_by_name: Mapping[str, str]
    permissions: Mapping[str, Permission]
    assignments: Mapping[str, tuple[RoleAssignment, ...]]
    policies: tuple[Policy, ...]
    read_paths: frozenset[str] = field(repr=False)
    time_edges: tuple[datetime, ...] = field(repr=False)
    recurring_windows: bool = field(repr=False)
    _closure: Mapping[str, tuple[str, ...]] = field(repr=False)
    _role_permissions: Mapping[str, tuple[CompiledPermission, ...]] = field(repr=False)
    _rules: tuple[CompiledRule, ...] = field(repr=False)
    index: Index = field(repr=False)

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
        with _collector_paused():
            return cls._index(permissions, roles, assignments, policies, revision)

    @classmethod
    def _index(
        cls,
        permissions: Iterable[Permission],
        roles: Iterable[Role],
        assignments: Iterable[RoleAssignment],
        policies: Iterable[Policy],
        revision: int,
    ) -> PolicySnapshot:
        # Permissions and assignments are packed as they stream in, so a caller that yields records
        # one at a time never holds them all (a pydantic record weighs five times its packed form).
        patterns: dict[str, CompiledPattern] = {}
        compiled_perms = {p.permission_id: _compile_permission(p, patterns) for p in permissions}
        assignment_rows = sorted(map(_AssignmentRow.of, assignments), key=lambda row: row.assignment_id)
        role_map = {r.role_id: r for r in roles}
        rank = {rid: n for n, rid in enumerate(sorted(role_map, key=lambda rid: (-role_map[rid].priority, rid)))}

        def parents_of(role_id: str) -> list[str]:
            role = role_map.get(role_id)
            return [] if role is None else role.parent_roles

        closure = {rid: tuple(a for a in ancestors([rid], parents_of) if a in role_map) for rid in role_map}
        own = {
            rid: tuple(compiled_perms[pid] for pid in role.permissions if pid in compiled_perms)
            for rid, role in role_map.items()
        }
        grants = {
            rid: action_map((((cp.action,), cp) for cp in items), _patterns_of_permission)
            for rid, items in own.items()
            if items
        }
        by_subject: dict[str, list[_AssignmentRow]] = {}
        for row in assignment_rows:
            by_subject.setdefault(row.subject, []).append(row)
        ranked = {rid: tuple(sorted(roles_, key=rank.__getitem__)) for rid, roles_ in closure.items()}
        rank_roles = functools.partial(sorted, key=rank.__getitem__)
        holdings = {
            subject: Holdings(
                [(a.valid_from, a.expires_at, ranked.get(a.role_id, ()), a.scope) for a in items], rank_roles
            )
            for subject, items in by_subject.items()
        }
        ordered = tuple(sorted(policies, key=lambda p: (-p.priority, p.policy_id)))
        role_tenants = {role.role_name: role.tenant_id for role in role_map.values()}
        rules = tuple(rule for policy in ordered for rule in _compile_rules(policy, role_tenants))
        rules_by_subject, rules_by_role, everyone = _rule_maps(rules)
        edges, recurring = _time_edges(assignment_rows, ordered, rules)
        packed_assignments = {subject: tuple(a.packed for a in items) for subject, items in by_subject.items()}
        return cls(
            revision=revision,
            roles=MappingProxyType(role_map),
            role_ids_by_name=MappingProxyType({r.role_name: rid for rid, r in role_map.items()}),
            permissions=PackedView(compiled_perms, _permission_of),
            assignments=PackedView(packed_assignments, _records),
            policies=ordered,
            read_paths=_read_paths(compiled_perms.values(), rules, assignment_rows),
            time_edges=edges,
            recurring_windows=recurring,
            _closure=MappingProxyType(closure),
            _role_permissions=MappingProxyType(own),
            _rules=rules,
            index=Index(grants, rules_by_subject, rules_by_role, everyone, holdings),
        )

    def inherited(self, role_id: str) -> tuple[str, ...]:
        """``role_id`` and every stored role it inherits from, each once (cycles in stored data end the walk)."""
        return self._closure.get(role_id, ())

    def permissions_of_role(self, role_id: str, action: str | None = None) -> tuple[CompiledPermission, ...]:
        """The role's own permissions (not inherited); only those that can match ``action`` if given."""
        if action is None:
            return self._role_permissions.get(role_id, ())
        grants = self.index.grants.get(role_id)
        bucket = None if grants is None else grants.get(action) or grants.get(ANY_ACTION)
        return () if bucket is None else bucket.items

    def policy_rules(self, action: str | None = None) -> tuple[CompiledRule, ...]:
        """Policy rules by policy priority; only those that can match ``action`` if given."""
        if action is None:
            return self._rules
        return tuple(r for r in self._rules if ANY_ACTION in r.rule.actions or action in r.rule.actions)

    def assignments_of(self, subject: str) -> tuple[RoleAssignment, ...]:
        return self.assignments.get(subject, ())
