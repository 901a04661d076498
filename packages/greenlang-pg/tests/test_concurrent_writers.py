"""Several processes writing one PostgreSQL store at once keep one gap-free, correctly hashed audit chain.

Each writer is a separate process (spawn, so nothing is inherited but the
arguments) with its own ``PostgreSQLBackend``; a barrier starts them together.
The result is checked three ways: ``verify_audit()``, raw SQL over the table,
and every hash re-derived here with ``greenlang.testing.expected_hash``.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from greenlang.audit.chain import ChainHead
from greenlang.audit.events import AuditEvent
from greenlang.testing import expected_hash
from greenlang.testing.samples import sample_permission, sample_policy, sample_role
from greenlang_pg import PostgreSQLBackend
from greenlang_pg.config import DatabaseConfig
from greenlang_pg.testing import TestServer

SPAWN = multiprocessing.get_context("spawn")
GENESIS = "0" * 64
WRITERS = 4
EVENTS_EACH = 1000
RESULT_TIMEOUT = 120.0


def _event(user: str, n: int) -> dict[str, Any]:
    """An event whose details make each one distinct and exercise floats and non-ASCII text in the hash."""
    return {
        "event_type": "load.append",
        "result": "success",
        "user_id": user,
        "resource": f"emissions:site-{n % 7}",
        "action": "write",
        "details": {"n": n, "ratio": n / 7, "note": "CO₂e ✓", "nested": {"flags": [True, None, n % 3]}},
    }


# child processes ------------------------------------------------------------------------------
def _run_child(results: Any, name: str, work: Callable[[], Any]) -> None:
    try:
        results.put((name, "ok", work()))
    except BaseException:
        results.put((name, "error", traceback.format_exc()))


def _appender(config: DatabaseConfig, user: str, count: int, batch: int, start: Any, results: Any) -> None:
    def work() -> float:
        with PostgreSQLBackend(config) as backend:
            start.wait(timeout=60)
            began = time.monotonic()
            if batch == 1:
                for n in range(count):
                    backend.append_audit_event(_event(user, n))
            else:
                for first in range(0, count, batch):
                    backend.append_audit_events([_event(user, n) for n in range(first, min(first + batch, count))])
            return time.monotonic() - began

    _run_child(results, user, work)


def _mixed_writer(config: DatabaseConfig, user: str, rounds: int, start: Any, results: Any) -> None:
    """Alternate audit appends with every kind of policy write; report (policy writes, plain appends)."""

    def work() -> tuple[int, int]:
        policy_writes = appends = 0
        with PostgreSQLBackend(config) as backend:
            start.wait(timeout=60)
            spare: list[str] = []
            for n in range(rounds):
                backend.append_audit_event(_event(user, n))
                appends += 1
                step = n % 6
                if step == 0:
                    spare.append(
                        backend.create_permission(sample_permission(scope=f"org:{user}"), actor=user).permission_id
                    )
                    policy_writes += 1
                elif step == 1:
                    held = backend.create_permission(sample_permission(action="write"), actor=user)
                    backend.create_role(sample_role(f"{user}-role-{n}", permissions=[held.permission_id]), actor=user)
                    policy_writes += 2
                elif step == 2:
                    backend.create_policy(sample_policy(f"{user}-policy-{n}"), actor=user)
                    policy_writes += 1
                elif step == 3 and spare:
                    permission = backend.get_permission(spare[-1])
                    assert permission is not None
                    backend.update_permission(permission.replace(action="delete"), actor=user)
                    policy_writes += 1
                elif step == 4 and spare:
                    assert backend.delete_permission(spare.pop(), actor=user)
                    policy_writes += 1
                elif step == 5:
                    with backend.atomic():
                        backend.create_permission(sample_permission(), actor=user)
                        backend.create_permission(sample_permission(action="write"), actor=user)
                        backend.append_audit_event(_event(user, -n))
                    policy_writes += 2
                    appends += 1
        return policy_writes, appends

    _run_child(results, user, work)


def _run_processes(
    target: Callable[..., None], arguments: Sequence[tuple[Any, ...]], while_running: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Start one process per argument tuple (each also gets a shared start barrier and a result queue).

    Returns each process's result by name; ``while_running`` is called over and over until all have reported.
    """
    start = SPAWN.Barrier(len(arguments))
    results = SPAWN.Queue()
    processes = [SPAWN.Process(target=target, args=(*args, start, results), daemon=True) for args in arguments]
    for process in processes:
        process.start()
    outcomes: dict[str, Any] = {}
    failures: list[str] = []
    try:
        deadline = time.monotonic() + RESULT_TIMEOUT
        while len(outcomes) + len(failures) < len(processes):
            if time.monotonic() > deadline:
                pytest.fail(f"writers still running after {RESULT_TIMEOUT:.0f} s (deadlock?); finished: {outcomes}")
            if while_running is not None:
                while_running()
            try:
                name, status, value = results.get(timeout=0.05 if while_running else 1.0)
            except queue.Empty:
                if not any(process.is_alive() for process in processes):
                    try:
                        name, status, value = results.get(timeout=1.0)
                    except queue.Empty:
                        codes = [process.exitcode for process in processes]
                        pytest.fail(f"writers stopped without reporting (exit codes {codes}); got {outcomes}")
                else:
                    continue
            if status == "ok":
                outcomes[name] = value
            else:
                failures.append(f"{name}:\n{value}")
        for process in processes:
            process.join(timeout=30)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
    assert not failures, "\n".join(failures)
    assert [process.exitcode for process in processes] == [0] * len(processes)
    return outcomes


