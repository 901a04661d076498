"""Policy files: a whole platform's roles, assignments and policies in one YAML or JSON file.

``apply`` is declarative and idempotent: it makes every role, assignment and
policy named in the file look exactly as written, and reports what changed.
The whole file is validated before anything is written, and all writes happen
in one transaction, so a bad entry or a failure part-way changes nothing.
Objects the file does not name are left alone unless ``prune`` is set.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from greenlang.auth.backends.base import AuthBackend
from greenlang.auth.conditions import Condition
from greenlang.auth.graph import find_cycle
from greenlang.auth.patterns import ResourcePattern
from greenlang.auth.permissions import Action, Permission, PermissionEffect, ScopeText
from greenlang.auth.policies import Policy, PolicyRule, PolicyType
from greenlang.auth.roles import ROLE_NAME_PATTERN, Role, RoleAssignment
from greenlang.errors import InputError
from greenlang.jsonvalue import JSONObject, loads_strict
from greenlang.timeutil import UTCDateTime
from greenlang.validation import describe

__all__ = ["PolicyFile", "Change", "ApplyReport", "load_policy_file", "apply_policy"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PermissionSpec(_Spec):
    resource: ResourcePattern
    action: Action
    effect: PermissionEffect = PermissionEffect.ALLOW
    scope: ScopeText | None = None
    conditions: list[Condition] = Field(default_factory=list)


class RoleSpec(_Spec):
    name: str = Field(max_length=100, pattern=ROLE_NAME_PATTERN)
    description: str | None = None
    inherits: list[str] = Field(default_factory=list)
    priority: int = 0
    system: bool = False
    metadata: JSONObject = Field(default_factory=dict)
    permissions: list[PermissionSpec] = Field(default_factory=list)


class AssignmentSpec(_Spec):
    subject: str
    role: str
    scope: ScopeText | None = None
    valid_from: UTCDateTime | None = None
    expires_at: UTCDateTime | None = None


class PolicySpec(_Spec):
    name: str
    type: PolicyType
    rules: list[PolicyRule]
    conditions: list[Condition] = Field(default_factory=list)
    priority: int = 0
    enabled: bool = True
    valid_from: UTCDateTime | None = None
    expires_at: UTCDateTime | None = None
    metadata: JSONObject = Field(default_factory=dict)


class PolicyFile(_Spec):
    """The file format. ``version`` is 1."""

    version: Literal[1] = 1
    roles: list[RoleSpec] = Field(default_factory=list)
    assignments: list[AssignmentSpec] = Field(default_factory=list)
    policies: list[PolicySpec] = Field(default_factory=list)


@dataclass(frozen=True)
class Change:
    """One line of an apply report: ``+`` created, ``~`` updated, ``-`` deleted."""

    op: Literal["+", "~", "-"]
    kind: str
    name: str
    detail: str = ""

    def __str__(self) -> str:
        suffix = f" ({self.detail})" if self.detail else ""
        return f"{self.op} {self.kind} {self.name}{suffix}"


@dataclass
class ApplyReport:
    changes: list[Change] = field(default_factory=list)
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def lines(self) -> list[str]:
        return [str(change) for change in self.changes] or ["no changes"]


class _PolicyYAMLLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping instead of keeping the last."""

    class DuplicateKey(yaml.YAMLError):
        def __init__(self, key: object, line: int) -> None:
            super().__init__(f"line {line}: key {key!r} appears twice in one mapping; keep one")
            self.key = key
            self.line = line

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # ``<<: *defaults`` is meant to be overridden by the keys beside it
            key = self.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
            except TypeError:
                continue  # the base constructor refuses an unhashable key with its own message
            if repeated:
                raise self.DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_policy_file(path: str | Path) -> PolicyFile:
    """Read and validate a YAML (``.yaml``/``.yml``) or JSON policy file.

    A key written twice in one mapping is refused: parsers disagree on which
    one wins, and a reviewer reading the file may see the other one.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read policy file {str(path)!r}: {exc.strerror}") from None
    is_json = path.suffix.lower() == ".json"
    try:
        data = loads_strict(text) if is_json else yaml.load(text, Loader=_PolicyYAMLLoader)  # noqa: S506
    except _PolicyYAMLLoader.DuplicateKey as exc:
        raise InputError(f"policy file {str(path)!r} {exc}") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise InputError(
            f"policy file {str(path)!r} is not valid {'JSON' if is_json else 'YAML'}: {_first_line(exc)}"
        ) from None
    return parse_policy_file(data, source=str(path))


def parse_policy_file(data: Any, source: str = "policy file") -> PolicyFile:
    if not isinstance(data, Mapping):
        raise InputError(f"{source} must hold a mapping with 'roles', 'assignments' and 'policies'")
    try:
        document = PolicyFile.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{source}: {describe(exc, '')}") from None
    _check_references(document, source)
    return document


def _check_references(document: PolicyFile, source: str) -> None:
    duplicates = sorted(name for name, count in Counter(role.name for role in document.roles).items() if count > 1)
    if duplicates:
        raise InputError(f"{source}: role {duplicates[0]!r} is defined twice; merge the two entries")
    repeated = sorted(name for name, count in Counter(p.name for p in document.policies).items() if count > 1)
    if repeated:
        raise InputError(f"{source}: policy {repeated[0]!r} is defined twice; merge the two entries")
    for role in document.roles:
        seen: set[str] = set()
        for index, permission in enumerate(role.permissions):
            key = permission.model_dump_json()
            if key in seen:
                raise InputError(
                    f"{source}: role {role.name!r} lists permission {index} twice ({permission.effect.value} "
                    f"{permission.action} on {permission.resource}); remove the repeat"
                )
            seen.add(key)
    grants = Counter((item.subject, item.role, item.scope) for item in document.assignments)
    repeated_grant = next((grant for grant, count in grants.items() if count > 1), None)
    if repeated_grant:
        subject, role_name, scope = repeated_grant
        where = f" with scope {scope}" if scope else ""
        raise InputError(f"{source}: {subject!r} is assigned {role_name!r}{where} twice; merge the two entries")
    cycle = _cycle({role.name: role.inherits for role in document.roles})
    if cycle:
        raise InputError(f"{source}: roles inherit in a cycle ({' -> '.join(cycle)}); remove one 'inherits' entry")
    for index, item in enumerate(document.assignments):
        try:
            RoleAssignment(
                subject=item.subject,
                role_id="pending",
                scope=item.scope,
                valid_from=item.valid_from,
                expires_at=item.expires_at,
            )
        except ValidationError as exc:
            raise InputError(f"{source}: assignments.{index}.{describe(exc, '').lstrip('.')}") from None
    for index, policy in enumerate(document.policies):
        try:
            Policy(
                policy_name=policy.name,
                policy_type=policy.type,
                rules=policy.rules,
                conditions=policy.conditions,
                valid_from=policy.valid_from,
                expires_at=policy.expires_at,
            )
        except ValidationError as exc:
            raise InputError(f"{source}: policies.{index}: {describe(exc, '').lstrip(': ')}") from None


def _cycle(parents: Mapping[str, Sequence[str]]) -> list[str] | None:
    for name in parents:
        cycle = find_cycle(parents, name)
        if cycle:
            return cycle
    return None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def apply_policy(
    backend: AuthBackend, document: PolicyFile, *, actor: str | None = None, prune: bool = False, dry_run: bool = False
) -> ApplyReport:
    """Make the store match ``document``; one transaction, so all of it or none."""
    if actor is not None and not (0 < len(actor) <= 255):
        raise InputError("actor must be 1 to 255 characters, e.g. --actor platform-team")
    report = ApplyReport(dry_run=dry_run)
    try:
        with backend.atomic():
            _Applier(backend, document, actor, report, prune).run()
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return report


class _DryRun(Exception):
    """Rolls a dry run back after the plan was computed against real writes."""


@dataclass
class _Applier:
    backend: AuthBackend
    document: PolicyFile
    actor: str | None
    report: ApplyReport
    prune: bool
    role_ids: dict[str, str] = field(default_factory=dict)
    role_names: dict[str, str] = field(default_factory=dict)
    kept_assignments: set[str] = field(default_factory=set)

    def run(self) -> None:
        self.role_ids = {role.role_name: role.role_id for role in self.backend.list_roles()}
        for role_spec in _parents_first(self.document.roles):
            self._apply_role(role_spec)
        for policy_spec in self.document.policies:
            self._apply_policy(policy_spec)
        self._apply_assignments()
        if self.prune:
            self._prune()

    def _note(self, op: Literal["+", "~", "-"], kind: str, name: str, detail: str = "") -> None:
        self.report.changes.append(Change(op, kind, name, detail))

    def _role_id(self, name: str, where: str) -> str:
        try:
            return self.role_ids[name]
        except KeyError:
            raise InputError(f"{where} names role {name!r}, which is neither in the file nor in the store") from None

    def _apply_role(self, spec: RoleSpec) -> None:
        parents = [self._role_id(parent, f"role {spec.name!r} 'inherits'") for parent in spec.inherits]
        wanted = [Permission(created_by=self.actor, **permission.model_dump()) for permission in spec.permissions]
        existing = self.backend.get_role_by_name(spec.name)
        if existing is None:
            created = self.backend.bulk_create_permissions(wanted, actor=self.actor)
            role = self.backend.create_role(
                Role(
                    role_name=spec.name,
                    description=spec.description,
                    permissions=[p.permission_id for p in created],
                    parent_roles=parents,
                    priority=spec.priority,
                    is_system_role=spec.system,
                    metadata=spec.metadata,
                    created_by=self.actor,
                ),
                actor=self.actor,
            )
            self.role_ids[spec.name] = role.role_id
            self._note("+", "role", spec.name, f"{len(created)} permissions")
            return

        current = [p for pid in existing.permissions if (p := self.backend.get_permission(pid)) is not None]
        by_hash: dict[str, list[Permission]] = {}
        for permission in current:
            by_hash.setdefault(permission.content_hash(), []).append(permission)
        keep: list[str] = []
        new: list[Permission] = []
        for permission in wanted:
            matches = by_hash.get(permission.content_hash())
            if matches:
                keep.append(matches.pop().permission_id)
            else:
                new.append(permission)
        obsolete = [p for group in by_hash.values() for p in group]

        details = []
        if new or obsolete:
            details.append(f"permissions +{len(new)} -{len(obsolete)}")
        attributes = {
            "description": spec.description,
            "parent_roles": parents,
            "priority": spec.priority,
            "is_system_role": spec.system,
            "metadata": spec.metadata,
        }
        changed = [key for key, value in attributes.items() if getattr(existing, key) != value]
        details.extend(changed)
        if not details:
            return
        for permission in obsolete:
            self.backend.delete_permission(permission.permission_id, actor=self.actor)
        created = self.backend.bulk_create_permissions(new, actor=self.actor) if new else []
        self.backend.update_role(
            existing.replace(permissions=keep + [p.permission_id for p in created], **attributes),
            actor=self.actor,
        )
        self._note("~", "role", spec.name, ", ".join(details))

    def _apply_policy(self, spec: PolicySpec) -> None:
        fields: dict[str, Any] = {
            "policy_type": spec.type,
            "rules": spec.rules,
            "conditions": spec.conditions,
            "priority": spec.priority,
            "enabled": spec.enabled,
            "valid_from": spec.valid_from,
            "expires_at": spec.expires_at,
            "metadata": spec.metadata,
        }
        existing = self.backend.get_policy_by_name(spec.name)
        if existing is None:
            self.backend.create_policy(Policy(policy_name=spec.name, created_by=self.actor, **fields), actor=self.actor)
            self._note("+", "policy", spec.name)
            return
        changed = [key for key, value in fields.items() if getattr(existing, key) != value]
        if changed:
            self.backend.update_policy(existing.replace(**fields), actor=self.actor)
            self._note("~", "policy", spec.name, ", ".join(changed))

    def _apply_assignments(self) -> None:
        current: dict[tuple[str, str, str | None], RoleAssignment] = {}
        for assignment in self.backend.list_assignments():
            current[(assignment.subject, assignment.role_id, assignment.scope)] = assignment
        names = {role_id: name for name, role_id in self.role_ids.items()}
        for spec in self.document.assignments:
            role_id = self._role_id(spec.role, f"assignment of {spec.subject!r}")
            label = f"{spec.subject} -> {spec.role}" + (f" @ {spec.scope}" if spec.scope else "")
            found = current.get((spec.subject, role_id, spec.scope))
            if found is None:
                created = self.backend.create_assignment(
                    RoleAssignment(
                        subject=spec.subject,
                        role_id=role_id,
                        scope=spec.scope,
                        valid_from=spec.valid_from,
                        expires_at=spec.expires_at,
                        created_by=self.actor,
                    ),
                    actor=self.actor,
                )
                self.kept_assignments.add(created.assignment_id)
                self._note("+", "assignment", label)
                continue
            self.kept_assignments.add(found.assignment_id)
            if (found.valid_from, found.expires_at) != (spec.valid_from, spec.expires_at):
                self.backend.update_assignment(
                    found.replace(valid_from=spec.valid_from, expires_at=spec.expires_at), actor=self.actor
                )
                self._note("~", "assignment", label, "validity")
        self.role_names = names

    def _prune(self) -> None:
        for assignment in self.backend.list_assignments():
            if assignment.assignment_id not in self.kept_assignments:
                self.backend.delete_assignment(assignment.assignment_id, actor=self.actor)
                role = self.role_names.get(assignment.role_id, assignment.role_id)
                self._note("-", "assignment", f"{assignment.subject} -> {role}")
        wanted_policies = {spec.name for spec in self.document.policies}
        for policy in self.backend.list_policies():
            if policy.policy_name not in wanted_policies:
                self.backend.delete_policy(policy.policy_id, actor=self.actor)
                self._note("-", "policy", policy.policy_name)
        wanted_roles = {spec.name for spec in self.document.roles}
        for stored in self.backend.list_roles():
            if stored.role_name not in wanted_roles:
                for permission_id in stored.permissions:
                    self.backend.delete_permission(permission_id, actor=self.actor)
                self.backend.delete_role(stored.role_id, actor=self.actor)
                self._note("-", "role", stored.role_name)


def _parents_first(roles: Sequence[RoleSpec]) -> list[RoleSpec]:
    """Order roles so each comes after the roles it inherits from (the file has no cycle)."""
    by_name = {role.name: role for role in roles}
    ordered: dict[str, RoleSpec] = {}

    def visit(role: RoleSpec) -> None:
        if role.name in ordered:
            return
        for parent in role.inherits:
            if parent in by_name:
                visit(by_name[parent])
        ordered[role.name] = role

    for role in roles:
        visit(role)
    return list(ordered.values())
