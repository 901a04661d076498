"""``check()`` must give exactly the answer of the reference evaluation behind ``explain()``, whatever the state.

``check`` may take an indexed fast path and a decision cache; ``explain`` walks
every rule to build its trace. Both must agree on everything a decision says
except ``elapsed_ms``, including when the same request comes again with another
``now``, another context (even the same dict, changed in place) or another clock
reading, which is where a decision cache goes wrong.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from greenlang.auth.decision import Decision
from greenlang.auth.engine import Authorizer
from greenlang.auth.permissions import Permission
from greenlang.auth.policies import Policy
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.auth.snapshot import PolicySnapshot

T0 = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)  # a Wednesday, noon
_US = timedelta(microseconds=1)
_H = timedelta(hours=1)
# Moments around the edges that windows and requests share, so "exactly at the edge" is drawn often.
MOMENTS = [
    T0 + delta
    for delta in (
        timedelta(0),
        _US,
        -_US,
        timedelta(seconds=1),
        -timedelta(seconds=1),
        _H,
        -_H,
        5 * _H,  # 17:00
        -12 * _H,  # Wednesday 00:00
        -12 * _H - _US,  # Tuesday 23:59:59.999999
        12 * _H,  # Thursday 00:00
        timedelta(days=3),  # Saturday
        timedelta(days=4),  # Sunday
        -timedelta(days=2),  # Monday
        timedelta(days=30),
    )
]
HOURS = [(9, 17), (0, 12), (12, 24), (12, 13), (11, 12), (0, 24), (17, 18)]
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

SUBJECTS = ["alice", "bob", "carol"]  # carol holds no assignment; policies may still name her
HOLDERS = ["alice", "bob"]
ROLE_NAMES = ["zeta", "alpha", "mid", "beta", "omega"]  # not in role-id order, so a sort on names shows
ASKERS = ["alice", "alice", "alice", "bob", "bob", "carol"]
ACTIONS = ["read", "write", "delete"]
REQUEST_ACTIONS = ["read", "read", "read", "write", "delete", "export"]  # nothing but '*' grants export
SEGMENTS = [["emissions", "docs"], ["acme", "7"], ["site-1", "site-2"], ["r1", "r2"], ["x", "y"]]
SCOPES = [
    None,
    None,
    None,
    None,
    None,
    "org:acme",
    "org:*",
    "org:7",
    "org:7",
    "tenant.region:eu",
    "tenant.region:*",
    "user.dept.name:ops",
]
# Leaves of the context tree; no leaf is a prefix of another, so any nesting of them is a valid context.
LEAVES = [
    "flag",
    "level",
    "score",
    "org",
    "report.status",
    "report.confidential",
    "tenant.region",
    "user.tags",
    "user.dept.name",
]
ATTRIBUTES = [*LEAVES, "missing.attr", "report"]  # 'report' is an object whenever the context has report.*

# -- records ---------------------------------------------------------------------------------------------------------

SCALARS = st.one_of(
    st.booleans(),
    st.integers(-2, 10),
    st.sampled_from(["acme", "globex", "eu", "ops", "draft", "published", "7", ""]),
    st.none(),
    st.sampled_from([2.5, -0.5, 7.0]),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.just({"k": 1}),
)
ORDERED = st.one_of(st.integers(-2, 10), st.sampled_from(["acme", "draft", "m", "published"]))


@st.composite
def between_bounds(draw: st.DrawFn) -> list[Any]:
    if draw(st.booleans()):
        low, high = sorted([draw(st.integers(-2, 10)), draw(st.integers(-2, 10))])
    else:
        low, high = sorted([draw(st.sampled_from(["acme", "draft", "m", "published"])) for _ in range(2)])
    return [low, high]


VALUE_FOR = {
    "eq": VALUES,
    "ne": VALUES,
    "in": st.lists(SCALARS, max_size=3),
    "not_in": st.lists(SCALARS, max_size=3),
    "gt": ORDERED,
    "gte": ORDERED,
    "lt": ORDERED,
    "lte": ORDERED,
    "between": between_bounds(),
    "contains": st.one_of(st.sampled_from(["ac", "e", "zz"]), SCALARS),
    "matches": st.sampled_from(["ac*", "*u", "?cme", "[ae]*", "*", "7"]),
}


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    operator = draw(st.sampled_from(sorted(VALUE_FOR)))
    return {"attribute": draw(st.sampled_from(ATTRIBUTES)), "operator": operator, "value": draw(VALUE_FOR[operator])}


CONDITION_LISTS = st.one_of(st.just([]), st.just([]), st.lists(conditions(), min_size=1, max_size=2))


@st.composite
def resources(draw: st.DrawFn) -> str:
    """A resource of 1 to 5 segments."""
    length = draw(st.integers(1, 5))
    return ":".join(draw(st.sampled_from(SEGMENTS[i])) for i in range(length))


@st.composite
def patterns(draw: st.DrawFn, pool: list[str]) -> str:
    """A pattern widened from one of the world's resources: segments to '*', a tail to '**', or left exact."""
    if draw(st.integers(0, 15)) == 0:
        return draw(st.sampled_from(["**", "*", "docs:**", "emissions:*:**"]))
    parts = draw(st.sampled_from(pool)).split(":")
    parts = [draw(st.sampled_from([part, part, "*"])) for part in parts]
    tail = draw(st.sampled_from(["exact", "exact", "replace", "append", "cut"]))
    if tail == "replace":
        parts[-1] = "**"
    elif tail == "append":
        parts.append("**")
    elif tail == "cut":
        parts = [*parts[: draw(st.integers(0, len(parts) - 1))], "**"]
    return ":".join(parts)


