"""Authorizer plumbing (snapshots, reloads, async) and properties that hold for any policy state."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from engine_world import NOW, cond, grant, perm, policy, role
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenlang.auth.engine import AsyncAuthorizer, Authorizer
from greenlang.auth.permissions import Permission
from greenlang.auth.policies import Policy
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.auth.snapshot import PolicySnapshot
from greenlang.errors import InputError


@dataclass(frozen=True)
class State:
    revision: int = 0
    permissions: list[Permission] = field(default_factory=list)
    roles: list[Role] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)
    assignments: list[RoleAssignment] = field(default_factory=list)


class MemorySource:
    """The two store calls an Authorizer makes, over an in-memory state that tests replace."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.loads = 0
        self.revision_calls = 0

    def revision(self) -> int:
        self.revision_calls += 1
        return self.state.revision

    def load_policy_state(self) -> State:
        self.loads += 1
        return self.state


class AsyncMemorySource:
    def __init__(self, state: State) -> None:
        self.inner = MemorySource(state)

    async def revision(self) -> int:
        return self.inner.revision()

    async def load_policy_state(self) -> State:
        return self.inner.load_policy_state()


def reader_state(revision: int = 1) -> State:
    return State(revision, [perm("p", "docs:*", "read")], [role("r", "p")], [], [grant("alice", "r")])


def test_snapshot_is_loaded_lazily_and_reused_while_the_revision_holds() -> None:
    source = MemorySource(reader_state())
    az = Authorizer(source, clock=lambda: NOW)
    assert source.loads == 0
    assert az.check("alice", "read", "docs:1").allowed is True
    assert az.check("alice", "read", "docs:2").allowed is True
    assert az.roles_of("alice")[0].role_id == "r"
    assert source.loads == 1
    assert source.revision_calls == 2  # the first call loads without asking; each later call asks once
    assert az.check("alice", "read", "docs:1").revision == 1


def test_snapshot_is_rebuilt_when_the_store_revision_moves() -> None:
    source = MemorySource(reader_state())
    az = Authorizer(source, clock=lambda: NOW)
    assert az.check("alice", "read", "docs:1").allowed is True
    source.state = replace(source.state, revision=2, assignments=[])
    decision = az.check("alice", "read", "docs:1")
    assert decision.allowed is False
    assert decision.revision == 2
    assert source.loads == 2


def test_reload_forces_a_rebuild_and_is_a_no_op_without_a_backend() -> None:
    source = MemorySource(reader_state())
    az = Authorizer(source)
    assert az.reload().revision == 1
    assert az.reload().revision == 1
    assert source.loads == 2
    fixed = PolicySnapshot.from_records(revision=7)
    assert Authorizer(snapshot=fixed).reload() is fixed


def test_a_given_snapshot_is_replaced_once_the_backend_differs() -> None:
    source = MemorySource(reader_state(revision=5))
    az = Authorizer(source, snapshot=PolicySnapshot.from_records(revision=5), clock=lambda: NOW)
    assert az.check("alice", "read", "docs:1").allowed is False  # the given (empty) snapshot is current
    source.state = replace(source.state, revision=6)
    assert az.check("alice", "read", "docs:1").allowed is True
    assert source.loads == 1


def test_authorizer_needs_a_backend_or_a_snapshot() -> None:
    with pytest.raises(InputError, match="needs a backend or a snapshot"):
        Authorizer()
    with pytest.raises(InputError, match="needs a backend or a snapshot"):
        AsyncAuthorizer()


def test_async_authorizer_answers_like_the_sync_one() -> None:
    async def scenario() -> None:
        source = AsyncMemorySource(reader_state())
        az = AsyncAuthorizer(source, clock=lambda: NOW)
        assert source.inner.loads == 0
        assert (await az.check("alice", "read", "docs:1")).allowed is True
        explanation = await az.explain("alice", "read", "docs:1")
        assert explanation.decision.deciding_rules == ("p",)
        assert [r.role_id for r in await az.roles_of("alice")] == ["r"]
        assert [p.permission_id for p in await az.effective_permissions("alice")] == ["p"]
        assert source.inner.loads == 1
        source.inner.state = replace(source.inner.state, revision=2, assignments=[])
        assert (await az.check("alice", "read", "docs:1")).allowed is False
        assert (await az.reload()).revision == 2
        assert source.inner.loads == 3
        with pytest.raises(InputError, match="^action"):
            await az.check("alice", "*", "docs:1")

    asyncio.run(scenario())


def test_snapshot_build_reads_a_policy_state() -> None:
    state = reader_state(revision=4)
    snapshot = PolicySnapshot.build(state)
    assert snapshot.revision == 4
    assert snapshot.role_ids_by_name == {"r": "r"}
    assert set(snapshot.permissions) == {"p"}
    assert [a.subject for a in snapshot.assignments_of("alice")] == ["alice"]
    assert snapshot.assignments_of("bob") == ()


def test_snapshot_is_immutable_and_sorts_policies_by_priority() -> None:
    low = policy(
        "low", "rbac", [{"effect": "allow", "actions": ["read"], "resources": ["x"], "subjects": ["a"]}], priority=1
    )
    high = policy(
        "high", "rbac", [{"effect": "allow", "actions": ["read"], "resources": ["x"], "subjects": ["a"]}], priority=9
    )
    snapshot = PolicySnapshot.from_records(roles=[role("r")], policies=[low, high])
    assert [p.policy_id for p in snapshot.policies] == ["high", "low"]
    with pytest.raises(TypeError):
        snapshot.roles["x"] = role("x")  # type: ignore[index]
    with pytest.raises(AttributeError):
        snapshot.revision = 3  # type: ignore[misc]


