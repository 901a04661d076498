"""The asyncio flavour: one worker thread, and a gate that keeps other tasks out of an open transaction."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from greenlang.auth.backends.sqlite import AsyncSQLiteBackend, SQLiteBackend
from greenlang.errors import StoreError
from greenlang.testing.samples import sample_event, sample_permission


def test_another_tasks_write_never_joins_an_open_transaction(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        async with AsyncSQLiteBackend(tmp_path / "a.db") as store:
            inside = asyncio.Event()
            other_started = asyncio.Event()
            mine = sample_permission(action="mine")
            theirs = sample_permission(action="theirs")

            async def failing_block() -> None:
                async with store.atomic():
                    await store.create_permission(mine)
                    inside.set()
                    await other_started.wait()
                    raise RuntimeError("roll back my block only")

            async def owner() -> None:
                with pytest.raises(RuntimeError):
                    await failing_block()

            async def other() -> None:
                await inside.wait()
                other_started.set()
                await store.create_permission(theirs)

            await asyncio.gather(owner(), other())
            stored = [p.action for p in await store.list_permissions()]
            audited = [e.resource or "" for e in await store.read_audit_events()]
            return stored, audited

    stored, audited = asyncio.run(scenario())
    assert stored == ["theirs"]
    assert len(audited) == 1


def test_operations_run_on_one_dedicated_worker_thread(tmp_path: Path) -> None:
    seen: set[str] = set()

    def clock_spy():  # type: ignore[no-untyped-def]
        from greenlang.timeutil import utcnow

        seen.add(threading.current_thread().name)
        return utcnow()

    async def scenario() -> None:
        async with AsyncSQLiteBackend(tmp_path / "a.db", clock=clock_spy) as store:
            await asyncio.gather(
                *(store.create_permission({"resource": "a", "action": f"a{n}", "effect": "allow"}) for n in range(20))
            )

    asyncio.run(scenario())
    assert len(seen) == 1
    assert next(iter(seen)).startswith("greenlang-sqlite")


def test_concurrent_appends_form_one_chain(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[int | None], bool]:
        async with AsyncSQLiteBackend(tmp_path / "a.db") as store:
            await asyncio.gather(*(store.append_audit_event(sample_event(user_id=f"u{n}")) for n in range(50)))
            return [e.sequence async for e in store.iter_audit_events()], (await store.verify_audit()).ok

    sequences, ok = asyncio.run(scenario())
    assert sequences == list(range(1, 51))
    assert ok


def test_async_iteration_pages_through_a_long_trail(tmp_path: Path) -> None:
    with SQLiteBackend(tmp_path / "a.db") as store:
        store.append_audit_events([sample_event(user_id=f"u{n}") for n in range(1100)])

    async def scenario() -> list[str | None]:
        async with AsyncSQLiteBackend(tmp_path / "a.db") as store:
            return [e.user_id async for e in store.iter_audit_events(after_sequence=98)]

    users = asyncio.run(scenario())
    assert users == [f"u{n}" for n in range(98, 1100)]


def test_nested_async_atomic_rolls_back_to_the_outermost(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int]:
        async with AsyncSQLiteBackend(tmp_path / "a.db") as store:

            async def failing_block() -> None:
                async with store.atomic():
                    await store.create_permission(sample_permission())
                    async with store.atomic():
                        await store.append_audit_event(sample_event())
                    raise KeyError("outer fails after inner succeeded")

            with pytest.raises(KeyError):
                await failing_block()
            return len(await store.list_permissions()), len(await store.read_audit_events())

    assert asyncio.run(scenario()) == (0, 0)


def test_closed_async_store_refuses_work(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = AsyncSQLiteBackend(tmp_path / "a.db")
        await store.close()
        await store.close()
        with pytest.raises(StoreError, match="closed"):
            await store.revision()

    asyncio.run(scenario())


def test_bad_path_fails_at_construction(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises((StoreError, OSError)):
        AsyncSQLiteBackend(blocker / "sub" / "a.db")
