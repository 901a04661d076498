"""Does the stored policy state equal what the audit trail says it should be?

The hash chain protects the trail. The policy tables are not chained, so a
direct edit (``UPDATE permissions SET effect = 'allow'``) would leave the chain
intact. Every policy write records its record as it was after the write
(``details.after``) and what a delete cascaded, so replaying the trail gives the
state the store must hold; any difference is reported. It works over any
backend, through the public protocol only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from greenlang.audit.bulk import BULK_VERB
from greenlang.audit.events import AuditEvent
from greenlang.auth.backends.base import AuthBackend, PolicyState
from greenlang.errors import StoreError

__all__ = ["Replayed", "StateReport", "replay", "verify_policy_state", "compare_state"]

KINDS = {
    "permission": ("permission_id", "permissions"),
    "role": ("role_id", "roles"),
    "policy": ("policy_id", "policies"),
    "assignment": ("assignment_id", "assignments"),
}
VERBS = ("created", "updated", "deleted", BULK_VERB)

State = dict[str, dict[str, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class StateReport:
    ok: bool
    records_checked: int
    problem: str | None = None

    def summary(self) -> str:
        if self.ok:
            return f"policy state matches the audit trail: {self.records_checked} records"
        return f"policy state differs from the audit trail: {self.problem}"


@dataclass
class Replayed:
    """The records the trail says exist, and how many policy writes it holds (the expected revision)."""

    records: State
    writes: int


def replay(events: Iterable[AuditEvent]) -> Replayed:
    """Apply every policy write in the trail, in order, to an empty state.

    An event counts as a policy write only when its details have the shape
    greenlang writes (``after``, ``before``, ``created``); an event from another
    tool that merely shares a name (a seed-era ``role.updated``) is not one.
    """
    state: State = {kind: {} for kind in KINDS}
    writes = 0
    for event in events:
        kind, _, verb = event.event_type.partition(".")
        if kind not in KINDS or verb not in VERBS:
            continue
        details = event.details
        if verb == BULK_VERB:
            created = details.get("created")
            if not isinstance(created, list) or not all(isinstance(record, dict) for record in created):
                continue
            writes += 1
            key = KINDS[kind][0]
            for record in created:
                state[kind][record[key]] = dict(record)
            continue
        if event.resource is None:
            continue
        if verb != "deleted":
            after = details.get("after")
            if not isinstance(after, dict):
                continue
            writes += 1
            state[kind][event.resource] = dict(after)
            continue
        if not isinstance(details.get("before"), dict):
            continue
        writes += 1
        state[kind].pop(event.resource, None)
        when = details.get("cascaded_at")
        for field, role_ids in (("permissions", "removed_from_roles"), ("parent_roles", "removed_from_parents_of")):
            for role_id in details.get(role_ids, []):
                role = state["role"].get(role_id)
                if role is not None:
                    role[field] = [item for item in role[field] if item != event.resource]
                    role["updated_at"] = when
        for assignment in details.get("deleted_assignments", []):
            state["assignment"].pop(assignment["assignment_id"], None)
    return Replayed(state, writes)


def compare_state(replayed: Replayed, stored: PolicyState) -> StateReport:
    """Name the first record whose stored form differs from the replayed one."""
    if stored.revision != replayed.writes:
        return StateReport(
            False, 0, f"the store's revision is {stored.revision} but the trail holds {replayed.writes} policy writes"
        )
    expected = replayed.records
    checked = 0
    for kind, (key, attribute) in KINDS.items():
        rows: Mapping[str, dict[str, Any]] = {
            getattr(record, key): record.model_dump(mode="json") for record in getattr(stored, attribute)
        }
        wanted = expected[kind]
        for record_id in sorted(rows.keys() - wanted.keys()):
            return StateReport(False, checked, f"{kind} {record_id} is stored but the trail never created it")
        for record_id in sorted(wanted.keys() - rows.keys()):
            return StateReport(False, checked, f"{kind} {record_id} is missing but the trail says it exists")
        for record_id in sorted(rows):
            checked += 1
            difference = _first_difference(rows[record_id], wanted[record_id])
            if difference is not None:
                return StateReport(False, checked, f"{kind} {record_id}: {difference}")
    return StateReport(True, checked)


def _first_difference(stored: dict[str, Any], expected: dict[str, Any]) -> str | None:
    for field in sorted(stored.keys() | expected.keys()):
        if field == "provenance_hash":
            continue  # derived from the other fields, which are compared
        if stored.get(field) != expected.get(field):
            return f"{field} is {stored.get(field)!r} but the trail says {expected.get(field)!r}"
    return None


def verify_policy_state(backend: AuthBackend) -> StateReport:
    """Replay the whole trail and compare it with the stored policy state."""
    try:
        with backend.atomic():
            return compare_state(replay(backend.iter_audit_events()), backend.load_policy_state())
    except StoreError as exc:  # a row edited into a form that no longer loads is tampering too
        return StateReport(False, 0, str(exc))