def test_snapshot_indexes_permissions_by_action() -> None:
    snapshot = PolicySnapshot.from_records(
        permissions=[perm("r1", "a", "read"), perm("w1", "a", "write"), perm("any", "a", "*")],
        roles=[role("r", "r1", "w1", "any")],
    )
    assert {cp.id for cp in snapshot.permissions_of_role("r", "read")} == {"r1", "any"}
    assert {cp.id for cp in snapshot.permissions_of_role("r", "delete")} == {"any"}
    assert {cp.id for cp in snapshot.permissions_of_role("r")} == {"r1", "w1", "any"}


# -- properties ------------------------------------------------------------------------------------------------------

PATTERNS = st.sampled_from(["docs:*", "docs:**", "docs:1", "**", "other:*"])
ACTIONS = st.sampled_from(["read", "write", "*"])
CONDITIONS = st.sampled_from([[], [cond("flag", "eq", True)], [cond("level", "gt", 2)]])


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[Permission], list[Role], list[RoleAssignment], list[Policy]]:
    count = draw(st.integers(1, 6))
    permissions = [
        Permission(
            permission_id=f"p{i}",
            resource=draw(PATTERNS),
            action=draw(ACTIONS),
            effect=draw(st.sampled_from(["allow", "deny"])),
            conditions=draw(CONDITIONS),
            scope=draw(st.sampled_from([None, "org:acme", "org:*"])),
        )
        for i in range(count)
    ]
    roles = [
        Role(
            role_id=f"r{i}",
            role_name=f"r{i}",
            priority=draw(st.integers(-5, 5)),
            permissions=draw(st.lists(st.sampled_from([p.permission_id for p in permissions]), unique=True)),
            parent_roles=draw(st.lists(st.sampled_from([f"r{j}" for j in range(3) if j != i]), unique=True)),
        )
        for i in range(3)
    ]
    assignments = [
        RoleAssignment(assignment_id=f"g{i}", subject="alice", role_id=f"r{i}") for i in range(3) if draw(st.booleans())
    ]
    policies = [
        Policy(
            policy_id=f"pol{i}",
            policy_name=f"pol{i}",
            policy_type="abac",
            priority=draw(st.integers(-5, 5)),
            rules=[
                {
                    "effect": draw(st.sampled_from(["allow", "deny"])),
                    "actions": [draw(ACTIONS)],
                    "resources": [draw(PATTERNS)],
                    "conditions": [cond("flag", "eq", draw(st.booleans()))],
                }
            ],
        )
        for i in range(draw(st.integers(0, 2)))
    ]
    return permissions, roles, assignments, policies


CONTEXTS = st.fixed_dictionaries(
    {}, optional={"flag": st.booleans(), "level": st.integers(0, 5), "org": st.just("acme")}
)
PROPERTIES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def build(world: tuple[Any, Any, Any, Any]) -> Authorizer:
    permissions, roles, assignments, policies = world
    return Authorizer(
        snapshot=PolicySnapshot.from_records(
            permissions=permissions, roles=roles, assignments=assignments, policies=policies
        ),
        clock=lambda: NOW,
    )


@PROPERTIES
@given(worlds(), CONTEXTS, st.sampled_from(["read", "write"]), st.sampled_from(["docs:1", "docs:2:3", "other:x"]))
def test_check_and_explain_always_agree(world: Any, context: dict[str, Any], action: str, resource: str) -> None:
    az = build(world)
    decision = az.check("alice", action, resource, context)
    explanation = az.explain("alice", action, resource, context)
    assert (decision.allowed, decision.deciding_rules, decision.reason) == (
        explanation.decision.allowed,
        explanation.decision.deciding_rules,
        explanation.decision.reason,
    )
    applied = {line.rule_id for line in explanation.trace if line.applied and line.kind != "assignment"}
    assert set(decision.deciding_rules) <= applied
    denies = {line.rule_id for line in explanation.trace if line.applied and line.effect == "deny"}
    allows = {line.rule_id for line in explanation.trace if line.applied and line.effect == "allow"}
    assert decision.allowed == (not denies and bool(allows))
    assert set(decision.deciding_rules) == (denies or allows)


@PROPERTIES
@given(worlds(), CONTEXTS, st.sampled_from(["read", "write"]), st.lists(st.integers(-100, 100), min_size=5, max_size=5))
def test_priorities_never_change_the_outcome(
    world: Any, context: dict[str, Any], action: str, shuffled: list[int]
) -> None:
    permissions, roles, assignments, policies = world
    before = build(world).check("alice", action, "docs:1", context)
    roles = [r.replace(priority=shuffled[i]) for i, r in enumerate(roles)]
    policies = [p.replace(priority=shuffled[3 + i]) for i, p in enumerate(policies)]
    after = build((permissions, roles, assignments, policies)).check("alice", action, "docs:1", context)
    assert after.allowed == before.allowed
    assert set(after.deciding_rules) == set(before.deciding_rules)


@PROPERTIES
@given(worlds(), CONTEXTS)
def test_roles_of_and_effective_permissions_agree(world: Any, context: dict[str, Any]) -> None:
    az = build(world)
    roles = az.roles_of("alice", context=context)
    held = {pid for r in roles for pid in r.permissions}
    assert {p.permission_id for p in az.effective_permissions("alice", context=context)} == held
    explanation = az.explain("alice", "read", "docs:1", context)
    considered = {line.rule_id for line in explanation.trace if line.kind == "permission"}
    assert considered == held
