"""How one request is decided, and what the engine answers.

The verdict functions say whether one assignment or rule applies to a request
and why; ``combine`` turns the applicable rules into a ``Decision``. Results
are plain frozen values, so they can be logged to the audit trail or printed
by the CLI without touching the store again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from time import perf_counter
from typing import Any, NamedTuple

from greenlang.auth.conditions import MISSING, Condition, evaluate, evaluate_all, lookup
from greenlang.auth.permissions import PermissionEffect, Scope
from greenlang.auth.roles import RoleAssignment
from greenlang.auth.snapshot import ANY_ACTION, CompiledPermission, CompiledRule, PolicySnapshot
from greenlang.timeutil import isoformat

__all__ = [
    "Decision",
    "made_decision",
    "Explanation",
    "RuleKind",
    "RuleTrace",
    "Request",
    "Hit",
    "scope_problem",
    "conditions_verdict",
    "permission_verdict",
    "rule_verdict",
    "assignment_problem",
    "combine",
    "conclude",
]

Context = Mapping[str, Any]


class RuleKind(StrEnum):
    """What a trace line is about."""

    ASSIGNMENT = "assignment"
    PERMISSION = "permission"
    POLICY_RULE = "policy_rule"


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to "may ``subject`` do ``action`` on ``resource``?".

    ``deciding_rules`` holds every applicable deny when denied, every applicable
    allow when allowed (empty when nothing allowed), highest priority first.
    """

    allowed: bool
    reason: str
    deciding_rules: tuple[str, ...]
    evaluated_at: datetime
    elapsed_ms: float
    subject: str
    action: str
    resource: str
    revision: int = 0

    def __bool__(self) -> bool:
        return self.allowed

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for audit events and ``--json`` output."""
        return {
            "allowed": self.allowed,
            "reason": self.reason,
            "deciding_rules": list(self.deciding_rules),
            "evaluated_at": isoformat(self.evaluated_at),
            "elapsed_ms": self.elapsed_ms,
            "subject": self.subject,
            "action": self.action,
            "resource": self.resource,
            "revision": self.revision,
        }


_SET_DECISION = tuple(Decision.__dict__[field.name].__set__ for field in fields(Decision))
_NEW = object.__new__


def made_decision(
    allowed: bool,
    reason: str,
    deciding_rules: tuple[str, ...],
    evaluated_at: datetime,
    elapsed_ms: float,
    subject: str,
    action: str,
    resource: str,
    revision: int,
) -> Decision:
    """``Decision(...)`` at half the cost, for the check path: a frozen dataclass's own ``__init__`` sets each
    field through ``object.__setattr__``, which alone is most of a cache hit. Same fields, same object."""
    made = _NEW(Decision)
    s0, s1, s2, s3, s4, s5, s6, s7, s8 = _SET_DECISION
    s0(made, allowed)
    s1(made, reason)
    s2(made, deciding_rules)
    s3(made, evaluated_at)
    s4(made, elapsed_ms)
    s5(made, subject)
    s6(made, action)
    s7(made, resource)
    s8(made, revision)
    return made


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """One thing the engine considered and why it applied or not.

    ``rule_id`` is a permission id, a policy rule ref (``<policy_id>#<rule>``)
    or, for ``kind == assignment``, the assignment id.
    """

    rule_id: str
    kind: RuleKind
    effect: PermissionEffect | None
    applied: bool
    reason: str
    priority: int = 0
    role_id: str | None = None
    role_name: str | None = None
    assignment_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "kind": self.kind.value,
            "effect": None if self.effect is None else self.effect.value,
            "applied": self.applied,
            "reason": self.reason,
            "priority": self.priority,
            "role_id": self.role_id,
            "role_name": self.role_name,
            "assignment_id": self.assignment_id,
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    """A decision plus the trace of every assignment and rule considered."""

    decision: Decision
    trace: tuple[RuleTrace, ...]

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    @property
    def reason(self) -> str:
        return self.decision.reason

    def applied(self) -> tuple[RuleTrace, ...]:
        """The trace lines that applied (assignments in force and rules that matched)."""
        return tuple(line for line in self.trace if line.applied)

    def find(self, rule_id: str) -> RuleTrace | None:
        """The trace line for ``rule_id``, if it was considered."""
        return next((line for line in self.trace if line.rule_id == rule_id), None)

    def as_dict(self) -> dict[str, Any]:
        return {**self.decision.as_dict(), "trace": [line.as_dict() for line in self.trace]}


@dataclass(frozen=True, slots=True)
class Request:
    """A validated request: ``parts`` is the resource split on ``:``, ``context`` already nested, ``now`` UTC."""

    subject: str
    action: str
    resource: str
    parts: list[str]
    context: dict[str, Any]
    now: datetime


class Hit(NamedTuple):
    """An applicable rule: what deciding rules and the reason are made from.

    ``via`` is the role a permission applied through ("" for a policy rule).
    The summary is only written for the rule that names the decision, so a
    check that several rules apply to does not describe them all.
    """

    rule_id: str
    effect: PermissionEffect
    priority: int
    rule: CompiledPermission | CompiledRule
    via: str
    note: str

    def summary(self) -> str:
        rule = self.rule
        if isinstance(rule, CompiledPermission):  # StrEnums format as their values
            return f"permission {rule.id} ({rule.effect} {rule.action} on {rule.pattern.text}) via role {self.via}"
        policy = rule.policy
        return f"{policy.policy_type} policy {policy.policy_name} rule {rule.ref} ({rule.rule.effect})"


def scope_problem(scope: Scope, context: Context) -> str | None:
    """``None`` if the context satisfies the scope, else why not (a missing attribute never satisfies it)."""
    text = f"{scope.attribute}:{scope.value}"
    actual = lookup(context, scope.attribute)
    if actual is MISSING or actual is None:
        return f"scope {text} missing from context"
    if scope.value == "*":
        return None
    if isinstance(actual, bool) or not isinstance(actual, str | int):
        return f"scope {text} cannot match a context value of type {type(actual).__name__}"
    if str(actual) != scope.value:
        return f"scope {text} does not match context value {actual!r}"
    return None


def describe(condition: Condition) -> str:
    """``report.confidential eq true``: how trace lines and reasons name a condition."""
    return f"{condition.attribute} {condition.operator.value} {json.dumps(condition.value)}"


def conditions_verdict(conditions: Sequence[Condition], effect: PermissionEffect, context: Context) -> tuple[bool, str]:
    """All-of; an unknown result keeps an allow out and lets a deny in."""
    result = evaluate_all(list(conditions), context)
    if result is True:
        return True, "applies"
    results = [(c, evaluate(c, context)) for c in conditions]
    if result is False:
        culprit = next(c for c, r in results if r is False)
        return False, f"condition {describe(culprit)} is false"
    culprit = next(c for c, r in results if r is None)
    if effect is PermissionEffect.DENY:
        return True, f"condition {describe(culprit)} could not be evaluated, so the deny applies (fails closed)"
    return False, f"condition {describe(culprit)} could not be evaluated"


def permission_verdict(cp: CompiledPermission, request: Request) -> tuple[bool, str]:
    """Whether a permission applies to the request, and why (the first check that failed, if any)."""
    if cp.action not in (ANY_ACTION, request.action):
        return False, f"action {cp.action} does not match {request.action}"
    if not cp.pattern.matches(request.parts):
        return False, f"pattern {cp.pattern.text} does not match {request.resource}"
    if cp.scope is not None:
        problem = scope_problem(cp.scope, request.context)
        if problem:
            return False, problem
    return conditions_verdict(cp.conditions, cp.effect, request.context)


def policy_problem(rule: CompiledRule, now: datetime) -> str | None:
    """Why the rule's policy is not in force at ``now``, or ``None`` if it is."""
    policy = rule.policy
    if policy.active_at(now):
        return None
    if not policy.enabled:
        return "policy disabled"
    if policy.valid_from is not None and now < policy.valid_from:
        return f"policy not valid until {isoformat(policy.valid_from)}"
    return f"policy expired at {isoformat(policy.expires_at or now)}"


def rule_verdict(cr: CompiledRule, request: Request, role_names: set[str]) -> tuple[bool, str, str | None]:
    """Whether a policy rule applies, why, and the held role it applied through (if any)."""
    problem = policy_problem(cr, request.now)
    if problem:
        return False, problem, None
    rule = cr.rule
    if ANY_ACTION not in rule.actions and request.action not in rule.actions:
        return False, f"action {request.action} is not among the rule's actions", None
    if not any(pattern.matches(request.parts) for pattern in cr.patterns):
        return False, f"pattern {', '.join(rule.resources)} does not match {request.resource}", None
    via: str | None = None
    if cr.addressed and request.subject not in cr.subjects:
        held = sorted(cr.role_names & role_names)
        if not held:
            wanted = ", ".join(sorted(cr.role_names)) or "none of its own tenant"
            return (
                False,
                f"subject {request.subject} is not among the rule's subjects and holds none of its roles ({wanted})",
                None,
            )
        via = held[0]
    if cr.scope is not None:
        problem = scope_problem(cr.scope, request.context)
        if problem:
            return False, problem, via
    if not rule.in_window(request.now):
        return False, f"outside the rule's time window at {isoformat(request.now)}", via
    applies, why = conditions_verdict(cr.conditions, rule.effect, request.context)
    return applies, why, via


def assignment_problem(assignment: RoleAssignment, snapshot: PolicySnapshot, request: Request) -> str | None:
    """Why an assignment grants nothing for this request, or ``None`` if it is in force."""
    now = request.now
    if not assignment.active_at(now):
        if assignment.valid_from is not None and now < assignment.valid_from:
            return f"assignment not valid until {isoformat(assignment.valid_from)}"
        return f"assignment expired at {isoformat(assignment.expires_at or now)}"
    if assignment.scope is not None:
        problem = scope_problem(Scope(assignment.scope), request.context)
        if problem:
            return f"assignment {problem}"
    if assignment.role_id not in snapshot.roles:
        return f"role {assignment.role_id} does not exist"
    return None


def note(why: str) -> str:
    """The tail a reason gets when a rule applied for a reason worth stating (a deny failing closed)."""
    return "" if why == "applies" else f", because {why}"


def combine(snapshot: PolicySnapshot, request: Request, hits: list[Hit], started: float) -> Decision:
    """Deny overrides allow; no allow means deny; priority only orders the deciding rules."""
    return conclude(snapshot.revision, request.subject, request.action, request.resource, request.now, hits, started)


def conclude(
    revision: int, subject: str, action: str, resource: str, now: datetime, hits: list[Hit], started: float
) -> Decision:
    """``combine`` for callers that hold the request's parts rather than a ``Request``."""
    denies = [hit for hit in hits if hit.effect is _DENY]
    deciding = denies or hits
    if len(deciding) > 1:
        deciding.sort(key=_order)
        rules = tuple([hit.rule_id for hit in deciding])
    else:
        rules = (deciding[0].rule_id,) if deciding else ()
    if denies:
        reason = f"Denied by {denies[0].summary()}{denies[0].note}{_more(denies, 'deny')}."
    elif hits:
        reason = f"Allowed by {hits[0].summary()}{_more(hits, 'allow')}."
    else:
        reason = f"No rule allows {subject} to {action} {resource}."
    return made_decision(
        not denies and bool(hits),
        reason,
        rules,
        now,
        (perf_counter() - started) * 1000,
        subject,
        action,
        resource,
        revision,
    )


def _order(hit: Hit) -> tuple[int, str]:
    return -hit.priority, hit.rule_id


_DENY = PermissionEffect.DENY


def _more(hits: list[Hit], effect: str) -> str:
    extra = len(hits) - 1
    return f" ({extra} more {effect} rule{'s' if extra > 1 else ''} also applied)" if extra else ""
