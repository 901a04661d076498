"""Several writers on one file (threads, backend objects, processes) keep one linear audit chain."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.testing.samples import sample_event, sample_permission

CHILD = """
import sys
from greenlang.auth.backends.sqlite import SQLiteBackend
with SQLiteBackend(sys.argv[1]) as store:
    for n in range(int(sys.argv[3])):
        store.append_audit_event({"event_type": "child.event", "result": "success", "user_id": sys.argv[2]})
        if n % 5 == 0:
            permission = {"resource": "emissions:data", "action": "read", "effect": "allow"}
            store.create_permission(permission, actor=sys.argv[2])
"""


def _assert_linear(store: SQLiteBackend, expected_events: int) -> None:
    report = store.verify_audit()
    assert (report.ok, report.events_checked) == (True, expected_events)
    assert [e.sequence for e in store.iter_audit_events()] == list(range(1, expected_events + 1))


def test_uncommitted_atomic_block_is_invisible_to_another_object(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    with SQLiteBackend(path) as writer, SQLiteBackend(path) as reader:
        with writer.atomic():
            perm = writer.create_permission(sample_permission())
            assert writer.get_permission(perm.permission_id) == perm
            assert reader.get_permission(perm.permission_id) is None
            assert reader.revision() == 0
        assert reader.get_permission(perm.permission_id) == perm
        assert reader.revision() == 1


def test_two_objects_on_one_file_share_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    with SQLiteBackend(path) as first, SQLiteBackend(path) as second:
        for n in range(10):
            (first if n % 2 else second).append_audit_event(sample_event(user_id=f"u{n}"))
        first.create_permission(sample_permission())
        second.create_permission(sample_permission())
        assert [e.user_id for e in first.read_audit_events(limit=10)] == [f"u{n}" for n in range(10)]
        assert second.revision() == 2
        _assert_linear(first, 12)


def test_threads_on_shared_and_separate_objects_keep_the_chain_linear(tmp_path: Path) -> None:
    path = tmp_path / "threads.db"
    errors: list[BaseException] = []
    with SQLiteBackend(path) as shared, SQLiteBackend(path) as other:

        def work(store: SQLiteBackend, name: str) -> None:
            try:
                for n in range(30):
                    store.append_audit_event(sample_event(user_id=name))
                    if n % 10 == 0:
                        store.create_permission(sample_permission())
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(shared if i < 3 else other, f"t{i}")) for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert shared.revision() == 15
        assert len(shared.list_permissions()) == 15
        _assert_linear(shared, 5 * 30 + 15)


def test_processes_appending_concurrently_keep_the_chain_linear(tmp_path: Path) -> None:
    path = tmp_path / "processes.db"
    SQLiteBackend(path).close()
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(path), f"child-{n}", "150"], stderr=subprocess.PIPE)
        for n in range(2)
    ]
    with SQLiteBackend(path) as parent:
        while parent.audit_head() is None and all(child.poll() is None for child in children):
            pass  # start appending only once a child is writing, so the writers overlap
        for _ in range(150):
            parent.append_audit_event(sample_event(user_id="parent"))
        for child in children:
            _, stderr = child.communicate(timeout=120)
            assert child.returncode == 0, stderr.decode()
        users = [e.user_id for e in parent.iter_audit_events()]
        assert {user: users.count(user) for user in set(users)} == {"parent": 150, "child-0": 180, "child-1": 180}
        assert parent.revision() == 60
        _assert_linear(parent, 510)


def test_policy_state_is_a_consistent_snapshot_under_a_concurrent_writer(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.db"
    with SQLiteBackend(path) as writer, SQLiteBackend(path) as reader:
        done = threading.Event()

        def write() -> None:
            try:
                for _ in range(60):
                    writer.create_permission(sample_permission())
            finally:
                done.set()

        thread = threading.Thread(target=write)
        thread.start()
        snapshots = 0
        while not done.is_set() or snapshots == 0:
            state = reader.load_policy_state()
            assert len(state.permissions) == state.revision
            snapshots += 1
        thread.join()
        final = reader.load_policy_state()
        assert (final.revision, len(final.permissions)) == (60, 60)
