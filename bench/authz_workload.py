"""A seeded RBAC-with-domains workload, and how our engine stores it.

Organisations are the domains. Each has sites, reports, roles (some inheriting
from others, at most three levels deep) and members who hold one or two of its
roles, only within that organisation. Resources are
``emissions:<org>:<site>:<report>``; a rule covers one of four shapes:
the whole organisation (``emissions:o:**``), one site (``emissions:o:s:**``),
one report kind on every site (``emissions:o:*:r``) or one report.

The same seed always gives the same rules and requests, so every engine (and
every run) sees one policy. The shapes are chosen so that pycasbin and Cedar can
express exactly what ours means: every request names a four-segment resource
inside the organisation it is made in, every action is concrete, and every rule
belongs to one organisation. See ``authz_peers`` for the translations.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from greenlang.auth.permissions import Permission, PermissionEffect
from greenlang.auth.policies import Policy, PolicyRule, PolicyType
from greenlang.auth.roles import Role, RoleAssignment

__all__ = [
    "ACTIONS",
    "Check",
    "Member",
    "Records",
    "RoleDef",
    "Rule",
    "Workload",
    "generate",
    "org_slices",
    "our_records",
]

ACTIONS = ("read", "write", "export", "approve")
RULES_PER_ORG = 100
ROLES_PER_ORG = 10
MEMBERS_PER_ORG = 20
SITES = 5
REPORTS = 10
MAX_DEPTH = 3  # pycasbin follows role links 10 deep by default; stay well inside it

Effect = Literal["allow", "deny"]
Holder = Literal["role", "guard", "user"]
"""Who a rule is for: a role's permission, a deny policy rule naming a role, or a policy rule naming one user."""


@dataclass(frozen=True, slots=True)
class RoleDef:
    org: str
    name: str
    parents: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.org}.{self.name}"


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: ``effect`` on ``action`` over ``pattern``, for a role (``holder`` role/guard) or a user."""

    rule_id: str
    org: str
    holder: Holder
    who: str
    action: str
    pattern: tuple[str, ...]
    effect: Effect

    @property
    def resource(self) -> str:
        return ":".join(self.pattern)


@dataclass(frozen=True, slots=True)
class Member:
    user: str
    org: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Check:
    """One request: may ``user`` do ``action`` on ``resource`` in organisation ``org``?"""

    user: str
    org: str
    action: str
    resource: str


@dataclass(frozen=True)
class Workload:
    size: int
    seed: int
    orgs: tuple[str, ...]
    roles: tuple[RoleDef, ...]
    rules: tuple[Rule, ...]
    members: tuple[Member, ...]
    checks: tuple[Check, ...]

    def resources(self) -> Iterable[tuple[str, str, str]]:
        """Every (org, site, report) a request may name."""
        for org in self.orgs:
            for site in range(SITES):
                for report in range(REPORTS):
                    yield org, f"site-{site}", f"report-{report}"


def _shape(rng: random.Random, org: str) -> tuple[str, ...]:
    draw = rng.random()
    site, report = f"site-{rng.randrange(SITES)}", f"report-{rng.randrange(REPORTS)}"
    if draw < 0.03:
        return ("emissions", org, "**")
    if draw < 0.33:
        return ("emissions", org, site, "**")
    if draw < 0.50:
        return ("emissions", org, "*", report)
    return ("emissions", org, site, report)


def _org_roles(rng: random.Random, org: str, count: int) -> list[RoleDef]:
    roles: list[RoleDef] = []
    depth: dict[str, int] = {}
    for index in range(count):
        name = f"r{index}"
        shallow = [r.name for r in roles if depth[r.name] < MAX_DEPTH]
        parents: list[str] = []
        if shallow and rng.random() < 0.6:
            parents.append(rng.choice(shallow))
            if rng.random() < 0.25:
                other = rng.choice(shallow)
                if other not in parents:
                    parents.append(other)
        depth[name] = 1 + max((depth[p] for p in parents), default=0)
        roles.append(RoleDef(org, name, tuple(parents)))
    return roles


def _org_rules(rng: random.Random, org: str, roles: list[RoleDef], members: list[Member], count: int) -> list[Rule]:
    seen: set[tuple[str, str, str, tuple[str, ...], str]] = set()
    rules: list[Rule] = []
    while len(rules) < count:
        draw = rng.random()
        holder: Holder
        effect: Effect
        if draw < 0.88:
            holder, effect, who = "role", "allow", rng.choice(roles).name
        elif draw < 0.94:
            holder, effect, who = "role", "deny", rng.choice(roles).name
        elif draw < 0.98:
            holder, effect, who = "guard", "deny", rng.choice(roles).name
        else:
            holder, effect, who = "user", "allow", rng.choice(members).user
        action, pattern = rng.choice(ACTIONS), _shape(rng, org)
        key = (holder, who, action, pattern, effect)
        if key in seen:
            continue
        seen.add(key)
        rules.append(Rule(f"{org}.g{len(rules)}", org, holder, who, action, pattern, effect))
    return rules


def _closure(roles: list[RoleDef]) -> dict[str, set[str]]:
    """Each role with every role it inherits from (parents always come earlier in the list)."""
    closure: dict[str, set[str]] = {}
    for role in roles:
        closure[role.name] = {role.name}.union(*(closure[p] for p in role.parents))
    return closure


def _instance(rng: random.Random, pattern: tuple[str, ...]) -> str:
    site, report = f"site-{rng.randrange(SITES)}", f"report-{rng.randrange(REPORTS)}"
    if pattern[-1] == "**":
        fill = [site, report][len(pattern) - 3 :]
        return ":".join([*pattern[:-1], *fill])
    return ":".join(site if part == "*" else part for part in pattern)


def _checks(rng: random.Random, w: Workload, closures: dict[str, dict[str, set[str]]], count: int) -> list[Check]:
    """40% aimed at an allow rule, 15% at a deny, 30% a member's random request, 15% anyone's anywhere."""
    holders: dict[tuple[str, str], list[Member]] = {}
    for member in w.members:
        for held in member.roles:
            for name in closures[member.org][held]:
                holders.setdefault((member.org, name), []).append(member)
    allows = [r for r in w.rules if r.effect == "allow"]
    denies = [r for r in w.rules if r.effect == "deny"]
    users = sorted({m.user for m in w.members})
    checks: list[Check] = []
    while len(checks) < count:
        draw = rng.random()
        if draw < 0.55:
            rule = rng.choice(allows if draw < 0.40 else denies)
            if rule.holder == "user":
                user = rule.who
            else:
                candidates = holders.get((rule.org, rule.who))
                if not candidates:
                    continue
                user = rng.choice(candidates).user
            checks.append(Check(user, rule.org, rule.action, _instance(rng, rule.pattern)))
            continue
        if draw < 0.85:
            member = rng.choice(w.members)
            user, org = member.user, member.org
        else:
            user, org = rng.choice(users), rng.choice(w.orgs)
        checks.append(Check(user, org, rng.choice(ACTIONS), _instance(rng, ("emissions", org, "**"))))
    return checks


def generate(size: int, requests: int, seed: int = 7) -> Workload:
    """``size`` rules, about ``RULES_PER_ORG`` in each organisation, and ``requests`` checks."""
    rng = random.Random(f"{seed}:{size}")
    org_count = max(1, size // RULES_PER_ORG)
    per_org = [size // org_count + (1 if i < size % org_count else 0) for i in range(org_count)]
    orgs = tuple(f"org-{i}" for i in range(org_count))
    pool = [f"u{i}" for i in range(int(org_count * MEMBERS_PER_ORG * 0.8))]
    roles: list[RoleDef] = []
    rules: list[Rule] = []
    members: list[Member] = []
    closures: dict[str, dict[str, set[str]]] = {}
    for org, count in zip(orgs, per_org, strict=True):
        org_roles = _org_roles(rng, org, ROLES_PER_ORG)
        names = [r.name for r in org_roles]
        org_members = [
            Member(user, org, tuple(rng.sample(names, 2 if rng.random() < 0.3 else 1)))
            for user in rng.sample(pool, MEMBERS_PER_ORG)
        ]
        roles += org_roles
        members += org_members
        rules += _org_rules(rng, org, org_roles, org_members, count)
        closures[org] = _closure(org_roles)
    workload = Workload(size, seed, orgs, tuple(roles), tuple(rules), tuple(members), ())
    checks = _checks(random.Random(f"{seed}:{size}:checks"), workload, closures, requests)
    return Workload(size, seed, orgs, tuple(roles), tuple(rules), tuple(members), tuple(checks))


def org_slices(w: Workload, count: int) -> Iterable[Workload]:
    """The workload cut into ``count`` slices of whole organisations (no requests), for streaming it in."""
    step = max(1, -(-len(w.orgs) // count))
    for start in range(0, len(w.orgs), step):
        orgs = frozenset(w.orgs[start : start + step])
        yield Workload(
            w.size,
            w.seed,
            tuple(o for o in w.orgs if o in orgs),
            tuple(r for r in w.roles if r.org in orgs),
            tuple(r for r in w.rules if r.org in orgs),
            tuple(m for m in w.members if m.org in orgs),
            (),
        )


# -- ours ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Records:
    """The workload as our store's records: what ``PolicySnapshot.from_records`` and the bulk APIs take."""

    permissions: list[Permission]
    roles: list[Role]
    assignments: list[RoleAssignment]
    policies: list[Policy]


