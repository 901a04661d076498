"""Reloads are atomic: every check answers from one whole store revision, even while the store flips under it.

The store is switched back and forth between two policy states, A and B, in
single transactions while checks run and the authorizer reloads. Each answer
must be exactly the one expected under the state its ``Decision.revision``
names; expectations come from ``explain()`` on snapshots pinned to each state.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.auth.backends.sqlite_async import AsyncSQLiteBackend
from greenlang.auth.decision import Decision
from greenlang.auth.engine import AsyncAuthorizer, Authorizer
from greenlang.auth.snapshot import PolicySnapshot

NOW = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)
CHECKS = 1000

# -- the two states --------------------------------------------------------------------------------------------------


def _ballast() -> dict[str, list[dict[str, Any]]]:
    """Records both states share, so that a reload has real work to do (about 700 records)."""
    permissions = [
        {"permission_id": f"b-{n:03d}", "resource": f"ballast:{n}:**", "action": "read", "effect": "allow"}
        for n in range(300)
    ]
    roles = [
        {
            "role_id": f"ballast-{k}",
            "role_name": f"ballast-{k}",
            "permissions": [f"b-{n:03d}" for n in range(k, 300, 30)],
        }
        for k in range(30)
    ]
    assignments = [
        {"assignment_id": f"ba-{n:03d}", "subject": f"user{n:03d}", "role_id": f"ballast-{n % 30}"} for n in range(300)
    ]
    policies = [
        {
            "policy_id": f"bp-{n:02d}",
            "policy_name": f"ballast-policy-{n:02d}",
            "policy_type": "rbac",
            "rules": [
                {
                    "effect": "allow",
                    "actions": ["read"],
                    "resources": [f"ballast:{n}:*"],
                    "roles": [f"ballast-{n % 30}"],
                },
                {"effect": "deny", "actions": ["*"], "resources": [f"ballast:{n}:secret"], "subjects": ["user001"]},
            ],
        }
        for n in range(60)
    ]
    return {"permissions": permissions, "roles": roles, "assignments": assignments, "policies": policies}


# What differs between A and B: (kind, id) -> {label: changes}. Each switch writes all of it in one transaction.
SWITCHES: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("permission", "flip-read"): {"A": {"effect": "allow"}, "B": {"effect": "deny"}},
    ("permission", "flip-write"): {"A": {"effect": "deny"}, "B": {"effect": "allow"}},
    ("permission", "ticketed"): {"A": {"effect": "allow"}, "B": {"effect": "deny"}},
    ("role", "analyst"): {
        "A": {"permissions": ["steady-read", "flip-read", "ticketed"]},
        "B": {"permissions": ["steady-read", "flip-write", "ticketed"]},
    },
    ("assignment", "asg-carol"): {"A": {"expires_at": None}, "B": {"expires_at": NOW - timedelta(hours=1)}},
    ("policy", "gate"): {"A": {"enabled": True}, "B": {"enabled": False}},
    ("policy", "freeze"): {"A": {"enabled": False}, "B": {"enabled": True}},
}


def _state_a() -> dict[str, list[dict[str, Any]]]:
    records = _ballast()
    records["permissions"] += [
        {
            "permission_id": "steady-read",
            "resource": "emissions:**",
            "action": "read",
            "effect": "allow",
            "scope": "org:*",
        },
        {"permission_id": "flip-read", "resource": "emissions:acme:**", "action": "read", "effect": "allow"},
        {"permission_id": "flip-write", "resource": "emissions:*:site-1", "action": "write", "effect": "deny"},
        {"permission_id": "editor-write", "resource": "emissions:**", "action": "write", "effect": "allow"},
        {
            "permission_id": "ticketed",
            "resource": "emissions:acme:**",
            "action": "approve",
            "effect": "allow",
            "conditions": [{"attribute": "ticket", "operator": "eq", "value": "open"}],
        },
    ]
    records["roles"] += [
        {"role_id": "analyst", "role_name": "analyst", "permissions": ["steady-read", "flip-read", "ticketed"]},
        {
            "role_id": "editor",
            "role_name": "editor",
            "permissions": ["flip-write", "editor-write"],
            "parent_roles": ["analyst"],
            "priority": 3,
        },
    ]
    records["assignments"] += [
        {"assignment_id": "asg-alice", "subject": "alice", "role_id": "analyst"},
        {"assignment_id": "asg-bob", "subject": "bob", "role_id": "editor"},
        {"assignment_id": "asg-carol", "subject": "carol", "role_id": "editor"},
        {"assignment_id": "asg-dave", "subject": "dave", "role_id": "analyst", "scope": "org:acme"},
    ]
    records["policies"] += [
        {
            "policy_id": "gate",
            "policy_name": "gate",
            "policy_type": "rbac",
            "priority": 2,
            "rules": [
                {"effect": "allow", "actions": ["write"], "resources": ["emissions:globex:**"], "roles": ["analyst"]},
                {"effect": "allow", "actions": ["read"], "resources": ["reports:*"], "subjects": ["erin"]},
            ],
        },
        {
            "policy_id": "freeze",
            "policy_name": "freeze",
            "policy_type": "abac",
            "priority": 7,
            "enabled": False,
            "rules": [
                {
                    "effect": "deny",
                    "actions": ["write", "delete"],
                    "resources": ["emissions:**"],
                    "conditions": [{"attribute": "report.status", "operator": "eq", "value": "final"}],
                }
            ],
        },
    ]
    return records


@dataclass(frozen=True)
class Ask:
    subject: str
    action: str
    resource: str
    context: dict[str, Any]


def _asks() -> list[Ask]:
    resources = [
        "emissions:acme:site-1",
        "emissions:acme:site-2",
        "emissions:globex:site-1",
        "emissions:globex:site-2:report",
        "reports:acme",
    ]
    asks = []
    for subject in ["alice", "bob", "carol", "dave", "erin"]:
        for action in ["read", "write"]:
            for n, resource in enumerate(resources):
                org = resource.split(":")[1]
                status = "final" if (n + len(subject)) % 2 else "draft"
                asks.append(Ask(subject, action, resource, {"org": org, "report.status": status}))
    return asks


ASKS = _asks()
Answer = tuple[bool, str, tuple[str, ...]]


def answer(decision: Decision) -> Answer:
    return decision.allowed, decision.reason, decision.deciding_rules


def expected_answers(snapshot: PolicySnapshot) -> list[Answer]:
    """The reference answers (``explain``) of every ask under one pinned snapshot."""
    pinned = Authorizer(snapshot=snapshot, clock=lambda: NOW)
    return [answer(pinned.explain(a.subject, a.action, a.resource, a.context).decision) for a in ASKS]


def seed(store: SQLiteBackend) -> None:
    records = _state_a()
    with store.atomic():
        store.bulk_create_permissions(records["permissions"])
        store.bulk_create_roles(records["roles"])
        store.bulk_create_assignments(records["assignments"])
        store.bulk_create_policies(records["policies"])


def switch(store: SQLiteBackend, label: str) -> int:
    """Write state ``label`` in one transaction; returns the revision it committed at."""
    updates: dict[str, Callable[..., Any]] = {
        "permission": store.update_permission,
        "role": store.update_role,
        "assignment": store.update_assignment,
        "policy": store.update_policy,
    }
    with store.atomic():
        for (kind, key), changes in SWITCHES.items():
            updates[kind](key, changes[label])
        return store.revision()


async def switch_async(store: AsyncSQLiteBackend, label: str) -> int:
    updates: dict[str, Callable[..., Any]] = {
        "permission": store.update_permission,
        "role": store.update_role,
        "assignment": store.update_assignment,
        "policy": store.update_policy,
    }
    async with store.atomic():
        for (kind, key), changes in SWITCHES.items():
            await updates[kind](key, changes[label])
        return await store.revision()


@dataclass
class Expectations:
    answers: dict[str, list[Answer]]
    labels: dict[int, str]  # revision -> the state written at it


def prepare(store: SQLiteBackend) -> Expectations:
    """Seed state A, pin A and B to compute their answers, and leave the store in state A."""
    seed(store)
    labels = {store.revision(): "A"}
    answers = {"A": expected_answers(PolicySnapshot.build(store.load_policy_state()))}
    labels[switch(store, "B")] = "B"
    answers["B"] = expected_answers(PolicySnapshot.build(store.load_policy_state()))
    labels[switch(store, "A")] = "A"
    differing = sum(a != b for a, b in zip(answers["A"], answers["B"], strict=True))
    allowed = {label: sum(ans[0] for ans in got) for label, got in answers.items()}
    # The run tells the states apart only if many answers differ, both ways.
    assert differing >= 20, differing
    assert 10 <= allowed["A"] <= 40, allowed
    assert 10 <= allowed["B"] <= 40, allowed
    return Expectations(answers, labels)


@dataclass(frozen=True)
class Observed:
    index: int
    decision: Decision
    finished: float


def judge(observed: Iterable[Observed], expectations: Expectations, reloads: list[tuple[float, float]]) -> None:
    """Each answer is the one of the state its revision holds; both states answered; checks ran during reloads."""
    seen: dict[str, int] = {"A": 0, "B": 0}
    during = 0
    count = 0
    for item in observed:
        count += 1
        revision = item.decision.revision
        assert revision in expectations.labels, f"revision {revision} is no whole state: {sorted(expectations.labels)}"
        label = expectations.labels[revision]
        ask = ASKS[item.index % len(ASKS)]
        assert answer(item.decision) == expectations.answers[label][item.index % len(ASKS)], (ask, label, item)
        assert (item.decision.subject, item.decision.action, item.decision.resource) == (
            ask.subject,
            ask.action,
            ask.resource,
        )
        seen[label] += 1
        during += any(start < item.finished < end for start, end in reloads)
    assert count == CHECKS
    assert seen["A"] > 0, seen
    assert seen["B"] > 0, seen
    assert during > 0, "no check was answered while a reload was in progress"


# -- sync ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("writer", ["same-backend", "second-backend"])
def test_threaded_checks_during_reloads_answer_from_one_whole_state(tmp_path: Path, writer: str) -> None:
    path = tmp_path / "reload.db"
    with SQLiteBackend(path) as store, SQLiteBackend(path) as other:
        expectations = prepare(store)
        admin = store if writer == "same-backend" else other
        az = Authorizer(store, clock=lambda: NOW)
        az.reload()
        done = threading.Event()
        reloads: list[tuple[float, float]] = []
        written: list[tuple[int, str]] = []
        switcher_errors: list[BaseException] = []

        def flip() -> None:
            label = "A"
            try:
                while not done.is_set() or len(written) < 4:
                    label = "B" if label == "A" else "A"
                    written.append((switch(admin, label), label))
                    time.sleep(0.002)
                    started = time.perf_counter()
                    az.reload()
                    reloads.append((started, time.perf_counter()))
                    time.sleep(0.002)
            except BaseException as exc:  # surfaced below, so a failing switcher fails the test
                switcher_errors.append(exc)

        def ask(index: int) -> Observed:
            time.sleep(random.Random(index).random() * 0.01)  # spread the checks over many switches
            item = ASKS[index % len(ASKS)]
            decision = az.check(item.subject, item.action, item.resource, item.context)
            return Observed(index, decision, time.perf_counter())

        flipper = threading.Thread(target=flip)
        flipper.start()
        try:
            with ThreadPoolExecutor(max_workers=16) as pool:
                observed = list(pool.map(ask, range(CHECKS)))
        finally:
            done.set()
            flipper.join(timeout=30)
        assert not flipper.is_alive()
        assert not switcher_errors, switcher_errors
        expectations.labels.update(written)  # only now: a check may see a revision before the switcher records it
        judge(observed, expectations, reloads)
        assert len(written) >= 4
        # Once the switching stops, every check answers from the last state written.
        last_revision, last_label = written[-1]
        for index, item in enumerate(ASKS):
            decision = az.check(item.subject, item.action, item.resource, item.context)
            assert decision.revision == last_revision
            assert answer(decision) == expectations.answers[last_label][index]


# -- async -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("writer", ["same-backend", "second-backend"])
def test_async_checks_during_reloads_answer_from_one_whole_state(tmp_path: Path, writer: str) -> None:
    path = tmp_path / "reload-async.db"
    with SQLiteBackend(path) as store:
        expectations = prepare(store)

    async def scenario() -> None:
        async with AsyncSQLiteBackend(path) as backend, AsyncSQLiteBackend(path) as other:
            admin = backend if writer == "same-backend" else other
            az = AsyncAuthorizer(backend, clock=lambda: NOW)
            await az.reload()
            done = asyncio.Event()
            reloads: list[tuple[float, float]] = []
            written: list[tuple[int, str]] = []

            async def flip() -> None:
                label = "A"
                while not done.is_set() or len(written) < 4:
                    label = "B" if label == "A" else "A"
                    written.append((await switch_async(admin, label), label))
                    await asyncio.sleep(0.002)
                    started = time.perf_counter()
                    await az.reload()
                    reloads.append((started, time.perf_counter()))
                    await asyncio.sleep(0.002)

            async def ask(index: int) -> Observed:
                await asyncio.sleep(random.Random(index).random() * 1.0)  # spread the checks over many switches
                item = ASKS[index % len(ASKS)]
                decision = await az.check(item.subject, item.action, item.resource, item.context)
                return Observed(index, decision, time.perf_counter())

            flipper = asyncio.create_task(flip())
            try:
                observed = await asyncio.gather(*(ask(index) for index in range(CHECKS)))
            finally:
                done.set()
                await asyncio.wait_for(flipper, timeout=30)
            expectations.labels.update(written)
            judge(observed, expectations, reloads)
            assert len(written) >= 4
            last_revision, last_label = written[-1]
            for index, item in enumerate(ASKS):
                decision = await az.check(item.subject, item.action, item.resource, item.context)
                assert decision.revision == last_revision
                assert answer(decision) == expectations.answers[last_label][index]

    asyncio.run(scenario())


# -- one snapshot per check ------------------------------------------------------------------------------------------


def test_snapshot_mappings_and_records_cannot_be_changed(tmp_path: Path) -> None:
    with SQLiteBackend(tmp_path / "frozen.db") as store:
        seed(store)
        snapshot = PolicySnapshot.build(store.load_policy_state())
    pinned = Authorizer(snapshot=snapshot, clock=lambda: NOW)
    before = [answer(pinned.check(a.subject, a.action, a.resource, a.context)) for a in ASKS]
    for mapping in (snapshot.roles, snapshot.permissions, snapshot.assignments, snapshot.role_ids_by_name):
        key = next(iter(mapping))
        with pytest.raises(TypeError):
            mapping[key] = mapping[key]  # type: ignore[index]
        with pytest.raises(TypeError):
            del mapping[key]  # type: ignore[attr-defined]
        with pytest.raises(AttributeError):
            mapping.clear()  # type: ignore[attr-defined]
    assert isinstance(snapshot.policies, tuple)
    assert isinstance(snapshot.assignments["alice"], tuple)
    for name in ("revision", "roles", "permissions", "assignments", "policies", "role_ids_by_name"):
        with pytest.raises(AttributeError):
            setattr(snapshot, name, None)
    with pytest.raises(ValidationError):
        snapshot.permissions["flip-read"].effect = "deny"  # type: ignore[assignment]
    with pytest.raises(ValidationError):
        snapshot.roles["analyst"].parent_roles = ["editor"]  # type: ignore[misc]
    assert [answer(pinned.check(a.subject, a.action, a.resource, a.context)) for a in ASKS] == before


class Tripwire(str):
    """A context value that runs ``action`` the first time a condition compares it: in the middle of a check."""

    action: Callable[[], None] | None = None

    def __eq__(self, other: object) -> bool:
        action, self.action = self.action, None
        if action is not None:
            action()
        return str.__eq__(self, other)

    __hash__ = str.__hash__


@pytest.mark.parametrize("call", ["check", "explain"])
def test_a_check_finishes_on_the_snapshot_it_started_with(tmp_path: Path, call: str) -> None:
    with SQLiteBackend(tmp_path / "inflight.db") as store:
        seed(store)
        revision_a = store.revision()
        az = Authorizer(store, clock=lambda: NOW)
        pinned_a = Authorizer(snapshot=az.current(), clock=lambda: NOW)
        reloaded: list[int] = []

        def flip_and_reload() -> None:
            switch(store, "B")
            reloaded.append(az.reload().revision)

        ticket = Tripwire("open")
        ticket.action = flip_and_reload
        context = {"org": "acme", "ticket": ticket}
        decision = getattr(az, call)("alice", "approve", "emissions:acme:site-1", context)
        if call == "explain":
            decision = decision.decision
        assert reloaded, "the store did not flip during the check"
        assert reloaded[0] > revision_a, "the store did not flip during the check"
        # The in-flight check answered from A, and says so; the reload took effect for the next check.
        assert decision.revision == revision_a
        reference = pinned_a.explain("alice", "approve", "emissions:acme:site-1", {"org": "acme", "ticket": "open"})
        assert answer(decision) == answer(reference.decision)
        assert (decision.allowed, decision.deciding_rules) == (True, ("ticketed",))
        after = az.check("alice", "approve", "emissions:acme:site-1", {"org": "acme", "ticket": "open"})
        assert (after.revision, after.allowed, after.deciding_rules) == (reloaded[0], False, ("ticketed",))
        # A pinned snapshot keeps answering from A however the store moves.
        again = pinned_a.check("alice", "approve", "emissions:acme:site-1", {"org": "acme", "ticket": "open"})
        assert (again.revision, again.allowed) == (revision_a, True)
