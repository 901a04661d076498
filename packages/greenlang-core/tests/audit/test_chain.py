"""Unit tests of ``greenlang.audit.chain``: the formula, linking, and every verdict of ``verify_chain``."""

from __future__ import annotations

import hashlib
import json

import pytest
import rfc8785

from greenlang.audit.chain import GENESIS_HASH, ChainHead, ChainReport, event_hash, link, verify_chain
from greenlang.audit.events import AuditEvent
from greenlang.testing.samples import sample_event


def _by_hand(event: AuditEvent, previous: str) -> str:
    body = json.loads(event.model_dump_json())
    del body["provenance_hash"]
    body["previous_hash"] = previous
    return hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def _chain(count: int) -> tuple[list[AuditEvent], ChainHead | None]:
    events: list[AuditEvent] = []
    head: ChainHead | None = None
    for number in range(count):
        event = link(sample_event(user_id=f"user-{number}"), head)
        assert event.sequence is not None
        assert event.provenance_hash is not None
        head = ChainHead(event.sequence, event.provenance_hash)
        events.append(event)
    return events, head


def test_genesis_is_64_zeros() -> None:
    assert GENESIS_HASH == "0000000000000000000000000000000000000000000000000000000000000000"


def test_event_hash_is_sha256_of_canonical_fields_plus_previous_hash() -> None:
    event = sample_event(timestamp="2026-05-01T10:00:00+02:00").replace(sequence=7)
    assert event_hash(event, "ab" * 32) == _by_hand(event, "ab" * 32)
    body = rfc8785.dumps({**json.loads(event.model_dump_json(exclude={"provenance_hash"})), "previous_hash": "x"})
    assert b'"timestamp":"2026-05-01T08:00:00.000000Z"' in body
    assert b'"previous_hash":"x"' in body


def test_the_hash_ignores_the_stored_hash_but_covers_every_other_field() -> None:
    event = sample_event().replace(sequence=1)
    assert event_hash(event.replace(provenance_hash="f" * 64), GENESIS_HASH) == event_hash(event, GENESIS_HASH)
    for field, value in [("sequence", 2), ("details", {}), ("user_id", None), ("result", "error")]:
        assert event_hash(event.replace(**{field: value}), GENESIS_HASH) != event_hash(event, GENESIS_HASH), field
    assert event_hash(event, "1" * 64) != event_hash(event, GENESIS_HASH)


def test_link_numbers_and_hashes_from_the_head() -> None:
    first = link(sample_event(), None)
    assert first.sequence == 1
    assert first.provenance_hash == _by_hand(first, GENESIS_HASH)
    second = link(sample_event().replace(sequence=40, provenance_hash="e" * 64), ChainHead(1, first.provenance_hash))
    assert second.sequence == 2
    assert second.provenance_hash == _by_hand(second, first.provenance_hash)


def test_intact_chain_verifies() -> None:
    events, head = _chain(4)
    report = verify_chain(events, head)
    assert report == ChainReport(True, 4, head)
    assert report.summary() == "audit chain intact: 4 events, head sequence 4"


def test_empty_chain_without_head_verifies() -> None:
    assert verify_chain([], None) == ChainReport(True, 0, None)


def test_changed_event_is_named() -> None:
    events, head = _chain(4)
    events[2] = events[2].replace(user_id="mallory")
    report = verify_chain(events, head)
    assert (report.ok, report.first_bad_sequence, report.events_checked) == (False, 3, 2)
    assert report.summary().startswith("audit chain broken at sequence 3:")


def test_missing_first_event_is_sequence_one() -> None:
    events, head = _chain(3)
    assert verify_chain(events[1:], head).first_bad_sequence == 1


def test_repeated_event_names_the_repeat_not_the_verified_original() -> None:
    # Regression: the old code reported min(expected, found), i.e. sequence 2, which had verified.
    events, head = _chain(3)
    report = verify_chain([events[0], events[1], events[1], events[2]], head)
    assert (report.ok, report.first_bad_sequence) == (False, 3)


def test_rewound_stream_names_the_first_unverified_position() -> None:
    events, head = _chain(4)
    report = verify_chain([events[0], events[1], events[0]], head)
    assert (report.ok, report.first_bad_sequence) == (False, 3)


def test_event_without_sequence_is_named_by_position() -> None:
    events, head = _chain(2)
    report = verify_chain([events[0], events[1].replace(sequence=None)], head)
    assert (report.ok, report.first_bad_sequence) == (False, 2)


def test_deleted_tail_is_caught_by_the_head() -> None:
    events, head = _chain(4)
    report = verify_chain(events[:2], head)
    assert (report.ok, report.first_bad_sequence, report.events_checked) == (False, 3, 2)


def test_all_events_deleted_is_caught_by_the_head() -> None:
    _, head = _chain(2)
    assert verify_chain([], head).first_bad_sequence == 1


def test_events_past_the_head_are_caught() -> None:
    events, _ = _chain(5)
    assert events[2].provenance_hash is not None
    report = verify_chain(events, ChainHead(3, events[2].provenance_hash))
    assert (report.ok, report.first_bad_sequence) == (False, 4)


def test_head_with_wrong_hash_is_caught() -> None:
    events, _ = _chain(3)
    report = verify_chain(events, ChainHead(3, "9" * 64))
    assert (report.ok, report.first_bad_sequence) == (False, 3)


def test_events_without_a_head_are_caught() -> None:
    events, _ = _chain(2)
    report = verify_chain(events, None)
    assert (report.ok, report.first_bad_sequence) == (False, 1)
    assert report.reason is not None
    assert "no chain head" in report.reason


@pytest.mark.parametrize("position", [0, 1, 2])
def test_rehashed_forgery_still_breaks_the_next_link(position: int) -> None:
    events, head = _chain(3)
    forged = events[position].replace(user_id="mallory")
    previous = GENESIS_HASH if position == 0 else events[position - 1].provenance_hash
    assert previous is not None
    events[position] = forged.replace(provenance_hash=event_hash(forged, previous))
    report = verify_chain(events, head)
    assert (report.ok, report.first_bad_sequence) == (False, position + 2 if position < 2 else 3)