def our_records(w: Workload) -> Records:
    """Role rules become permissions; denies naming a role and grants naming a user become rbac policy rules.

    An assignment holds only within its organisation (scope ``org:<org>``), so
    every check passes ``{"org": <org>}`` as context: the domain of the request.
    """
    permissions: list[Permission] = []
    held: dict[str, list[str]] = {}
    policy_rules: dict[tuple[str, str], list[PolicyRule]] = {}
    for rule in w.rules:
        if rule.holder == "role":
            role_id = f"{rule.org}.{rule.who}"
            permissions.append(
                Permission(
                    permission_id=rule.rule_id,
                    resource=rule.resource,
                    action=rule.action,
                    effect=PermissionEffect(rule.effect),
                )
            )
            held.setdefault(role_id, []).append(rule.rule_id)
            continue
        guard = rule.holder == "guard"
        policy_rules.setdefault((rule.org, rule.holder), []).append(
            PolicyRule(
                rule_id=rule.rule_id,
                effect=PermissionEffect(rule.effect),
                actions=[rule.action],
                resources=[rule.resource],
                roles=[f"{rule.org}.{rule.who}"] if guard else [],
                subjects=[] if guard else [rule.who],
            )
        )
    roles = [
        Role(
            role_id=r.id,
            role_name=r.id,
            permissions=held.get(r.id, []),
            parent_roles=[f"{r.org}.{p}" for p in r.parents],
        )
        for r in w.roles
    ]
    assignments = [
        RoleAssignment(
            assignment_id=f"a.{m.org}.{m.user}.{role}", subject=m.user, role_id=f"{m.org}.{role}", scope=f"org:{m.org}"
        )
        for m in w.members
        for role in m.roles
    ]
    policies = [
        Policy(
            policy_id=f"{org}.{holder}",
            policy_name=f"{org}.{holder}",
            policy_type=PolicyType.RBAC,
            rules=items,
        )
        for (org, holder), items in policy_rules.items()
    ]
    return Records(permissions, roles, assignments, policies)
