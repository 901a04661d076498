"""What only the SQLite store promises: its file, its pragmas, its text formats, its transactions."""

from __future__ import annotations

import inspect
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from greenlang.audit.chain import GENESIS_HASH
from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.errors import InputError, NotFoundError, StoreError
from greenlang.model import Record
from greenlang.testing import expected_hash, store_contents
from greenlang.testing.samples import sample_assignment, sample_event, sample_permission, sample_role
from greenlang.testing.sqlite import raw_rows


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def backend(path: Path) -> Iterator[SQLiteBackend]:
    with SQLiteBackend(path) as store:
        yield store


def test_default_path_is_GREENLANG_DB_with_parents_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a" / "b" / "gl.db"
    monkeypatch.setenv("GREENLANG_DB", str(target))
    with SQLiteBackend() as store:
        assert store.path == str(target)
        store.create_permission(sample_permission())
    assert target.is_file()


def test_default_path_without_env_is_in_the_user_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREENLANG_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    with SQLiteBackend() as store:
        assert Path(store.path) == tmp_path / "xdg" / "greenlang" / "greenlang.db"
    assert (tmp_path / "xdg" / "greenlang" / "greenlang.db").is_file()


def test_file_uses_wal_and_the_connection_enforces_foreign_keys(backend: SQLiteBackend, path: Path) -> None:
    with raw_rows(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    own = backend._connection()
    assert own.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert own.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    with pytest.raises(sqlite3.IntegrityError):
        own.execute(
            "INSERT INTO role_assignments (assignment_id, subject, role_id, created_at) VALUES ('a', 's', 'nope', 'x')"
        )


def test_memory_store_works_and_is_private() -> None:
    with SQLiteBackend(":memory:") as first, SQLiteBackend(":memory:") as second:
        first.create_permission(sample_permission())
        assert len(first.list_permissions()) == 1
        assert second.list_permissions() == []
        assert first.path == ":memory:"


def test_timestamps_are_stored_as_isoformat_text_and_the_hash_recomputes(backend: SQLiteBackend, path: Path) -> None:
    perm = backend.create_permission(sample_permission(created_at="2026-12-31T23:00:01.25+01:00"))
    event = backend.append_audit_event(sample_event(timestamp=datetime(2026, 7, 1, 12, 0, 0, 5)))
    with raw_rows(path) as conn:
        created = conn.execute("SELECT created_at FROM permissions").fetchone()[0]
        stamp, detail_text, stored_hash = conn.execute(
            "SELECT timestamp, details, provenance_hash FROM audit_logs WHERE sequence = 2"
        ).fetchone()
    assert created == "2026-12-31T22:00:01.250000Z"
    assert stamp == "2026-07-01T12:00:00.000005Z"
    assert json.loads(detail_text) == event.details
    [_, fetched] = backend.read_audit_events()
    assert fetched == event
    first_hash = backend.read_audit_events(limit=1)[0].provenance_hash
    assert first_hash is not None
    assert stored_hash == expected_hash(fetched, first_hash)
    assert backend.get_permission(perm.permission_id) == perm


def test_newer_schema_is_refused(path: Path) -> None:
    SQLiteBackend(path).close()
    with raw_rows(path) as conn:
        conn.execute("UPDATE meta SET value = 99 WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="upgrade greenlang-core"):
        SQLiteBackend(path)


def test_a_file_that_is_not_a_database_is_refused(path: Path) -> None:
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="GreenLang database"):
        SQLiteBackend(path)


def test_closed_store_and_context_manager(path: Path) -> None:
    with SQLiteBackend(path) as store:
        store.create_permission(sample_permission())
    with pytest.raises(StoreError, match="closed"):
        store.list_permissions()
    store.close()
    assert "store.db" in repr(store)


def test_case_A6_failure_between_delete_and_insert_of_a_replace_changes_nothing(
    backend: SQLiteBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = backend.create_permission(sample_permission(action="read"))
    role = backend.create_role(sample_role("viewer", permissions=[old.permission_id]))
    backend.create_assignment(sample_assignment(role.role_id))
    before = store_contents(backend)
    calls = {"insert": 0}
    real_insert = SQLiteBackend._insert

    def failing_insert(self: SQLiteBackend, conn: sqlite3.Connection, table: Any, record: Record) -> None:
        calls["insert"] += 1
        if calls["insert"] == 2:
            raise OSError("disk unplugged")
        real_insert(self, conn, table, record)

    monkeypatch.setattr(SQLiteBackend, "_insert", failing_insert)

    def replace_permissions() -> None:
        with backend.atomic():
            assert backend.delete_permission(old.permission_id) is True
            first, _ = backend.bulk_create_permissions(
                [sample_permission(action="write"), sample_permission(action="x")]
            )
            backend.update_role(role.replace(permissions=[first.permission_id]))

    with pytest.raises(OSError, match="disk unplugged"):
        replace_permissions()
    assert calls["insert"] == 2
    assert store_contents(backend) == before
    assert backend.verify_audit().ok


def test_a_failing_write_outside_atomic_leaves_nothing(backend: SQLiteBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    backend.create_permission(sample_permission())
    before = store_contents(backend)
    real_insert = SQLiteBackend._insert
    seen: list[str] = []

    def failing_insert(self: SQLiteBackend, conn: sqlite3.Connection, table: Any, record: Record) -> None:
        seen.append(table.name)
        if len(seen) == 3:
            raise RuntimeError("injected")
        real_insert(self, conn, table, record)

    monkeypatch.setattr(SQLiteBackend, "_insert", failing_insert)
    with pytest.raises(RuntimeError, match="injected"):
        backend.bulk_create_permissions([sample_permission(action=a) for a in ("a", "b", "c", "d")])
    assert seen == ["permissions"] * 3
    assert store_contents(backend) == before


def test_delete_unlinks_ids_exactly_even_with_like_wildcards(backend: SQLiteBackend) -> None:
    underscore = backend.create_permission(sample_permission(permission_id="perm_a"))
    lookalike = backend.create_permission(sample_permission(permission_id="permXa"))
    one = backend.create_role(sample_role("one", permissions=[underscore.permission_id]))
    two = backend.create_role(sample_role("two", permissions=[lookalike.permission_id]))
    backend.delete_permission("perm_a", actor="alice")
    assert backend.get_role(one.role_id).permissions == []  # type: ignore[union-attr]
    assert backend.get_role(two.role_id) == two
    [event] = backend.read_audit_events(after_sequence=4)
    assert event.details["removed_from_roles"] == [one.role_id]


def test_delete_role_records_what_it_cascaded(backend: SQLiteBackend) -> None:
    parent = backend.create_role(sample_role("viewer"))
    child = backend.create_role(sample_role("editor", parent_roles=[parent.role_id]))
    grant = backend.create_assignment(sample_assignment(parent.role_id))
    backend.delete_role(parent.role_id, actor="alice")
    [event] = backend.read_audit_events(after_sequence=3)
    assert event.event_type == "role.deleted"
    assert event.details["removed_from_parents_of"] == [child.role_id]
    assert event.details["deleted_assignments"] == [grant.model_dump(mode="json")]
    assert event.details["before"] == parent.model_dump(mode="json")


def test_injected_clock_stamps_events_and_updates(path: Path) -> None:
    moments = iter(datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=n) for n in range(100))
    with SQLiteBackend(path, clock=lambda: next(moments)) as store:
        perm = store.create_permission({"resource": "a", "action": "read", "effect": "allow"})
        assert perm.created_at == datetime(2030, 1, 1, tzinfo=UTC)
        updated = store.update_permission(perm.replace(action="write"))
        events = store.read_audit_events()
    # clock calls: created_at, create event, updated_at, update event
    assert [e.timestamp.second for e in events] == [1, 3]
    assert updated.updated_at == datetime(2030, 1, 1, 0, 0, 2, tzinfo=UTC)


def test_iter_audit_events_streams_page_by_page(backend: SQLiteBackend) -> None:
    backend.append_audit_events([sample_event(user_id=f"u{n}") for n in range(1234)])
    stream = backend.iter_audit_events()
    lazy = inspect.isgenerator(stream)
    assert lazy
    first = next(stream)
    backend.append_audit_event(sample_event(user_id="late"))
    rest = list(stream)
    assert [first.sequence, *(e.sequence for e in rest)] == list(range(1, 1236))
    assert rest[-1].user_id == "late"
    assert len(list(backend.iter_audit_events(after_sequence=1000))) == 235


def test_verify_names_a_row_that_no_longer_parses(backend: SQLiteBackend, path: Path) -> None:
    backend.append_audit_events([sample_event(), sample_event(), sample_event()])
    with raw_rows(path) as conn:
        conn.execute("UPDATE audit_logs SET details = 'not json' WHERE sequence = 2")
    report = backend.verify_audit()
    assert (report.ok, report.first_bad_sequence, report.events_checked) == (False, 2, 1)
    with pytest.raises(StoreError, match="invalid JSON"):
        backend.read_audit_events()


def test_statistics_count_exactly(backend: SQLiteBackend) -> None:
    assert backend.get_statistics()["backend_operations"] == 0
    backend.create_permission(sample_permission())
    backend.get_permission("perm_missing")
    with pytest.raises(NotFoundError):
        backend.update_permission(sample_permission())
    with pytest.raises(InputError):
        backend.list_roles(limit=-1)
    stats = backend.get_statistics()
    assert (stats["backend_operations"], stats["backend_errors"]) == (4, 2)
    assert (stats["cache_hits"], stats["cache_misses"]) == (0, 0)
    assert (stats["revision"], stats["audit_logs_count"]) == (1, 1)


def test_bulk_input_must_be_a_list(backend: SQLiteBackend) -> None:
    with pytest.raises(InputError, match="list"):
        backend.bulk_create_permissions({"resource": "a"})  # type: ignore[arg-type]
    with pytest.raises(InputError, match="Permission or a mapping"):
        backend.create_permission(sample_role("x"))  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"permission\[1\]\.effect"):
        backend.bulk_create_permissions([sample_permission(), {"resource": "a", "action": "r", "effect": "no"}])


def test_actor_that_is_too_long_refuses_the_write(backend: SQLiteBackend) -> None:
    with pytest.raises(InputError, match="user_id"):
        backend.create_permission(sample_permission(), actor="x" * 300)
    assert store_contents(backend)["permissions"] == []


def test_first_event_links_to_genesis(backend: SQLiteBackend) -> None:
    event = backend.append_audit_event(sample_event())
    assert event.provenance_hash == expected_hash(event, GENESIS_HASH)


@pytest.mark.parametrize("filters", [{}, {"scope": ""}, {"scope": "  ", "resource": None}, {"resource": ""}])
def test_case_A4_empty_bulk_delete_says_what_to_give(backend: SQLiteBackend, filters: dict[str, Any]) -> None:
    backend.create_permission(sample_permission(scope="org:acme"))
    with pytest.raises(InputError, match=r"^refusing to delete every permission; give scope or resource$"):
        backend.delete_permissions(**filters)
    with pytest.raises(InputError, match="filter scope must be a non-empty string"):
        backend.delete_permissions(scope="", resource="emissions:org-1:**")
    assert len(backend.list_permissions()) == 1


def test_policy_state_is_reused_only_at_the_same_committed_revision(backend: SQLiteBackend, path: Path) -> None:
    first = backend.load_policy_state()
    assert backend.load_policy_state() is first
    other = SQLiteBackend(path)  # a second writer, as another process would be
    try:
        other.create_role({"role_name": "from-elsewhere"})
    finally:
        other.close()
    fresh = backend.load_policy_state()
    assert fresh is not first
    assert [role.role_name for role in fresh.roles] == ["from-elsewhere"]
    with backend.atomic():
        backend.create_role({"role_name": "pending"})
        inside = backend.load_policy_state()
        assert {role.role_name for role in inside.roles} == {"from-elsewhere", "pending"}
        assert backend.load_policy_state() is not inside  # uncommitted state is never kept
    stats = backend.get_statistics()
    assert (stats["cache_hits"], stats["cache_misses"]) == (1, 2)
    assert stats["cache_hit_rate"] == 1 / 3


def test_rolled_back_state_is_never_served(backend: SQLiteBackend) -> None:
    def write_read_and_fail() -> None:
        with backend.atomic():
            backend.create_role({"role_name": "ghost"})
            backend.load_policy_state()
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        write_read_and_fail()
    backend.create_role({"role_name": "real"})
    assert [role.role_name for role in backend.load_policy_state().roles] == ["real"]