@st.composite
def windows(draw: st.DrawFn) -> tuple[datetime | None, datetime | None]:
    """A valid (start, end) pair with ``end > start``, either side possibly open."""
    shape = draw(st.sampled_from(["none", "none", "none", "none", "none", "start", "end", "both"]))
    if shape == "none":
        return None, None
    if shape == "start":
        return draw(st.sampled_from(MOMENTS)), None
    if shape == "end":
        return None, draw(st.sampled_from(MOMENTS))
    start, end = sorted(draw(st.lists(st.sampled_from(MOMENTS), min_size=2, max_size=2, unique=True)))
    return start, end


@st.composite
def permissions(draw: st.DrawFn, index: int, pool: list[str]) -> Permission:
    return Permission(
        permission_id=f"p{index}",
        resource=draw(patterns(pool)),
        action=draw(st.sampled_from(["read", "read", "read", "write", "delete", "*", "*"])),
        effect=draw(st.sampled_from(["allow", "deny"])),
        scope=draw(st.sampled_from(SCOPES)),
        conditions=draw(CONDITION_LISTS),
    )


@st.composite
def roles(draw: st.DrawFn, index: int, role_ids: list[str], permission_ids: list[str]) -> Role:
    rid = role_ids[index]
    fields: dict[str, Any] = {
        "role_id": rid,
        "role_name": ROLE_NAMES[index],
        "priority": draw(st.integers(-1, 1)),
        "permissions": draw(
            st.lists(st.sampled_from([*permission_ids, "ghost-perm"]), unique=True, min_size=1, max_size=4)
        ),
        "parent_roles": draw(st.lists(st.sampled_from([*role_ids, "r-ghost"]), unique=True, max_size=3)),
    }
    if rid in fields["parent_roles"]:
        # The validator refuses a role that is its own parent; stored data may still hold one.
        return Role.model_construct(**fields)
    return Role(**fields)


@st.composite
def assignments(draw: st.DrawFn, role_ids: list[str]) -> list[RoleAssignment]:
    made = []
    for subject in HOLDERS:
        for n in range(draw(st.integers(0, 4)) or 1):
            valid_from, expires_at = draw(windows())
            made.append(
                RoleAssignment(
                    assignment_id=f"a-{subject}-{n}",
                    subject=subject,
                    role_id=draw(st.sampled_from([*role_ids, "r-ghost"])),
                    scope=draw(st.sampled_from([None, None, None, None, *SCOPES])),
                    valid_from=valid_from,
                    expires_at=expires_at,
                )
            )
    return made


