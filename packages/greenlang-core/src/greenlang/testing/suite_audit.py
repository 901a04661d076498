"""Conformance checks for the audit trail, transactions, persistence and statistics."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import rfc8785

from greenlang.audit.bulk import CHUNK_RECORDS
from greenlang.audit.chain import ChainHead, link
from greenlang.audit.events import AuditEvent
from greenlang.audit.state import verify_policy_state
from greenlang.auth.backends.base import AuthBackend
from greenlang.errors import ConflictError, InputError, StoreError
from greenlang.testing.hooks import ConformanceHooks
from greenlang.testing.samples import (
    sample_assignment,
    sample_event,
    sample_permission,
    sample_policy,
    sample_role,
)
from greenlang.testing.suite_records import store_contents

__all__ = ["AuditChecks", "expected_hash"]

GENESIS = "0" * 64
STATISTICS_KEYS = {
    "permissions_count",
    "roles_count",
    "policies_count",
    "audit_logs_count",
    "active_policies",
    "cache_hits",
    "backend_operations",
    "backend_errors",
    "assignments_count",
    "cache_misses",
    "revision",
}
TAMPERED_FIELDS: list[tuple[str, Any]] = [
    ("event_type", "access.granted"),
    ("user_id", "mallory"),
    ("resource", "reports:other"),
    ("action", "delete"),
    ("result", "failure"),
    ("details", {"reason": "forged"}),
    ("timestamp", "2020-01-01T00:00:00.000000Z"),
    ("ip_address", "10.0.0.66"),
    ("user_agent", "curl/8.0"),
    ("session_id", "session-evil"),
    ("correlation_id", "corr-evil"),
    ("log_id", "00000000-0000-4000-8000-000000000000"),
    ("provenance_hash", "f" * 64),
    ("sequence", 99),
]


def expected_hash(event: AuditEvent, previous: str) -> str:
    """The chain formula, written out independently of ``greenlang.audit.chain``."""
    body = event.model_dump(mode="json")
    del body["provenance_hash"]
    body["previous_hash"] = previous
    return hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def _chain(backend: AuthBackend, count: int = 5) -> list[AuditEvent]:
    return [backend.append_audit_event(sample_event(user_id=f"user-{n}", session_id=f"s{n}")) for n in range(count)]


class AuditChecks(ConformanceHooks):
    # every policy write is audited in its own transaction -----------------------
    def test_every_policy_write_appends_exactly_one_audit_event_and_bumps_revision(self, backend: AuthBackend) -> None:
        state = {"head": 0, "revision": backend.revision()}

        def expect(event_type: str, resource: str, details_keys: set[str]) -> dict[str, Any]:
            new = backend.read_audit_events(after_sequence=state["head"])
            assert [(e.event_type, e.resource, e.user_id, e.result.value) for e in new] == [
                (event_type, resource, "alice", "success")
            ]
            assert details_keys <= set(new[0].details)
            revision = backend.revision()
            assert revision > state["revision"]
            state["head"], state["revision"] = new[0].sequence or 0, revision
            return new[0].details

        perm = backend.create_permission(sample_permission(), actor="alice")
        assert expect("permission.created", perm.permission_id, {"after"})["after"] == perm.model_dump(mode="json")
        perm2 = backend.update_permission(perm.replace(action="write"), actor="alice")
        details = expect("permission.updated", perm.permission_id, {"before", "after"})
        assert (details["before"]["action"], details["after"]["action"]) == ("read", "write")
        assert details["after"] == perm2.model_dump(mode="json")
        role = backend.create_role(sample_role("viewer", permissions=[perm.permission_id]), actor="alice")
        expect("role.created", role.role_id, {"after"})
        backend.update_role(role.replace(description="changed"), actor="alice")
        assert expect("role.updated", role.role_id, {"before", "after"})["after"]["description"] == "changed"
        policy = backend.create_policy(sample_policy("p1"), actor="alice")
        expect("policy.created", policy.policy_id, {"after"})
        backend.update_policy(policy.replace(priority=9), actor="alice")
        expect("policy.updated", policy.policy_id, {"before", "after"})
        grant = backend.create_assignment(sample_assignment(role.role_id), actor="alice")
        expect("assignment.created", grant.assignment_id, {"after"})
        backend.update_assignment(grant.replace(subject="user-9"), actor="alice")
        expect("assignment.updated", grant.assignment_id, {"before", "after"})
        assert backend.delete_assignment(grant.assignment_id, actor="alice")
        assert expect("assignment.deleted", grant.assignment_id, {"before"})["before"]["subject"] == "user-9"
        assert backend.delete_policy(policy.policy_id, actor="alice")
        expect("policy.deleted", policy.policy_id, {"before"})
        assert backend.delete_permission(perm.permission_id, actor="alice")
        expect("permission.deleted", perm.permission_id, {"before"})
        assert backend.delete_role(role.role_id, actor="alice")
        expect("role.deleted", role.role_id, {"before"})
        assert backend.verify_audit().ok

    def test_bulk_writes_append_one_event_per_chunk_listing_every_record(self, backend: AuthBackend) -> None:
        created = backend.bulk_create_permissions(
            [sample_permission(action=a) for a in ("read", "write", "export")], actor="loader"
        )
        events = backend.read_audit_events()
        assert [(e.event_type, e.resource, e.user_id, e.action) for e in events] == [
            ("permission.bulk_created", None, "loader", "create")
        ]
        assert events[0].details == {"created": [p.model_dump(mode="json") for p in created]}
        assert backend.revision() == 1
        assert backend.bulk_create_permissions([]) == []
        assert backend.read_audit_events(after_sequence=1) == []

    def test_a_large_bulk_create_is_split_into_chunks_in_order(self, backend: AuthBackend) -> None:
        created = backend.bulk_create_permissions(
            [sample_permission(resource=f"reports:{index}") for index in range(CHUNK_RECORDS * 2 + 5)]
        )
        events = backend.read_audit_events()
        sizes = [len(e.details["created"]) for e in events]
        assert len(events) >= 3
        assert all(0 < size <= CHUNK_RECORDS for size in sizes)
        listed = [record["permission_id"] for e in events for record in e.details["created"]]
        assert listed == [p.permission_id for p in created]
        assert backend.revision() == len(events)
        assert backend.verify_audit().ok

    def test_bulk_roles_policies_and_assignments_are_audited_per_chunk(self, backend: AuthBackend) -> None:
        roles = backend.bulk_create_roles([sample_role("r1"), sample_role("r2")])
        policies = backend.bulk_create_policies([sample_policy("p1")])
        assignments = backend.bulk_create_assignments([sample_assignment(r.role_id) for r in roles])
        events = backend.read_audit_events()
        keys = {"role": "role_id", "policy": "policy_id", "assignment": "assignment_id"}
        listed = [(e.event_type, [r[keys[e.event_type.split(".")[0]]] for r in e.details["created"]]) for e in events]
        assert listed == [
            ("role.bulk_created", [r.role_id for r in roles]),
            ("policy.bulk_created", [p.policy_id for p in policies]),
            ("assignment.bulk_created", [a.assignment_id for a in assignments]),
        ]

    def test_reads_change_neither_revision_nor_trail(self, backend: AuthBackend) -> None:
        perm = backend.create_permission(sample_permission())
        before = store_contents(backend)
        backend.get_permission(perm.permission_id)
        backend.list_permissions(scope="org:none")
        backend.load_policy_state()
        backend.verify_audit()
        backend.get_statistics()
        assert store_contents(backend) == before

    def test_policy_state_is_one_snapshot(self, backend: AuthBackend) -> None:
        perm = backend.create_permission(sample_permission())
        role = backend.create_role(sample_role("viewer", permissions=[perm.permission_id]))
        policy = backend.create_policy(sample_policy("p1"))
        grant = backend.create_assignment(sample_assignment(role.role_id))
        state = backend.load_policy_state()
        assert state.revision == backend.revision()
        assert list(state.permissions) == [perm]
        assert list(state.roles) == [role]
        assert list(state.policies) == [policy]
        assert list(state.assignments) == [grant]

    # atomic ------------------------------------------------------------------------
    def test_atomic_rollback_leaves_nothing_behind(self, backend: AuthBackend) -> None:
        backend.create_permission(sample_permission())
        before = store_contents(backend)

        def write_then_fail() -> None:
            with backend.atomic():
                perm = backend.create_permission(sample_permission(action="write"))
                role = backend.create_role(sample_role("viewer", permissions=[perm.permission_id]))
                backend.create_policy(sample_policy("p1"))
                backend.create_assignment(sample_assignment(role.role_id))
                backend.append_audit_event(sample_event())
                with backend.atomic():
                    backend.create_permission(sample_permission(action="export"))
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            write_then_fail()
        assert store_contents(backend) == before
        assert backend.verify_audit().ok

    def test_atomic_inner_failure_undoes_only_the_inner_block(self, backend: AuthBackend) -> None:
        def inner_block() -> None:
            with backend.atomic():
                backend.create_permission(sample_permission(action="write"))
                raise RuntimeError("inner")

        with backend.atomic():
            first = backend.create_permission(sample_permission(action="read"))
            with pytest.raises(RuntimeError, match="inner"):
                inner_block()
            with pytest.raises(ConflictError):
                backend.create_permission(sample_permission(permission_id=first.permission_id))
            last = backend.create_permission(sample_permission(action="export"))
        assert backend.list_permissions() == [first, last]
        assert [e.resource for e in backend.read_audit_events()] == [first.permission_id, last.permission_id]
        assert backend.verify_audit().ok

    def test_atomic_commits_the_whole_block(self, backend: AuthBackend) -> None:
        with backend.atomic():
            role = backend.create_role(sample_role("viewer"))
            grant = backend.create_assignment(sample_assignment(role.role_id))
        assert backend.list_assignments() == [grant]
        assert [e.event_type for e in backend.read_audit_events()] == ["role.created", "assignment.created"]

    # audit trail API -------------------------------------------------------------------
    def test_appended_events_follow_the_documented_hash_formula(self, backend: AuthBackend) -> None:
        events = _chain(backend, 4)
        previous = GENESIS
        for number, event in enumerate(events, start=1):
            assert event.sequence == number
            assert event.provenance_hash == expected_hash(event, previous)
            previous = event.provenance_hash
        assert backend.read_audit_events() == events
        head = backend.audit_head()
        assert head is not None
        assert (head.sequence, head.hash) == (4, previous)

    def test_audit_events_round_trip_exactly(self, backend: AuthBackend) -> None:
        event = sample_event(
            timestamp="2026-12-31T23:00:01.5+01:00",
            ip_address="2001:DB8::1",
            user_agent="Mozilla/5.0",
            correlation_id="corr-1",
            details={"nested": {"list": [1, 2.25, "x", None, True]}, "big": 2**53 - 1, "text": "日本語 \u2028"},
        )
        stored = backend.append_audit_event(event)
        [fetched] = backend.read_audit_events()
        assert fetched == stored
        assert fetched.timestamp.isoformat() == "2026-12-31T22:00:01.500000+00:00"
        assert fetched.ip_address == "2001:db8::1"
        assert fetched.provenance_hash == expected_hash(fetched, GENESIS)
        assert backend.verify_audit().ok

    def test_log_audit_event_returns_the_log_id(self, backend: AuthBackend) -> None:
        log_id = backend.log_audit_event(
            {
                "event_type": "permission.granted",
                "user_id": "user123",
                "resource": "emissions:data",
                "action": "read",
                "result": "success",
                "ip_address": "192.168.1.100",
            }
        )
        [stored] = backend.read_audit_events()
        assert stored.log_id == log_id
        assert (stored.event_type, stored.user_id, stored.ip_address) == (
            "permission.granted",
            "user123",
            "192.168.1.100",
        )

    def test_read_and_iterate_after_a_sequence(self, backend: AuthBackend) -> None:
        events = _chain(backend, 6)
        assert backend.read_audit_events(after_sequence=2, limit=3) == events[2:5]
        assert backend.read_audit_events(after_sequence=6) == []
        assert list(backend.iter_audit_events(after_sequence=4)) == events[4:]
        assert list(backend.iter_audit_events()) == events
        with pytest.raises(InputError):
            backend.read_audit_events(after_sequence=-1)
        with pytest.raises(InputError):
            backend.read_audit_events(limit=-1)

    def test_bad_audit_events_are_refused_and_nothing_is_appended(self, backend: AuthBackend) -> None:
        first = backend.append_audit_event(sample_event())
        before = store_contents(backend)
        with pytest.raises(InputError):
            backend.append_audit_event({"event_type": "x", "result": "maybe"})
        with pytest.raises(InputError):
            backend.append_audit_event({"event_type": "x", "result": "success", "ip_address": "999.1.1.1"})
        with pytest.raises(ConflictError):
            backend.append_audit_event(sample_event(log_id=first.log_id))
        with pytest.raises(InputError):
            backend.append_audit_events([sample_event(), {"event_type": "", "result": "success"}])
        assert store_contents(backend) == before

    def test_empty_trail_verifies(self, backend: AuthBackend) -> None:
        report = backend.verify_audit()
        assert (report.ok, report.events_checked, report.head) == (True, 0, None)
        assert backend.audit_head() is None

    def test_verify_reports_the_stored_head(self, backend: AuthBackend) -> None:
        _chain(backend, 3)
        backend.create_permission(sample_permission())
        report = backend.verify_audit()
        assert (report.ok, report.events_checked, report.first_bad_sequence) == (True, 4, None)
        assert report.head == backend.audit_head()

    # persistence -------------------------------------------------------------------------
    def test_chain_head_and_state_persist_across_reopen(self, backend: AuthBackend) -> None:
        perm = backend.create_permission(sample_permission())
        _chain(backend, 2)
        head, revision = backend.audit_head(), backend.revision()
        reopened = self.reopen(backend)
        try:
            assert reopened.audit_head() == head
            assert reopened.revision() == revision
            assert reopened.get_permission(perm.permission_id) == perm
            appended = reopened.append_audit_event(sample_event())
            assert appended.sequence == 4
            report = reopened.verify_audit()
            assert (report.ok, report.events_checked) == (True, 4)
        finally:
            reopened.close()

    def test_closed_store_refuses_work_and_closes_twice(self, backend: AuthBackend) -> None:
        backend.close()
        backend.close()
        with pytest.raises(StoreError):
            backend.list_permissions()

    # tamper evidence ---------------------------------------------------------------------------
    @pytest.mark.parametrize(("field", "value"), TAMPERED_FIELDS, ids=[f for f, _ in TAMPERED_FIELDS])
    def test_changing_any_field_is_caught_at_that_sequence(self, backend: AuthBackend, field: str, value: Any) -> None:
        _chain(backend, 5)
        self.tamper(backend, 3, field, value)
        report = backend.verify_audit()
        assert (report.ok, report.first_bad_sequence) == (False, 3)

    @pytest.mark.parametrize("sequence", [1, 5])
    def test_changing_the_first_or_last_event_is_caught(self, backend: AuthBackend, sequence: int) -> None:
        _chain(backend, 5)
        self.tamper(backend, sequence, "details", {"reason": "rewritten"})
        report = backend.verify_audit()
        assert (report.ok, report.first_bad_sequence) == (False, sequence)

    @pytest.mark.parametrize("sequence", [1, 3, 5])
    def test_deleting_an_event_is_caught(self, backend: AuthBackend, sequence: int) -> None:
        _chain(backend, 5)
        self.delete_raw_event(backend, sequence)
        report = backend.verify_audit()
        assert (report.ok, report.first_bad_sequence) == (False, sequence)

    @pytest.mark.parametrize(("first", "second"), [(1, 5), (2, 3), (4, 5)])
    def test_swapping_events_is_caught(self, backend: AuthBackend, first: int, second: int) -> None:
        _chain(backend, 5)
        self.swap_raw_events(backend, first, second)
        report = backend.verify_audit()
        assert (report.ok, report.first_bad_sequence) == (False, first)

    def test_inserting_a_forged_event_is_caught(self, backend: AuthBackend) -> None:
        _chain(backend, 5)
        self.insert_raw_event(backend, sample_event(user_id="mallory").replace(sequence=3, provenance_hash="a" * 64))
        report = backend.verify_audit()
        assert (report.ok, report.first_bad_sequence) == (False, 3)

    def test_inserting_a_correctly_linked_event_is_caught_after_it(self, backend: AuthBackend) -> None:
        events = _chain(backend, 5)
        second = events[1]
        assert second.sequence is not None
        assert second.provenance_hash is not None
        forged = link(sample_event(user_id="mallory"), ChainHead(second.sequence, second.provenance_hash))
        self.insert_raw_event(backend, forged)
        report = backend.verify_audit()
        assert (report.ok, report.first_bad_sequence) == (False, 4)

    def test_appending_past_the_head_is_caught(self, backend: AuthBackend) -> None:
        _chain(backend, 5)
        head = backend.audit_head()
        assert head is not None
        self.insert_raw_event(backend, link(sample_event(user_id="mallory"), head))
        report = backend.verify_audit()
        assert (report.ok, report.first_bad_sequence) == (False, 6)

    # statistics ---------------------------------------------------------------------------------------
    def test_the_trail_replays_to_the_stored_policy_state(self, backend: AuthBackend) -> None:
        parent = backend.create_role(sample_role("parent"))
        permission = backend.create_permission(sample_permission())
        kept = backend.create_permission(sample_permission(action="write"))
        child = backend.create_role(
            sample_role(
                "child", parent_roles=[parent.role_id], permissions=[permission.permission_id, kept.permission_id]
            )
        )
        backend.create_assignment(sample_assignment(parent.role_id))
        backend.create_assignment(sample_assignment(child.role_id, "user-2"))
        backend.create_policy(sample_policy("p"))
        backend.update_role(child.replace(description="changed"))
        backend.delete_permission(permission.permission_id)
        backend.delete_role(parent.role_id)
        other = backend.create_role(sample_role("other"))
        report = verify_policy_state(backend)
        assert report.ok, report.summary()
        assert report.records_checked == 5  # kept, child, other, the policy, user-2's assignment
        self.force_role_parents(backend, child.role_id, [other.role_id])
        tampered = verify_policy_state(backend)
        assert not tampered.ok
        assert tampered.problem is not None
        assert tampered.problem.startswith(f"role {child.role_id}: parent_roles is")

    def test_statistics_count_rows_and_operations(self, backend: AuthBackend) -> None:
        perms = backend.bulk_create_permissions([sample_permission(), sample_permission(action="write")])
        role = backend.create_role(sample_role("viewer", permissions=[perms[0].permission_id]))
        backend.create_policy(sample_policy("on"))
        backend.create_policy(sample_policy("off", enabled=False))
        backend.create_policy(sample_policy("expired", expires_at="2001-01-01T00:00:00Z"))
        backend.create_assignment(sample_assignment(role.role_id))
        backend.append_audit_event(sample_event())
        stats = backend.get_statistics()
        assert set(stats) >= STATISTICS_KEYS
        counts = {
            key: stats[key] for key in ("permissions_count", "roles_count", "policies_count", "assignments_count")
        }
        assert counts == {"permissions_count": 2, "roles_count": 1, "policies_count": 3, "assignments_count": 1}
        assert stats["audit_logs_count"] == 7  # 1 bulk permission write, 5 single writes, 1 appended event
        assert stats["active_policies"] == 1
        assert stats["revision"] == backend.revision()
        with pytest.raises(ConflictError):
            backend.create_role(sample_role("viewer"))
        after = backend.get_statistics()
        assert after["backend_errors"] - stats["backend_errors"] == 1
        assert after["backend_operations"] - stats["backend_operations"] >= 2
        assert stats["backend_operations"] >= 7
        assert after["cache_hits"] >= 0
        assert after["cache_misses"] >= 0