# checks ---------------------------------------------------------------------------------------
def _check_chain(backend: PostgreSQLBackend, total: int) -> list[AuditEvent]:
    """The trail is 1..total with every hash re-derived here, matches the head, and verifies."""
    events = list(backend.iter_audit_events())
    assert [event.sequence for event in events] == list(range(1, total + 1))
    previous = GENESIS
    for event in events:
        assert event.provenance_hash == expected_hash(event, previous), f"sequence {event.sequence}"
        previous = event.provenance_hash
    assert backend.audit_head() == ChainHead(total, previous)
    report = backend.verify_audit()
    assert (report.ok, report.events_checked, report.head) == (True, total, ChainHead(total, previous)), report
    return events


def _check_rows(pg_server: TestServer, database: str, total: int) -> None:
    """The same facts read with plain SQL, so no backend code stands between the test and the table."""
    [(count, distinct, low, high, unique_ids)] = pg_server.execute(
        "SELECT count(*), count(DISTINCT sequence), min(sequence), max(sequence), count(DISTINCT log_id) "
        "FROM audit_logs",
        database,
    )
    assert (count, distinct, low, high, unique_ids) == (total, total, 1, total, total)
    assert pg_server.execute("SELECT sequence FROM audit_chain_head WHERE id = 1", database) == [(total,)]


def _switches(events: Sequence[AuditEvent]) -> int:
    return sum(1 for before, after in zip(events, events[1:], strict=False) if before.user_id != after.user_id)


