"""The hash chain: how each event is linked to the one before, and how to check it.

``provenance_hash = SHA-256(RFC 8785 JSON of {all event fields except the hash,
"previous_hash": <hash of the event before>})``. The first event's previous hash
is 64 zeros. Stores keep the head (last sequence and hash) beside the events,
so a deleted tail is caught as well as a changed, removed, swapped or inserted
event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from greenlang.audit.events import AuditEvent
from greenlang.jsonvalue import canonical_json

__all__ = ["GENESIS_HASH", "ChainHead", "ChainReport", "ChainWalk", "event_hash", "link", "verify_chain"]

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last event's sequence and hash, as the store records them."""

    sequence: int
    hash: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of a full walk of the chain."""

    ok: bool
    events_checked: int
    head: ChainHead | None
    first_bad_sequence: int | None = None
    reason: str | None = None

    def summary(self) -> str:
        if self.ok:
            last = self.head.sequence if self.head else 0
            return f"audit chain intact: {self.events_checked} events, head sequence {last}"
        return f"audit chain broken at sequence {self.first_bad_sequence}: {self.reason}"


_DETAILS_SLOT = "\x00details"
"""Stands in for ``details`` while the rest of the body is made canonical. No stored string can hold
a NUL (models refuse it), so its canonical form occurs nowhere else in the body."""
_DETAILS_SLOT_JSON = canonical_json(_DETAILS_SLOT)


def event_hash(event: AuditEvent, previous_hash: str, details_json: bytes | None = None) -> str:
    """The hash ``event`` must carry when it follows ``previous_hash``.

    ``details_json``, when given, must be ``canonical_json(event.details)``;
    a caller that built it from pieces (a bulk event's records, each made
    canonical once) saves serializing the details a second time.
    """
    return _body_hash(event.hashed_fields(exclude_details=details_json is not None), previous_hash, details_json)


def _body_hash(body: dict[str, Any], previous_hash: str, details_json: bytes | None) -> str:
    body["previous_hash"] = previous_hash
    if details_json is None:
        return hashlib.sha256(canonical_json(body)).hexdigest()
    body["details"] = _DETAILS_SLOT
    data = canonical_json(body).replace(_DETAILS_SLOT_JSON, details_json, 1)
    return hashlib.sha256(data).hexdigest()


def link(event: AuditEvent, head: ChainHead | None, details_json: bytes | None = None) -> AuditEvent:
    """Return ``event`` as the successor of ``head``: next sequence, its hash set (see ``event_hash``)."""
    sequence = head.sequence + 1 if head else 1
    previous = head.hash if head else GENESIS_HASH
    body = event.hashed_fields(exclude_details=details_json is not None)
    body["sequence"] = sequence
    digest = _body_hash(body, previous, details_json)
    # ``event`` is already validated and we only set the two fields we compute, so no revalidation.
    return event.model_copy(update={"sequence": sequence, "provenance_hash": digest})


class ChainWalk:
    """Checks events one at a time, so a store can verify a trail far larger than memory, page by page."""

    def __init__(self) -> None:
        self.previous = GENESIS_HASH
        self.expected_sequence = 1
        self.checked = 0

    def step(self, event: AuditEvent, head: ChainHead | None) -> ChainReport | None:
        """A failing report if ``event`` breaks the chain here, else ``None``."""
        if event.sequence != self.expected_sequence:
            # Everything before ``expected_sequence`` verified, so the break is here even when the
            # stream repeats or rewinds to an earlier (already verified) sequence number.
            return ChainReport(
                False,
                self.checked,
                head,
                self.expected_sequence,
                f"expected sequence {self.expected_sequence}, found {event.sequence}",
            )
        if event.provenance_hash != event_hash(event, self.previous):
            return ChainReport(
                False, self.checked, head, self.expected_sequence, "event content or order does not match its hash"
            )
        self.previous = event.provenance_hash
        self.expected_sequence += 1
        self.checked += 1
        return None

    def broken(self, head: ChainHead | None, reason: str) -> ChainReport:
        """The report for an event at the next position that could not even be read."""
        return ChainReport(False, self.checked, head, self.expected_sequence, reason)

    def finish(self, head: ChainHead | None) -> ChainReport:
        """The report once every stored event has been stepped through; ``head`` is the stored head."""
        checked = self.checked
        last = ChainHead(self.expected_sequence - 1, self.previous) if checked else None
        if head != last:
            if head is None:
                return ChainReport(False, checked, head, 1, "events exist but the store records no chain head")
            if last is None or head.sequence > last.sequence:
                missing = (last.sequence + 1) if last else 1
                return ChainReport(
                    False,
                    checked,
                    head,
                    missing,
                    f"chain head is sequence {head.sequence} but the trail ends before it",
                )
            if head.sequence < last.sequence:
                return ChainReport(False, checked, head, head.sequence + 1, "events follow the recorded chain head")
            return ChainReport(False, checked, head, head.sequence, "last event does not match the recorded chain head")
        return ChainReport(True, checked, head)


def verify_chain(events: Iterable[AuditEvent], head: ChainHead | None) -> ChainReport:
    """Walk ``events`` in stored order and name the first sequence that breaks the chain.

    ``head`` is what the store says the last event is; ``None`` means the store
    claims to be empty.
    """
    walk = ChainWalk()
    for event in events:
        report = walk.step(event, head)
        if report is not None:
            return report
    return walk.finish(head)
