"""Property tests: any change to a stored trail is caught, at exactly the first sequence it breaks.

The expected sequence comes from a small model of the stored rows (which
original event sits at which sequence), not from ``greenlang.audit.chain``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from greenlang.audit.chain import ChainHead, link
from greenlang.audit.events import AuditEvent
from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.testing.sqlite import delete_event, insert_event, swap_events, tamper_event
from greenlang.timeutil import isoformat

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

no_nul = st.characters(codec="utf-8", exclude_characters="\x00")  # records refuse NUL; tampered rows may hold one
json_scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(no_nul, max_size=8)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(no_nul, max_size=5), inner, max_size=3),
    max_leaves=6,
)
details = st.dictionaries(st.text(no_nul, max_size=6), json_values, max_size=4)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
names = st.from_regex(r"[a-z][a-z0-9.]{0,12}", fullmatch=True)
ipv4 = st.ip_addresses(v=4).map(str)

events = st.builds(
    AuditEvent,
    event_type=names,
    user_id=st.none() | st.text(no_nul, min_size=1, max_size=10),
    resource=st.none() | names,
    action=st.none() | names,
    result=st.sampled_from(["success", "failure", "error"]),
    details=details,
    timestamp=times,
    ip_address=st.none() | ipv4,
    session_id=st.none() | names,
)
trails = st.lists(events, min_size=1, max_size=7, unique_by=lambda e: e.log_id)

NEW_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "event_type": names,
    "user_id": st.none() | st.text(min_size=1, max_size=10),
    "resource": st.none() | names,
    "action": st.none() | names,
    "result": st.sampled_from(["success", "failure", "error"]),
    "details": details,
    "timestamp": times.map(isoformat),
    "ip_address": st.none() | ipv4,
    "user_agent": st.none() | st.text(min_size=1, max_size=10),
    "session_id": st.none() | names,
    "correlation_id": st.none() | names,
    "log_id": st.uuids().map(str),
    "provenance_hash": st.text("0123456789abcdef", min_size=64, max_size=64),
    "sequence": st.integers(-3, 0) | st.integers(100, 200),
}


@dataclass
class Row:
    """A stored row: which original event it holds (``None``: a forgery no link can match) and its sequence."""

    sequence: int
    original: int | None


def expected_first_bad(rows: list[Row], head_sequence: int) -> int | None:
    """Walk rows in stored order as a verifier must; a row is good only if it is original event ``position``."""
    ordered = sorted(rows, key=lambda row: row.sequence)
    for position, row in enumerate(ordered, start=1):
        if row.sequence != position or row.original != position:
            return position
    if len(ordered) != head_sequence:
        return min(len(ordered), head_sequence) + 1
    return None


def _store(directory: str, trail: list[AuditEvent]) -> SQLiteBackend:
    backend = SQLiteBackend(Path(directory) / "trail.db")
    half = len(trail) // 2
    for event in trail[:half]:
        backend.append_audit_event(event)
    backend.append_audit_events(trail[half:])
    assert backend.verify_audit().ok
    return backend


def _verdict(backend: SQLiteBackend) -> int | None:
    report = backend.verify_audit()
    assert report.ok is (report.first_bad_sequence is None)
    return report.first_bad_sequence


@SETTINGS
@given(trail=trails, data=st.data())
def test_changing_any_field_of_any_event_is_caught(trail: list[AuditEvent], data: st.DataObject) -> None:
    n = len(trail)
    target = data.draw(st.integers(1, n), label="sequence")
    field = data.draw(st.sampled_from(sorted(NEW_VALUES)), label="field")
    value = data.draw(NEW_VALUES[field], label="value")
    with tempfile.TemporaryDirectory() as directory, _store(directory, trail) as backend:
        current = backend.read_audit_events(after_sequence=target - 1, limit=1)[0].model_dump(mode="json")[field]
        assume(value != current)
        assume(not (field == "sequence" and 1 <= value <= n))
        tamper_event(backend, target, field, value)
        rows = [Row(s, s) for s in range(1, n + 1) if s != target]
        rows.append(Row(value if field == "sequence" else target, None))
        assert _verdict(backend) == expected_first_bad(rows, n)


@SETTINGS
@given(trail=trails, data=st.data())
def test_deleting_any_event_is_caught(trail: list[AuditEvent], data: st.DataObject) -> None:
    n = len(trail)
    target = data.draw(st.sampled_from(sorted({1, n, (n + 1) // 2})) | st.integers(1, n), label="deleted")
    with tempfile.TemporaryDirectory() as directory, _store(directory, trail) as backend:
        delete_event(backend, target)
        rows = [Row(s, s) for s in range(1, n + 1) if s != target]
        expected = expected_first_bad(rows, n)
        assert expected == target
        assert _verdict(backend) == expected


@SETTINGS
@given(trail=trails.filter(lambda t: len(t) >= 2), data=st.data())
def test_swapping_any_pair_is_caught(trail: list[AuditEvent], data: st.DataObject) -> None:
    n = len(trail)
    first = data.draw(st.integers(1, n - 1), label="first")
    second = data.draw(st.integers(first + 1, n), label="second")
    with tempfile.TemporaryDirectory() as directory, _store(directory, trail) as backend:
        swap_events(backend, first, second)
        rows = [Row(s, s) for s in range(1, n + 1) if s not in (first, second)]
        rows += [Row(first, second), Row(second, first)]
        expected = expected_first_bad(rows, n)
        assert expected == first
        assert _verdict(backend) == expected


@SETTINGS
@given(trail=trails, forged=events, data=st.data())
def test_inserting_an_event_anywhere_is_caught(
    trail: list[AuditEvent], forged: AuditEvent, data: st.DataObject
) -> None:
    n = len(trail)
    assume(forged.log_id not in {e.log_id for e in trail})
    position = data.draw(st.integers(1, n + 1), label="position")
    linked = data.draw(st.booleans(), label="correctly linked")
    with tempfile.TemporaryDirectory() as directory, _store(directory, trail) as backend:
        if linked:
            before = backend.read_audit_events(after_sequence=position - 2, limit=1) if position > 1 else []
            head = ChainHead(position - 1, before[0].provenance_hash or "") if before else None
            row = link(forged, head)
        else:
            row = forged.replace(sequence=position, provenance_hash="0" * 63 + "1")
        insert_event(backend, row)
        rows = [Row(s if s < position else s + 1, s) for s in range(1, n + 1)]
        rows.append(Row(position, position if linked else None))
        expected = expected_first_bad(rows, n)
        assert expected == (position + 1 if linked and position <= n else position)
        assert _verdict(backend) == expected


@SETTINGS
@given(trail=trails)
def test_an_untouched_trail_always_verifies_after_a_round_trip(trail: list[AuditEvent]) -> None:
    with tempfile.TemporaryDirectory() as directory, _store(directory, trail) as backend:
        stored = backend.read_audit_events()
        assert [e.model_dump(exclude={"sequence", "provenance_hash"}) for e in stored] == [
            e.model_dump(exclude={"sequence", "provenance_hash"}) for e in trail
        ]
        assert expected_first_bad([Row(s, s) for s in range(1, len(trail) + 1)], len(trail)) is None
        assert _verdict(backend) is None