def _by_writer(events: Sequence[AuditEvent]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for event in events:
        found.setdefault(str(event.user_id), []).append(int(event.details["n"]))
    return found


# tests ------------------------------------------------------------------------------------------
def test_four_processes_appending_one_event_per_call_keep_one_chain(
    pg_server: TestServer, pg_config: DatabaseConfig
) -> None:
    users = [f"writer-{index}" for index in range(WRITERS)]
    began = time.monotonic()
    durations = _run_processes(_appender, [(pg_config, user, EVENTS_EACH, 1) for user in users])
    elapsed = time.monotonic() - began
    total = WRITERS * EVENTS_EACH
    with PostgreSQLBackend(pg_config) as backend:
        events = _check_chain(backend, total)
        assert backend.get_statistics()["audit_logs_count"] == total
    _check_rows(pg_server, pg_config.database or "", total)
    assert Counter(event.user_id for event in events) == dict.fromkeys(users, EVENTS_EACH)
    assert _by_writer(events) == {user: list(range(EVENTS_EACH)) for user in users}, "a writer's order changed"
    assert _switches(events) >= 100, "the writers did not overlap, so this proved nothing about concurrency"
    print(
        f"\n4x1000 single appends: {elapsed:.1f} s in all, writers {sorted(round(d, 1) for d in durations.values())} s"
    )


def test_four_processes_appending_batches_keep_each_batch_contiguous(
    pg_server: TestServer, pg_config: DatabaseConfig
) -> None:
    users = [f"batcher-{index}" for index in range(WRITERS)]
    batch = 50
    began = time.monotonic()
    _run_processes(_appender, [(pg_config, user, EVENTS_EACH, batch) for user in users])
    elapsed = time.monotonic() - began
    total = WRITERS * EVENTS_EACH
    with PostgreSQLBackend(pg_config) as backend:
        events = _check_chain(backend, total)
    _check_rows(pg_server, pg_config.database or "", total)
    assert Counter(event.user_id for event in events) == dict.fromkeys(users, EVENTS_EACH)
    assert _by_writer(events) == {user: list(range(EVENTS_EACH)) for user in users}
    batches: dict[tuple[str, int], list[int]] = {}
    for event in events:
        batches.setdefault((str(event.user_id), int(event.details["n"]) // batch), []).append(event.sequence or 0)
    assert len(batches) == total // batch
    for key, sequences in batches.items():
        assert sequences == list(range(sequences[0], sequences[0] + batch)), f"batch {key} was split"
    assert _switches(events) >= 10, "the writers did not overlap, so this proved nothing about concurrency"
    print(f"\n4x1000 appends in batches of {batch}: {elapsed:.1f} s")


def test_policy_writes_and_appends_from_two_processes_do_not_deadlock(
    pg_server: TestServer, pg_config: DatabaseConfig
) -> None:
    users = ["mixed-a", "mixed-b"]
    cycles = 40
    with PostgreSQLBackend(pg_config) as observer:
        verified: list[int] = []

        def verify_meanwhile() -> None:
            report = observer.verify_audit()
            assert report.ok, report.summary()
            verified.append(report.events_checked)

        began = time.monotonic()
        outcomes = _run_processes(_mixed_writer, [(pg_config, user, 6 * cycles) for user in users], verify_meanwhile)
        elapsed = time.monotonic() - began
        # per writer and cycle: 6 permission events (create, create, update, delete, 2 in one block), 1 role,
        # 1 policy, and 7 plain appends (one of them inside the atomic block with the batch)
        assert outcomes == dict.fromkeys(users, (8 * cycles, 7 * cycles))
        policy_writes, appends = len(users) * 8 * cycles, len(users) * 7 * cycles
        assert observer.revision() == policy_writes
        events = _check_chain(observer, policy_writes + appends)
        kinds = Counter(event.event_type.split(".")[0] for event in events)
        assert kinds == {"load": appends, "permission": 6 * cycles * 2, "role": cycles * 2, "policy": cycles * 2}
        assert Counter(event.user_id for event in events) == dict.fromkeys(users, 15 * cycles)
        stats = observer.get_statistics()
        assert (stats["revision"], stats["roles_count"], stats["policies_count"]) == (
            policy_writes,
            2 * cycles,
            2 * cycles,
        )
        assert stats["permissions_count"] == len(users) * cycles * 3  # 4 created per cycle, the spare one deleted
    _check_rows(pg_server, pg_config.database or "", policy_writes + appends)
    assert len([count for count in verified if 0 < count < policy_writes + appends]) >= 3, "no verify overlapped"
    print(f"\n2 mixed writers: {policy_writes} policy writes and {appends} appends in {elapsed:.1f} s")
