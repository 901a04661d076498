"""``max_staleness``: how often an authorizer asks the store for its revision, and what it answers meanwhile."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from greenlang.auth.backends.sqlite import AsyncSQLiteBackend, SQLiteBackend
from greenlang.auth.engine import AsyncAuthorizer, Authorizer
from greenlang.auth.permissions import Permission
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.errors import InputError


class CountedRevisions:
    """A real SQLite store, counting the revision reads an authorizer makes."""

    def __init__(self, backend: SQLiteBackend) -> None:
        self.backend = backend
        self.asked = 0

    def revision(self) -> int:
        self.asked += 1
        return self.backend.revision()

    def load_policy_state(self) -> object:
        return self.backend.load_policy_state()


def _reader(backend: SQLiteBackend, subject: str) -> None:
    permission = backend.create_permission(Permission(resource="reports:**", action="read", effect="allow"))
    role = backend.create_role(Role(role_name=f"reader-{subject}", permissions=[permission.permission_id]))
    backend.create_assignment(RoleAssignment(subject=subject, role_id=role.role_id))


@pytest.fixture
def store(tmp_path: Path) -> SQLiteBackend:
    backend = SQLiteBackend(tmp_path / "policy.db")
    _reader(backend, "alice")
    return backend


def test_by_default_every_check_sees_the_last_write(store: SQLiteBackend) -> None:
    counted = CountedRevisions(store)
    authorizer = Authorizer(counted)
    assert not authorizer.check("bob", "read", "reports:q1").allowed
    _reader(store, "bob")
    assert authorizer.check("bob", "read", "reports:q1").allowed
    assert counted.asked == 1  # the first check loads without asking; each later one asks


def test_within_max_staleness_the_store_is_not_asked_and_answers_may_lag(store: SQLiteBackend) -> None:
    counted = CountedRevisions(store)
    authorizer = Authorizer(counted, max_staleness=3600)
    for _ in range(50):
        assert authorizer.check("alice", "read", "reports:q1").allowed
    assert counted.asked == 0  # the load itself read the revision
    _reader(store, "bob")
    lagging = authorizer.check("bob", "read", "reports:q1")
    assert not lagging.allowed
    assert lagging.revision < store.revision()
    authorizer.reload()
    assert authorizer.check("bob", "read", "reports:q1").allowed


def test_max_staleness_expires(store: SQLiteBackend) -> None:
    counted = CountedRevisions(store)
    authorizer = Authorizer(counted, max_staleness=0.05)
    authorizer.check("alice", "read", "reports:q1")
    _reader(store, "bob")
    time.sleep(0.06)
    assert authorizer.check("bob", "read", "reports:q1").allowed
    assert counted.asked == 1


def test_async_authorizer_honours_max_staleness(tmp_path: Path) -> None:
    async def scenario() -> tuple[bool, bool]:
        backend = AsyncSQLiteBackend(tmp_path / "policy.db")
        try:
            permission = await backend.create_permission(
                Permission(resource="reports:**", action="read", effect="allow")
            )
            role = await backend.create_role(Role(role_name="reader", permissions=[permission.permission_id]))
            authorizer = AsyncAuthorizer(backend, max_staleness=3600)
            before = (await authorizer.check("bob", "read", "reports:q1")).allowed
            await backend.create_assignment(RoleAssignment(subject="bob", role_id=role.role_id))
            lagging = (await authorizer.check("bob", "read", "reports:q1")).allowed
            await authorizer.reload()
            return before or lagging, (await authorizer.check("bob", "read", "reports:q1")).allowed
        finally:
            await backend.close()

    stale, fresh = asyncio.run(scenario())
    assert not stale
    assert fresh


@pytest.mark.parametrize("bad", [-1, float("nan"), 3601, True, "1"])
def test_max_staleness_out_of_range_is_refused_in_a_sentence(store: SQLiteBackend, bad: object) -> None:
    with pytest.raises(InputError, match=r"^max_staleness must be seconds from 0 .* to 3600$"):
        Authorizer(store, max_staleness=bad)  # type: ignore[arg-type]