@st.composite
def rules(draw: st.DrawFn, policy_type: str, role_names: list[str], index: int, pool: list[str]) -> dict[str, Any]:
    not_before, not_after = draw(windows())
    rule: dict[str, Any] = {
        "rule_id": draw(st.sampled_from([None, f"rule{index}", "dup"])),  # 'dup' may repeat within a policy
        "effect": draw(st.sampled_from(["allow", "deny"])),
        "actions": draw(st.lists(st.sampled_from([*ACTIONS, "*"]), min_size=1, max_size=3)),
        "resources": draw(st.lists(patterns(pool), min_size=1, max_size=2)),
        "subjects": draw(st.lists(st.sampled_from(SUBJECTS), unique=True, max_size=2)),
        "roles": draw(st.lists(st.sampled_from([*role_names, "role-ghost"]), unique=True, max_size=2)),
        "scope": draw(st.sampled_from(SCOPES)),
        "conditions": [] if policy_type == "rbac" else draw(CONDITION_LISTS),
        "not_before": not_before,
        "not_after": not_after,
        "weekdays": draw(st.lists(st.sampled_from(WEEKDAYS), unique=True, max_size=3)),
        "hours": draw(st.sampled_from([None, None, *HOURS])),
    }
    if policy_type == "rbac" and not (rule["subjects"] or rule["roles"]):
        rule["subjects"] = [draw(st.sampled_from(SUBJECTS))]
    if policy_type == "temporal" and not (not_before or not_after or rule["weekdays"] or rule["hours"]):
        rule["hours"] = draw(st.sampled_from(HOURS))
    return rule


@st.composite
def policies(draw: st.DrawFn, index: int, role_names: list[str], pool: list[str]) -> Policy:
    policy_type = draw(st.sampled_from(["rbac", "abac", "temporal"]))
    shared = [] if policy_type == "rbac" else draw(st.lists(conditions(), max_size=1))
    made = [draw(rules(policy_type, role_names, n, pool)) for n in range(draw(st.integers(1, 3)))]
    if policy_type == "abac" and not shared:
        for rule in made:
            if not rule["conditions"]:
                rule["conditions"] = [draw(conditions())]
    if draw(st.integers(0, 3)) == 0:
        # Two rules under one rule id, both citing '<policy_id>#dup': each still counts.
        made[0]["rule_id"] = "dup"
        made.append({**made[0], "effect": draw(st.sampled_from(["allow", "deny"]))})
    valid_from, expires_at = draw(windows())
    return Policy(
        policy_id=f"pol{index}",
        policy_name=f"policy-{index}",
        policy_type=policy_type,
        rules=made,
        conditions=shared,
        priority=draw(st.integers(-1, 1)),
        enabled=draw(st.sampled_from([True, True, True, True, True, False])),
        valid_from=valid_from,
        expires_at=expires_at,
    )


@st.composite
def snapshots(draw: st.DrawFn, pool: list[str]) -> PolicySnapshot:
    perms = [draw(permissions(i, pool)) for i in range(draw(st.integers(1, 8)))]
    if draw(st.booleans()):
        # Same resource and action as p0 under another id: never de-duplicated by resource:action.
        twin = perms[0]
        perms.append(
            Permission(
                permission_id="p-twin",
                resource=twin.resource,
                action=twin.action,
                effect=draw(st.sampled_from(["allow", "deny"])),
                conditions=draw(CONDITION_LISTS),
            )
        )
    permission_ids = [p.permission_id for p in perms]
    role_ids = [f"r{i}" for i in range(draw(st.integers(1, 5)))]
    role_list = [draw(roles(i, role_ids, permission_ids)) for i in range(len(role_ids))]
    role_names = [r.role_name for r in role_list]
    policy_list = [draw(policies(i, role_names, pool)) for i in range(draw(st.integers(0, 4)))]
    return PolicySnapshot.from_records(
        permissions=perms,
        roles=role_list,
        assignments=draw(assignments(role_ids)),
        policies=policy_list,
        revision=draw(st.integers(0, 10**6)),
    )


# -- requests --------------------------------------------------------------------------------------------------------


def _deep_merge(target: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, dict) and isinstance(target.get(key), dict) and value is not target[key]:
        for inner_key, inner_value in value.items():
            _deep_merge(target[key], inner_key, inner_value)
    else:
        target[key] = value


@st.composite
def contexts(draw: st.DrawFn) -> dict[str, Any] | None:
    """Contexts mixing dotted keys (``report.status``) and nested mappings, values of every kind."""
    if draw(st.integers(0, 9)) == 0:
        return None
    leaves = draw(st.lists(st.sampled_from(LEAVES[1:]), unique=True, max_size=5))
    if draw(st.integers(0, 4)):
        leaves.insert(draw(st.integers(0, len(leaves))), "org")
    context: dict[str, Any] = {}
    for leaf in leaves:
        if leaf == "org":
            value = draw(st.one_of(st.sampled_from(["acme", "acme", "globex", 7, "7"]), VALUES))
        elif leaf == "tenant.region":
            value = draw(st.one_of(st.sampled_from(["eu", "us"]), VALUES))
        elif leaf == "user.dept.name":
            value = draw(st.one_of(st.just("ops"), VALUES))
        else:
            value = draw(VALUES)
        parts = leaf.split(".")
        split = draw(st.integers(1, len(parts)))  # how many leading parts go into one dotted key
        nested: Any = value
        for part in reversed(parts[split:]):
            nested = {part: nested}
        _deep_merge(context, ".".join(parts[:split]), nested)
    return context


