"""The fast decision: the same verdicts as ``decision``, reached through the snapshot's indexes, with no trace.

``Authorizer.explain`` walks every assignment and rule and says why each one
did or did not apply; ``Authorizer.check`` only needs the rules that apply, so
it asks the indexes for the rules of the subject's roles, the subject and
everyone, for this action, that can match this resource, and runs the full
verdict on just those. The two must always agree (a property test holds them
to it); what differs is that nothing here builds a reason for a rule that did
not apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from greenlang.auth.decision import Decision, Hit, conclude, conditions_verdict, note
from greenlang.auth.holdings import scope_holds
from greenlang.auth.index import ANY_ACTION
from greenlang.auth.snapshot import PolicySnapshot, RuleMap

__all__ = ["decide"]


def decide(
    snapshot: PolicySnapshot,
    subject: str,
    action: str,
    resource: str,
    parts: list[str],
    context: Mapping[str, Any],
    now: datetime,
    started: float,
) -> Decision:
    """The decision ``explain`` would reach, from the rules that can apply only."""
    index = snapshot.index
    holdings = index.holdings.get(subject)
    role_ids = () if holdings is None else holdings.held(context, now)
    hits: list[Hit] = []
    rule_maps: list[RuleMap] = [index.everyone]
    named = index.rules_by_subject.get(subject)
    if named is not None:
        rule_maps.append(named)
    if role_ids:
        _permission_hits(snapshot, role_ids, action, resource, parts, context, hits)
        roles, by_role = snapshot.roles, index.rules_by_role
        for role_id in role_ids:
            held = by_role.get(roles[role_id].role_name)
            if held is not None:
                rule_maps.append(held)
    _rule_hits(rule_maps, action, resource, parts, context, now, hits)
    return conclude(snapshot.revision, subject, action, resource, now, hits, started)


def _permission_hits(
    snapshot: PolicySnapshot,
    role_ids: Sequence[str],
    action: str,
    resource: str,
    parts: list[str],
    context: Mapping[str, Any],
    hits: list[Hit],
) -> None:
    """Permissions of the held roles that apply, each once, through the highest-ranked role holding it."""
    grants, roles = snapshot.index.grants, snapshot.roles
    granted: set[str] | None = None
    for role_id in role_ids:
        by_action = grants.get(role_id)
        if by_action is None:
            continue
        bucket = by_action.get(action) or by_action.get(ANY_ACTION)
        if bucket is None:
            continue
        for cp in bucket.matching(resource, parts):
            if cp.scope is not None and not scope_holds(cp.scope, context):
                continue
            tail = ""
            if cp.conditions:
                applies, why = conditions_verdict(cp.conditions, cp.effect, context)
                if not applies:
                    continue
                tail = note(why)
            if granted is None:
                granted = set()
            elif cp.id in granted:
                continue
            granted.add(cp.id)
            role = roles[role_id]
            hits.append(Hit(cp.id, cp.effect, role.priority, cp, role.role_name, tail))


def _rule_hits(
    rule_maps: list[RuleMap],
    action: str,
    resource: str,
    parts: list[str],
    context: Mapping[str, Any],
    now: datetime,
    hits: list[Hit],
) -> None:
    """Policy rules that apply, each once; whom a rule names is settled by the map it came from."""
    considered: set[int] = set()
    for by_action in rule_maps:
        bucket = by_action.get(action) or by_action.get(ANY_ACTION)
        if bucket is None:
            continue
        for cr in bucket.matching(resource, parts):
            if id(cr) in considered:
                continue
            considered.add(id(cr))
            policy, rule = cr.policy, cr.rule
            if not policy.active_at(now) or not rule.in_window(now):
                continue
            if cr.scope is not None and not scope_holds(cr.scope, context):
                continue
            tail = ""
            if cr.conditions:
                applies, why = conditions_verdict(cr.conditions, rule.effect, context)
                if not applies:
                    continue
                tail = note(why)
            hits.append(Hit(cr.ref, rule.effect, policy.priority, cr, "", tail))
