"""Benchmark of canonical_json, the audit chain's hash input, beside the rfc8785 package measured in the same run.

Usage: python bench/canonical_json.py [--quick] [--json]

``greenlang.jsonvalue.canonical_json`` writes RFC 8785 bytes with the C ``json``
encoder when a cheap walk shows the result is the same, and leaves anything
else to the pure-Python ``rfc8785`` package. Each row times it over prebuilt
audit event bodies (exactly what ``greenlang.audit.chain.event_hash`` hashes)
and the baseline times ``rfc8785.dumps`` over the same bodies; the bytes are
checked equal before timing. Timing, rounds and the table are those of
``bench/core.py``: medians of rounds, p50/p99 per operation, ratio = ours /
baseline (above 1 is faster).
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import rfc8785
from core import Row, cli, each, measure, progress, sample_event

from greenlang.audit.chain import GENESIS_HASH, event_hash
from greenlang.audit.events import AuditEvent
from greenlang.auth.permissions import Permission
from greenlang.jsonvalue import _json_agrees, canonical_json


@dataclass(frozen=True)
class Profile:
    name: str
    rounds: int
    bodies: int


FULL = Profile("full", 9, 2_000)
QUICK = Profile("quick", 3, 500)


def _event(index: int, details: dict[str, Any]) -> AuditEvent:
    fields = {**sample_event(index), "details": details}
    return AuditEvent(**fields, sequence=index + 1, provenance_hash="ab" * 32)


def _body(event: AuditEvent) -> dict[str, Any]:
    """What ``event_hash`` hands to canonical JSON."""
    body = event.hashed_fields()
    body["previous_hash"] = GENESIS_HASH
    return body


def report_events(count: int) -> list[AuditEvent]:
    """The ``bench/core.py`` audit event: strings, a few ints in ``details``."""
    return [_event(i, sample_event(i)["details"]) for i in range(count)]


def emissions_events(count: int) -> list[AuditEvent]:
    """Details with fractional numbers, as emissions figures are: still the fast path."""
    return [
        _event(i, {"site": f"site-{i % 30}", "tco2e": 1234.5 + i / 7, "share": 0.25, "scope": [1, 2]})
        for i in range(count)
    ]


def whole_float_events(count: int) -> list[AuditEvent]:
    """One whole-number float (``42.0``, which RFC 8785 writes as ``42``): the fallback to rfc8785."""
    return [_event(i, {"site": f"site-{i % 30}", "tco2e": float(i % 500)}) for i in range(count)]


def permission_events(count: int) -> list[AuditEvent]:
    """A ``permission.created`` event: ``details`` holds a copy of the record, as the store writes it."""
    events = []
    for i in range(count):
        permission = Permission(
            resource=f"emissions:org-{i % 40}:site-{i}:**",
            action="read",
            effect="allow",
            scope="org:*",
            conditions=[{"attribute": "report.status", "operator": "in", "value": ["draft", "published"]}],
            metadata={"ticket": f"OPS-{i}", "owner": "platform"},
        )
        events.append(_event(i, {"after": permission.model_dump(mode="json")}))
    return events


def _legacy_event_hash(event: AuditEvent, previous_hash: str) -> str:
    body = event.hashed_fields()
    body["previous_hash"] = previous_hash
    return hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def compare(
    name: str, note: str, ours: Callable[[Any], object], theirs: Callable[[Any], object], items: list[Any], rounds: int
) -> Row:
    ours_sample = measure(each(ours, items), rounds)
    theirs_sample = measure(each(theirs, items), rounds)
    return Row(
        "canonical JSON",
        name,
        ours_sample.rate,
        "events/s",
        ours_sample.percentile_us(0.50),
        ours_sample.percentile_us(0.99),
        ours_sample.operations,
        rounds,
        note=note,
        baselines=[theirs_sample.baseline("rfc8785 package (the previous canonical_json)")],
        spread=ours_sample.spread,
    )


def run(profile: Profile) -> tuple[list[Row], dict[str, Any]]:
    started = time.perf_counter()
    rows: list[Row] = []
    kinds = [
        ("report.exported body", report_events),
        ("body with fractional numbers", emissions_events),
        ("body with a whole-number float", whole_float_events),
        ("permission.created body (record copy)", permission_events),
    ]
    for label, make in kinds:
        progress(f"canonical JSON: {label}, {profile.rounds} rounds of {profile.bodies:,}")
        bodies = [_body(event) for event in make(profile.bodies)]
        if any(canonical_json(body) != rfc8785.dumps(body) for body in bodies):
            raise RuntimeError(f"{label}: canonical_json differs from rfc8785")
        size = sum(len(canonical_json(body)) for body in bodies) / len(bodies)
        fast = sum(_json_agrees(body) for body in bodies)
        path = "C json encoder" if fast == len(bodies) else "rfc8785 fallback" if not fast else f"{fast} fast"
        note = f"{size:,.0f} bytes on average; {path}; bytes identical to rfc8785 on all {len(bodies):,}"
        rows.append(compare(f"canonical_json, {label}", note, canonical_json, rfc8785.dumps, bodies, profile.rounds))

    progress("canonical JSON: event_hash, end to end")
    events = report_events(profile.bodies)
    rows.append(
        compare(
            "event_hash (hashed_fields + canonical JSON + SHA-256)",
            "the per-event hashing cost of an append or a verify; the baseline hashes rfc8785.dumps",
            lambda event: event_hash(event, GENESIS_HASH),
            lambda event: _legacy_event_hash(event, GENESIS_HASH),
            events,
            profile.rounds,
        )
    )
    meta = {
        "profile": profile.name,
        "duration_s": time.perf_counter() - started,
        "greenlang-core": version("greenlang-core"),
        "rfc8785": version("rfc8785"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    return rows, meta


def main(argv: list[str] | None = None) -> int:
    return cli(__doc__.splitlines()[0], run, QUICK, FULL, argv)


if __name__ == "__main__":
    sys.exit(main())