def _shifted(moment: datetime, how: str) -> datetime:
    if how == "naive":
        return moment.replace(tzinfo=None)
    if how == "offset":
        return moment.astimezone(timezone(timedelta(hours=-7)))
    return moment


@st.composite
def nows(draw: st.DrawFn, edges: list[datetime]) -> datetime | None:
    """An explicit ``now`` (UTC, naive or with an offset, for the same instants), or ``None`` for the clock.

    Half the time it sits on, or a microsecond either side of, an instant where something in the state starts
    or stops.
    """
    if draw(st.integers(0, 4)) == 0:
        return None
    if edges and draw(st.booleans()):
        moment = draw(st.sampled_from(edges)) + draw(st.sampled_from([timedelta(0), _US, -_US]))
    else:
        moment = draw(st.sampled_from(MOMENTS))
    return _shifted(moment, draw(st.sampled_from(["utc", "utc", "naive", "offset"])))


def edges_of(snapshot: PolicySnapshot) -> list[datetime]:
    """Every instant at which an assignment, policy or rule of the state starts or stops, and its hour edges."""
    found: set[datetime | None] = set()
    for held in snapshot.assignments.values():
        for assignment in held:
            found |= {assignment.valid_from, assignment.expires_at}
    for policy in snapshot.policies:
        found |= {policy.valid_from, policy.expires_at}
        for rule in policy.rules:
            found |= {rule.not_before, rule.not_after}
            if rule.hours:
                found |= {T0.replace(hour=hour) for hour in rule.hours if hour < 24}
    return sorted(moment for moment in found if moment is not None)


@dataclass
class Ask:
    subject: str
    action: str
    resource: str
    context: dict[str, Any] | None
    now: datetime | None


@st.composite
def asks(draw: st.DrawFn, pool: list[str], edges: list[datetime]) -> Ask:
    resource = draw(st.one_of(st.sampled_from(pool), st.sampled_from(pool), st.sampled_from(pool), resources()))
    if draw(st.integers(0, 9)) == 0:
        resource += ":zzz"
    return Ask(
        draw(st.sampled_from(ASKERS)),
        draw(st.sampled_from(REQUEST_ACTIONS)),
        resource,
        draw(contexts()),
        draw(nows(edges)),
    )


@dataclass
class World:
    snapshot: PolicySnapshot
    asks: list[Ask]
    edges: list[datetime]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    """A policy state and requests about the same handful of resources, so that rules do apply."""
    pool = draw(st.lists(resources(), min_size=1, max_size=2, unique=True))
    snapshot = draw(snapshots(pool))
    edges = edges_of(snapshot)
    return World(snapshot, draw(st.lists(asks(pool, edges), min_size=2, max_size=5)), edges)


class Clock:
    """A clock the test moves between requests, for checks that pass no ``now``."""

    def __init__(self) -> None:
        self.moment = T0

    def __call__(self) -> datetime:
        return self.moment


def _comparable(decision: Decision) -> Decision:
    return replace(decision, elapsed_ms=0.0)


