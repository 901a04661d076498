"""The chain head lives in the store: a restart, another object or another process continues one chain."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from greenlang.auth.backends.sqlite import AsyncSQLiteBackend, SQLiteBackend
from greenlang.testing import expected_hash
from greenlang.testing.samples import sample_event, sample_permission


def test_events_after_a_restart_continue_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "trail.db"
    with SQLiteBackend(path) as first:
        first.create_permission(sample_permission())
        first.append_audit_event(sample_event())
        head = first.audit_head()
    assert head is not None
    with SQLiteBackend(path) as second:
        assert second.audit_head() == head
        appended = second.append_audit_event(sample_event(user_id="after-restart"))
        assert appended.sequence == 3
        assert appended.provenance_hash == expected_hash(appended, head.hash)
        report = second.verify_audit()
        assert (report.ok, report.events_checked) == (True, 3)


def test_async_restart_continues_the_sync_chain(tmp_path: Path) -> None:
    path = tmp_path / "trail.db"
    with SQLiteBackend(path) as sync_store:
        sync_store.append_audit_events([sample_event(), sample_event()])

    async def scenario() -> tuple[int | None, bool]:
        async with AsyncSQLiteBackend(path) as store:
            appended = await store.append_audit_event(sample_event(user_id="async"))
            return appended.sequence, (await store.verify_audit()).ok

    assert asyncio.run(scenario()) == (3, True)
    with SQLiteBackend(path) as reopened:
        assert [e.user_id for e in reopened.read_audit_events(after_sequence=2)] == ["async"]
        assert reopened.verify_audit().ok


def test_a_new_process_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "trail.db"
    with SQLiteBackend(path) as store:
        store.append_audit_event(sample_event())
    script = (
        "import sys\n"
        "from greenlang.auth.backends.sqlite import SQLiteBackend\n"
        "with SQLiteBackend(sys.argv[1]) as store:\n"
        "    print(store.log_audit_event({'event_type': 'child.wrote', 'result': 'success'}))\n"
    )
    child = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
    with SQLiteBackend(path) as store:
        events = store.read_audit_events()
        assert [(e.sequence, e.event_type) for e in events] == [(1, "access.checked"), (2, "child.wrote")]
        assert events[1].log_id == child.stdout.strip()
        assert store.verify_audit().ok
