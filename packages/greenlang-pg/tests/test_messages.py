"""What the backend says when the database refuses something: the record, the value, and what to do."""

from __future__ import annotations

import subprocess
import sys

import pytest
from stores import Store

from greenlang.errors import DuplicateError, StoreError
from greenlang.testing.samples import sample_permission
from greenlang_pg import DatabaseConfig, migrate
from greenlang_pg.testing import TestServer
from greenlang_pg.testing.conformance import raw_connection


def test_a_taken_id_in_a_bulk_load_is_named(store: Store) -> None:
    taken = store.create_permission(sample_permission())
    batch = [sample_permission(resource=f"reports:{i}") for i in range(30)]
    batch[17] = batch[17].replace(permission_id=taken.permission_id)
    with pytest.raises(
        DuplicateError, match=rf"a permission with permission_id '{taken.permission_id}' already exists"
    ):
        store.bulk_create_permissions(batch)
    assert [p.permission_id for p in store.list_permissions()] == [taken.permission_id]


def test_a_deleted_chain_head_is_reported_without_a_false_remedy(store: Store) -> None:
    store.append_audit_event({"event_type": "report.read", "result": "success"})
    with raw_connection(store) as conn:
        conn.execute("DELETE FROM audit_chain_head")
    with pytest.raises(StoreError, match="chain head row was deleted outside greenlang") as caught:
        store.append_audit_event({"event_type": "report.read", "result": "success"})
    assert "db upgrade" not in str(caught.value)


def test_replicas_upgrading_at_once_take_turns(pg_server: TestServer, empty_pg_config: DatabaseConfig) -> None:
    script = (
        "import sys\n"
        "from greenlang_pg import DatabaseConfig, migrate\n"
        "migrate.upgrade(DatabaseConfig(url=sys.argv[1]))\n"
    )
    assert empty_pg_config.database is not None
    dsn = pg_server.dsn(empty_pg_config.database)
    runs = [subprocess.Popen([sys.executable, "-c", script, dsn], stderr=subprocess.PIPE) for _ in range(3)]
    failures = [run.stderr.read().decode() for run in runs if run.wait(120) != 0]  # type: ignore[union-attr]
    assert failures == []
    assert migrate.current(empty_pg_config).strip() == "003 (head)"


def test_an_os_error_of_the_callers_own_is_not_blamed_on_the_database(store: Store) -> None:
    def export_to_a_closed_pipe() -> None:  # as `greenlang audit export | head` does
        with store.atomic():
            store.create_permission(sample_permission())
            raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(BrokenPipeError):
        export_to_a_closed_pipe()
    assert store.list_permissions() == []