def _agree(az: Authorizer, ask: Ask, *, explain_first: bool = False) -> Decision:
    """Ask ``check`` and ``explain`` the same thing and require identical decisions (``elapsed_ms`` aside)."""
    if explain_first:
        reference = az.explain(ask.subject, ask.action, ask.resource, ask.context, now=ask.now).decision
        fast = az.check(ask.subject, ask.action, ask.resource, ask.context, now=ask.now)
    else:
        fast = az.check(ask.subject, ask.action, ask.resource, ask.context, now=ask.now)
        reference = az.explain(ask.subject, ask.action, ask.resource, ask.context, now=ask.now).decision
    assert _comparable(fast) == _comparable(reference), (ask, fast, reference)
    return fast


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(worlds(), st.lists(st.sampled_from(MOMENTS), min_size=3, max_size=3), contexts(), st.data())
def test_check_agrees_with_explain_on_random_states(
    world: World, clock_moments: list[datetime], other_context: Any, data: Any
) -> None:
    clock = Clock()
    az = Authorizer(snapshot=world.snapshot, clock=clock)
    requests = world.asks
    for ask in requests:
        first = _agree(az, ask)
        event(f"{'allowed' if first.allowed else 'denied'} by {len(first.deciding_rules)} rule(s)")
        if "could not be evaluated" in first.reason:
            event("a deny applied because a condition could not be evaluated")
        assert _comparable(az.check(ask.subject, ask.action, ask.resource, ask.context, now=ask.now)) == _comparable(
            first
        ), "the same request twice gave two answers"
        _agree(az, ask, explain_first=True)
        # The same request at another moment, and through the moving clock.
        _agree(az, replace(ask, now=data.draw(nows(world.edges))))
        for moment in clock_moments:
            clock.moment = moment
            _agree(az, replace(ask, now=None))
        # The same request with another context, with no context, and with the caller's dict changed in place.
        _agree(az, replace(ask, context=other_context))
        _agree(az, replace(ask, context=None))
        if ask.context is not None:
            reused = ask.context
            _agree(az, ask)
            leaf = data.draw(st.sampled_from(["org", "flag", "level", "score"]))
            reused[leaf] = data.draw(st.one_of(st.sampled_from(["acme", "globex", 7]), VALUES))
            _agree(az, ask)
            reused.pop(leaf)
            _agree(az, ask)
        _agree(az, ask)
    # Every request again, in reverse, after the others have filled any cache.
    for ask in reversed(requests):
        _agree(az, ask)


# -- one large state -------------------------------------------------------------------------------------------------

ORGS = [f"org-{n:02d}" for n in range(50)]


def _large_state(rng: random.Random) -> tuple[PolicySnapshot, list[str]]:
    """About 2,000 rules over 50 organisations: 1,500 permissions in 200 roles and 500 policy rules in 50 policies."""
    perms: list[Permission] = []
    roles_made: list[Role] = []
    for org in ORGS:
        ids = []
        for n in range(30):
            site = f"site-{rng.randrange(4)}"
            resource = rng.choice(
                [
                    f"emissions:{org}:**",
                    f"emissions:{org}:{site}",
                    f"emissions:{org}:*:report",
                    f"reports:{org}:*",
                    "**",
                ]
                if n % 10 == 0
                else [f"emissions:{org}:{site}:**", f"emissions:{org}:*:report", f"reports:{org}:{site}"]
            )
            scope = rng.choice([None, f"org:{org}", "org:*", "tenant.region:eu"])
            conds = rng.choice(
                [
                    [],
                    [],
                    [{"attribute": "level", "operator": "gte", "value": rng.randrange(5)}],
                    [{"attribute": "report.status", "operator": "in", "value": ["draft", "review"]}],
                    [{"attribute": "report.confidential", "operator": "eq", "value": True}],
                ]
            )
            effect = "deny" if rng.random() < 0.2 else "allow"
            pid = f"{org}-p{n:02d}"
            perms.append(
                Permission(
                    permission_id=pid,
                    resource=resource,
                    action=rng.choice(["read", "read", "write", "delete", "*"]),
                    effect=effect,
                    scope=scope,
                    conditions=conds,
                )
            )
            ids.append(pid)
        viewer, editor, admin = (f"{org}-viewer", f"{org}-editor", f"{org}-admin")
        roles_made += [
            Role(role_id=viewer, role_name=viewer, permissions=ids[:10], priority=rng.randrange(-3, 4)),
            Role(
                role_id=editor,
                role_name=editor,
                permissions=ids[10:22] + [ids[0], "gone"],
                parent_roles=[viewer],
                priority=rng.randrange(-3, 4),
            ),
            Role(
                role_id=admin,
                role_name=admin,
                permissions=ids[22:],
                parent_roles=[editor, "global-auditor"],
                priority=rng.randrange(-3, 4),
            ),
        ]
    roles_made.append(Role(role_id="global-auditor", role_name="global-auditor", permissions=[], priority=5))
    # A stored cycle: global-auditor inherits from org-00's admin, which inherits from global-auditor.
    roles_made[-1] = roles_made[-1].replace(parent_roles=["org-00-admin"])
    users = [f"user{n:03d}" for n in range(200)]
    granted: list[RoleAssignment] = []
    for n, user in enumerate(users):
        home = ORGS[n % len(ORGS)]
        for k in range(rng.randrange(1, 4)):
            org = home if k == 0 else rng.choice(ORGS)
            window = rng.choice(
                [(None, None), (None, None), (MOMENTS[0], None), (None, MOMENTS[6]), (MOMENTS[2], MOMENTS[10])]
            )
            granted.append(
                RoleAssignment(
                    assignment_id=f"a-{user}-{k}",
                    subject=user,
                    role_id=f"{org}-{rng.choice(['viewer', 'editor', 'admin'])}",
                    scope=rng.choice([None, f"org:{org}"]),
                    valid_from=window[0],
                    expires_at=window[1],
                )
            )
    made_policies: list[Policy] = []
    for p, org in enumerate(ORGS):
        policy_type = ["rbac", "abac", "temporal"][p % 3]
        rule_list = []
        for n in range(10):
            rule: dict[str, Any] = {
                "rule_id": f"r{n}",
                "effect": "deny" if rng.random() < 0.3 else "allow",
                "actions": rng.sample(["read", "write", "delete", "approve"], rng.randrange(1, 3)) if n % 4 else ["*"],
                "resources": [rng.choice([f"emissions:{org}:**", f"reports:{org}:*", f"emissions:{org}:*:report"])],
                "scope": rng.choice([None, f"org:{org}"]),
            }
            if policy_type == "rbac":
                rule["roles"] = [f"{org}-{rng.choice(['viewer', 'editor', 'admin'])}"]
                if n % 3 == 0:
                    rule["subjects"] = [rng.choice(users)]
            elif policy_type == "abac":
                rule["conditions"] = [{"attribute": "level", "operator": rng.choice(["gt", "lt", "eq"]), "value": 2}]
            else:
                rule["hours"] = rng.choice(HOURS)
                rule["weekdays"] = rng.sample(WEEKDAYS, 4)
            rule_list.append(rule)
        made_policies.append(
            Policy(
                policy_id=f"pol-{org}",
                policy_name=f"policy-{org}",
                policy_type=policy_type,
                rules=rule_list,
                priority=rng.randrange(-5, 6),
                enabled=p % 7 != 3,
                expires_at=MOMENTS[5] if p % 11 == 4 else None,
            )
        )
    snapshot = PolicySnapshot.from_records(
        permissions=perms, roles=roles_made, assignments=granted, policies=made_policies, revision=4242
    )
    return snapshot, users


def _large_request(rng: random.Random, users: list[str]) -> Ask:
    user = rng.choice(users)
    org = ORGS[int(user[4:]) % len(ORGS)] if rng.random() < 0.7 else rng.choice(ORGS)
    site = f"site-{rng.randrange(4)}"
    resource = rng.choice(
        [f"emissions:{org}:{site}", f"emissions:{org}:{site}:report", f"reports:{org}:{site}", f"emissions:{org}"]
    )
    context: dict[str, Any] = {}
    if rng.random() < 0.85:
        context["org"] = org if rng.random() < 0.85 else rng.choice(ORGS)
    if rng.random() < 0.6:
        context["level"] = rng.randrange(6)
    if rng.random() < 0.5:
        context["report.status"] = rng.choice(["draft", "review", "final"])
    if rng.random() < 0.3:
        context["report.confidential"] = rng.choice([True, False, "yes"])
    if rng.random() < 0.3:
        context["tenant"] = {"region": rng.choice(["eu", "us"])}
    return Ask(user, rng.choice(["read", "write", "delete", "approve"]), resource, context, rng.choice(MOMENTS))


def test_check_agrees_with_explain_on_a_large_state() -> None:
    rng = random.Random(20260603)
    snapshot, users = _large_state(rng)
    az = Authorizer(snapshot=snapshot, clock=lambda: T0)
    requests = [_large_request(rng, users) for _ in range(2000)]
    outcomes = [_agree(az, ask) for ask in requests]
    # The state is only a test of anything if it answers both ways, through permissions and policy rules alike.
    allowed = sum(d.allowed for d in outcomes)
    assert 200 < allowed < 1800, allowed
    deciding = [rule for d in outcomes for rule in d.deciding_rules]
    assert any("#" in rule for rule in deciding)
    assert any("#" not in rule for rule in deciding)
    assert sum(d.revision == 4242 for d in outcomes) == len(outcomes)
