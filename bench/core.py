"""Benchmarks of greenlang-core's hot paths, each beside a baseline measured in the same run.

Usage: python bench/core.py [--quick] [--json]

Every figure is the median of repeated rounds (timed with ``time.perf_counter_ns``);
per-operation rows also give p50/p99 latency over all timed operations. The
machine may be shared and noisy, so read ratios rather than absolute numbers:
a ratio is ours divided by the baseline, so above 1 is faster for rates and
larger for memory. Baselines are either a raw primitive measured here (the
floor a naive implementation could not beat) or a figure claimed by the seed
document. See bench/README.md.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import rfc8785
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.auth.engine import Authorizer
from greenlang.auth.policyfile import apply_policy, load_policy_file
from greenlang.auth.snapshot import PolicySnapshot
from greenlang.security.algorithms import PrivateKey
from greenlang.security.artifacts import sign_artifact
from greenlang.security.dsse import pae
from greenlang.security.keys import generate_private_key
from greenlang.security.signing import LocalSigner
from greenlang.security.statement import PAYLOAD_TYPE, Subject, make_statement
from greenlang.security.verify import verify_signature
from greenlang.timeutil import isoformat, utcnow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "emissions-platform"

T = TypeVar("T")

SEED_CHECK_MS = 10.0  # "Query Performance: <10ms for permission lookups"
SEED_PERMISSIONS_PER_S = 1_000.0  # "Bulk Operations: 1000 permissions/second"
SEED_EVENTS_PER_S = 5_000.0  # "Audit Logging: 5000 events/second"


# -- settings --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """How much work each measurement does; ``--quick`` trades precision for time."""

    name: str
    check_rounds: int
    append_rounds: int
    append_per_round: int
    batch_rounds: int
    verify_events: int
    verify_rounds: int
    bulk_rounds: int
    sign_rounds: int
    sign_round_s: float
    file_rounds: int
    file_bytes: int
    memory_permissions: int
    rss_probes: int


FULL = Profile("full", 30, 5, 400, 7, 20_000, 3, 5, 5, 0.25, 7, 10_000_000, 10_000, 3)
QUICK = Profile("quick", 6, 3, 150, 3, 5_000, 2, 2, 3, 0.06, 3, 10_000_000, 2_000, 1)


# -- results ---------------------------------------------------------------------------------------------------------


@dataclass
class Baseline:
    label: str
    value: float
    measured: bool
    p50_us: float | None = None
    p99_us: float | None = None


@dataclass
class Row:
    section: str
    name: str
    value: float
    unit: str
    p50_us: float | None = None
    p99_us: float | None = None
    operations: int = 0
    rounds: int = 0
    note: str = ""
    baselines: list[Baseline] = field(default_factory=list)
    spread: float | None = None
    """Half the range of the round rates, as a fraction of the median: how noisy the rounds were."""

    def ratio(self, baseline: Baseline) -> float:
        return self.value / baseline.value if baseline.value else float("nan")


# -- timing ----------------------------------------------------------------------------------------------------------


@dataclass
class Sample:
    """Rates of each timed round, and every per-operation latency of those rounds."""

    rates: list[float]
    latencies_ns: list[int]
    operations: int

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def spread(self) -> float:
        return (max(self.rates) - min(self.rates)) / 2 / self.rate

    def percentile_us(self, fraction: float) -> float | None:
        if not self.latencies_ns:
            return None
        ordered = sorted(self.latencies_ns)
        index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
        return ordered[index] / 1_000

    def baseline(self, label: str) -> Baseline:
        return Baseline(label, self.rate, True, self.percentile_us(0.50), self.percentile_us(0.99))


RoundFn = Callable[[list[int]], float]
"""Runs one round, appending per-operation latencies (ns) if it has any; returns the work done (ops, bytes)."""


def measure(round_fn: RoundFn, rounds: int, warmup: int = 1) -> Sample:
    """Median-friendly timing: ``warmup`` untimed rounds, then ``rounds`` timed ones, gc settled before each."""
    rates: list[float] = []
    latencies: list[int] = []
    operations = 0
    for index in range(warmup + rounds):
        gc.collect()
        lap: list[int] = []
        start = time.perf_counter_ns()
        work = round_fn(lap)
        elapsed = time.perf_counter_ns() - start
        if index >= warmup:
            rates.append(work * 1e9 / elapsed)
            latencies.extend(lap)
            operations += int(work)
    return Sample(rates, latencies, operations)


def each(operation: Callable[[Any], object], items: Sequence[Any]) -> RoundFn:
    """A round that applies ``operation`` to every item, timing each call."""

    def round_fn(lap: list[int]) -> float:
        clock = time.perf_counter_ns
        for item in items:
            started = clock()
            operation(item)
            lap.append(clock() - started)
        return len(items)

    return round_fn


def repeat(operation: Callable[[], object], count: int) -> RoundFn:
    """A round that calls ``operation`` ``count`` times, timing each call."""

    def round_fn(lap: list[int]) -> float:
        clock = time.perf_counter_ns
        for _ in range(count):
            started = clock()
            operation()
            lap.append(clock() - started)
        return count

    return round_fn


def prebuilt(make: Callable[[int], T], rounds: int, warmup: int = 1) -> Iterator[T]:
    """The input of every round of ``measure``, built before timing starts so only the operation is timed."""
    return iter([make(index) for index in range(warmup + rounds)])


def calibrate(operation: Callable[[], object], round_s: float) -> int:
    """How many calls of ``operation`` fill about ``round_s`` seconds."""
    operation()
    started = time.perf_counter_ns()
    for _ in range(5):
        operation()
    per_call = max(1, (time.perf_counter_ns() - started) // 5)
    return max(20, min(50_000, int(round_s * 1e9 / per_call)))


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


@contextmanager
def raw_connection(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain ``sqlite3`` connection with the store's own pragmas (WAL, synchronous=NORMAL), autocommit."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        yield conn
    finally:
        conn.close()


def empty_store_file(path: Path) -> Path:
    """Create a store file (the real schema, same tables and indexes) for a raw baseline to write into."""
    with SQLiteBackend(path):
        pass
    return path


# -- 1. authorization ------------------------------------------------------------------------------------------------


def load_requests() -> list[tuple[str, str, str, dict[str, Any], datetime, bool]]:
    requests = []
    for line in (EXAMPLE / "requests.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        when = datetime.fromisoformat(item["now"])
        requests.append(
            (
                item["subject"],
                item["action"],
                item["resource"],
                item.get("context", {}),
                when,
                item["expect"] == "allow",
            )
        )
    return requests


def bench_authorization(work: Path, profile: Profile) -> list[Row]:
    progress("authorization: applying examples/emissions-platform/policy.yaml")
    db = work / "auth.db"
    requests = load_requests()
    with SQLiteBackend(db) as store:
        apply_policy(store, load_policy_file(EXAMPLE / "policy.yaml"), actor="bench")
        authorizer = Authorizer(store)
        wrong = sum(
            authorizer.check(subject, action, resource, context, now=now).allowed != expected
            for subject, action, resource, context, now, expected in requests
        )
        permission_ids = [p.permission_id for p in store.list_permissions()]

        def check(request: tuple[str, str, str, dict[str, Any], datetime, bool]) -> object:
            subject, action, resource, context, now, _ = request
            return authorizer.check(subject, action, resource, context, now=now)

        progress(f"authorization: {profile.check_rounds} rounds of {len(requests)} checks")
        ours = measure(each(check, requests), profile.check_rounds)
        pinned = Authorizer(snapshot=authorizer.current())

        def check_pinned(request: tuple[str, str, str, dict[str, Any], datetime, bool]) -> object:
            subject, action, resource, context, now, _ = request
            return pinned.check(subject, action, resource, context, now=now)

        evaluation = measure(each(check_pinned, requests), profile.check_rounds)

    with raw_connection(db) as conn:
        keys = [(permission_ids[i % len(permission_ids)],) for i in range(len(requests))]

        def select(key: tuple[str]) -> object:
            return conn.execute("SELECT * FROM permissions WHERE permission_id = ?", key).fetchone()

        floor = measure(each(select, keys), profile.check_rounds)

    claim = Baseline("the seed's claim (<10 ms per lookup)", 1_000 / SEED_CHECK_MS, False, None, SEED_CHECK_MS * 1e3)
    raw = floor.baseline("raw sqlite3: 1 SELECT by primary key")
    correctness = "all 240 decisions as expected" if not wrong else f"WARNING: {wrong} decisions differ from expect"
    return [
        Row(
            "authorization",
            "Authorizer.check, store-backed (example platform)",
            ours.rate,
            "checks/s",
            ours.percentile_us(0.50),
            ours.percentile_us(0.99),
            ours.operations,
            profile.check_rounds,
            note=f"{correctness}; each check also polls the store revision (1 SELECT)",
            baselines=[claim, raw],
            spread=ours.spread,
        ),
        Row(
            "authorization",
            "Authorizer.check, pinned snapshot (evaluation only)",
            evaluation.rate,
            "checks/s",
            evaluation.percentile_us(0.50),
            evaluation.percentile_us(0.99),
            evaluation.operations,
            profile.check_rounds,
            note="no revision poll: the cost of deciding alone",
            baselines=[claim, raw],
            spread=evaluation.spread,
        ),
    ]


# -- 2. audit trail --------------------------------------------------------------------------------------------------


def sample_event(index: int) -> dict[str, Any]:
    return {
        "event_type": "report.exported",
        "user_id": f"user-{index % 50}",
        "resource": f"reports:acme:2026:report-{index % 200}",
        "action": "export",
        "result": "success",
        "details": {"format": "pdf", "pages": 42, "request": index},
        "ip_address": "192.168.1.100",
        "session_id": f"session-{index % 20}",
    }


class RawAuditRows:
    """Rows equal in shape and content to what the store writes, with fresh ids and sequences."""

    COLUMNS = (
        "log_id, sequence, timestamp, event_type, user_id, resource, action, result, details, "
        "ip_address, user_agent, session_id, correlation_id, provenance_hash"
    )
    INSERT = f"INSERT INTO audit_logs ({COLUMNS}) VALUES ({', '.join('?' * 14)})"  # noqa: S608 - constants

    def __init__(self) -> None:
        self.sequence = 0
        self.stamp = isoformat(utcnow())

    def take(self, count: int) -> list[tuple[Any, ...]]:
        rows = []
        for _ in range(count):
            self.sequence += 1
            event = sample_event(self.sequence)
            rows.append(
                (
                    str(uuid.uuid4()),
                    self.sequence,
                    self.stamp,
                    event["event_type"],
                    event["user_id"],
                    event["resource"],
                    event["action"],
                    event["result"],
                    json.dumps(event["details"], separators=(",", ":")),
                    event["ip_address"],
                    None,
                    event["session_id"],
                    None,
                    hashlib.sha256(str(self.sequence).encode()).hexdigest(),
                )
            )
        return rows


def bench_audit_append(work: Path, profile: Profile) -> list[Row]:
    progress("audit: single-event and 1,000-event appends")
    per_round = profile.append_per_round
    singles = prebuilt(lambda r: [sample_event(r * per_round + i) for i in range(per_round)], profile.append_rounds)
    batches = prebuilt(lambda r: [sample_event(r * 1_000 + i) for i in range(1_000)], profile.batch_rounds)
    with SQLiteBackend(work / "audit-append.db") as store:

        def single(lap: list[int]) -> float:
            return each(store.append_audit_event, next(singles))(lap)

        def batch(_: list[int]) -> float:
            return len(store.append_audit_events(next(batches)))

        ours_single = measure(single, profile.append_rounds)
        ours_batch = measure(batch, profile.batch_rounds)

    rows = RawAuditRows()
    raw_singles = prebuilt(lambda _: rows.take(per_round), profile.append_rounds)
    raw_batches = prebuilt(lambda _: rows.take(1_000), profile.batch_rounds)
    with raw_connection(empty_store_file(work / "audit-raw.db")) as conn:

        def insert_one(row: tuple[Any, ...]) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(RawAuditRows.INSERT, row)
            conn.execute("COMMIT")

        def raw_single(lap: list[int]) -> float:
            return each(insert_one, next(raw_singles))(lap)

        def raw_batch(_: list[int]) -> float:
            chunk = next(raw_batches)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(RawAuditRows.INSERT, chunk)
            conn.execute("COMMIT")
            return 1_000

        floor_single = measure(raw_single, profile.append_rounds)
        floor_batch = measure(raw_batch, profile.batch_rounds)

    claim = Baseline("the seed's claim (5,000 events/s)", SEED_EVENTS_PER_S, False)
    return [
        Row(
            "audit",
            "append_audit_event (1 event per transaction)",
            ours_single.rate,
            "events/s",
            ours_single.percentile_us(0.50),
            ours_single.percentile_us(0.99),
            ours_single.operations,
            profile.append_rounds,
            note="validate, hash-link to the stored head, insert, move the head",
            baselines=[claim, floor_single.baseline("raw sqlite3: 1-row INSERT transaction")],
            spread=ours_single.spread,
        ),
        Row(
            "audit",
            "append_audit_events (1,000 per transaction)",
            ours_batch.rate,
            "events/s",
            operations=ours_batch.operations,
            rounds=profile.batch_rounds,
            spread=ours_batch.spread,
            note="rate per batch; p50/p99 are per batch, not shown",
            baselines=[claim, floor_batch.baseline("raw sqlite3: executemany 1,000 rows")],
        ),
    ]


def bench_audit_verify(work: Path, profile: Profile) -> list[Row]:
    total = profile.verify_events
    progress(f"audit: verify_audit over {total:,} events")
    with SQLiteBackend(work / "audit-verify.db") as store:
        for start in range(0, total, 1_000):
            store.append_audit_events([sample_event(i) for i in range(start, min(total, start + 1_000))])

        def verify(_: list[int]) -> float:
            report = store.verify_audit()
            if not report.ok:
                raise RuntimeError(report.summary())
            return report.events_checked

        ours = measure(verify, profile.verify_rounds)
        bodies = []
        previous = "0" * 64
        for event in store.iter_audit_events():
            body = event.model_dump(mode="json")
            del body["provenance_hash"]
            body["previous_hash"] = previous
            previous = event.provenance_hash or ""
            bodies.append(body)

    def rehash(_: list[int]) -> float:
        for body in bodies:
            hashlib.sha256(rfc8785.dumps(body)).hexdigest()
        return len(bodies)

    floor = measure(rehash, profile.verify_rounds)
    return [
        Row(
            "audit",
            f"verify_audit ({total:,} events, whole chain)",
            ours.rate,
            "events/s",
            operations=ours.operations,
            rounds=profile.verify_rounds,
            spread=ours.spread,
            note="read, parse and re-hash every row, check the stored head; the baseline hashes ready dicts in memory",
            baselines=[floor.baseline("raw SHA-256(RFC 8785) of the same events")],
        )
    ]


# -- 3. bulk permissions ---------------------------------------------------------------------------------------------


def permission_items(batch: int, count: int = 1_000) -> list[dict[str, Any]]:
    return [
        {
            "resource": f"emissions:org-{batch}:site-{i}:**",
            "action": ("read", "write", "export")[i % 3],
            "effect": "allow",
            "scope": "org:*",
        }
        for i in range(count)
    ]


def bench_bulk_permissions(work: Path, profile: Profile) -> list[Row]:
    progress("permissions: bulk_create_permissions of 1,000")
    batches = prebuilt(permission_items, profile.bulk_rounds)
    with SQLiteBackend(work / "bulk.db") as store:

        def bulk(_: list[int]) -> float:
            return len(store.bulk_create_permissions(next(batches), actor="bench"))

        ours = measure(bulk, profile.bulk_rounds)

    stamp = isoformat(utcnow())
    insert = (
        "INSERT INTO permissions (permission_id, resource, action, effect, scope, conditions, metadata, "
        "created_at, updated_at, created_by, provenance_hash) VALUES (?, ?, ?, ?, ?, '[]', '{}', ?, NULL, ?, ?)"
    )

    def raw_rows(batch: int) -> list[tuple[str, ...]]:
        return [
            (f"perm_{uuid.uuid4().hex}", p["resource"], p["action"], p["effect"], p["scope"], stamp, "bench", "0" * 64)
            for p in permission_items(batch)
        ]

    raw_batches = prebuilt(raw_rows, profile.bulk_rounds)
    with raw_connection(empty_store_file(work / "bulk-raw.db")) as conn:

        def raw(_: list[int]) -> float:
            chunk = next(raw_batches)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert, chunk)
            conn.execute("COMMIT")
            return len(chunk)

        floor = measure(raw, profile.bulk_rounds)

    return [
        Row(
            "permissions",
            "bulk_create_permissions (1,000 per call)",
            ours.rate,
            "permissions/s",
            operations=ours.operations,
            rounds=profile.bulk_rounds,
            spread=ours.spread,
            note="each permission also writes its audit event in the same transaction",
            baselines=[
                Baseline("the seed's claim (1,000 permissions/s)", SEED_PERMISSIONS_PER_S, False),
                floor.baseline("raw sqlite3: executemany 1,000 rows"),
            ],
        )
    ]


# -- 4. signing ------------------------------------------------------------------------------------------------------


def raw_sign(key: PrivateKey) -> Callable[[bytes], bytes]:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign
    if isinstance(key, ec.EllipticCurvePrivateKey):
        scheme = ec.ECDSA(hashes.SHA256())
        return lambda data: key.sign(data, scheme)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    return lambda data: key.sign(data, pss, hashes.SHA256())


def raw_verify(key: PrivateKey) -> Callable[[bytes, bytes], None]:
    public = key.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        return lambda sig, data: public.verify(sig, data)
    if isinstance(public, ec.EllipticCurvePublicKey):
        ec_key, scheme = public, ec.ECDSA(hashes.SHA256())
        return lambda sig, data: ec_key.verify(sig, data, scheme)
    assert isinstance(public, rsa.RSAPublicKey)
    rsa_key, pss = public, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    return lambda sig, data: rsa_key.verify(sig, data, pss, hashes.SHA256())


def bench_signing(work: Path, profile: Profile) -> list[Row]:
    payload = pae(PAYLOAD_TYPE, make_statement(Subject("report.pdf", "ab" * 32), utcnow()))
    rows: list[Row] = []
    for kind in ("ed25519", "ecdsa-p256", "rsa-pss-3072"):
        progress(f"signing: {kind}")
        key = generate_private_key(kind)
        signer = LocalSigner(key, key_ref=f"bench:{kind}")
        public = key.public_key()
        signature = signer.sign(payload).signature
        if not verify_signature(public, payload, signature):
            raise RuntimeError(f"{kind}: our own signature does not verify")
        primitive_sign, primitive_verify = raw_sign(key), raw_verify(key)

        def ours_sign(signer: LocalSigner = signer) -> object:
            return signer.sign(payload)

        def floor_sign(sign: Callable[[bytes], bytes] = primitive_sign) -> object:
            return sign(payload)

        def ours_verify(public: Any = public, signature: bytes = signature) -> object:
            return verify_signature(public, payload, signature)

        def floor_verify(check: Callable[[bytes, bytes], None] = primitive_verify, sig: bytes = signature) -> object:
            return check(sig, payload)

        pairs = (("LocalSigner.sign", ours_sign, floor_sign), ("verify_signature", ours_verify, floor_verify))
        for what, ours_op, floor_op in pairs:
            count = calibrate(floor_op, profile.sign_round_s)
            ours = measure(repeat(ours_op, count), profile.sign_rounds)
            floor = measure(repeat(floor_op, count), profile.sign_rounds)
            rows.append(
                Row(
                    "signing",
                    f"{what} {kind} ({len(payload)}-byte PAE)",
                    ours.rate,
                    "ops/s",
                    ours.percentile_us(0.50),
                    ours.percentile_us(0.99),
                    ours.operations,
                    profile.sign_rounds,
                    spread=ours.spread,
                    baselines=[floor.baseline("raw cryptography primitive")],
                )
            )
    rows.append(bench_sign_file(work, profile))
    return rows


def bench_sign_file(work: Path, profile: Profile) -> Row:
    size = profile.file_bytes
    progress(f"signing: sign_artifact of a {size / 1e6:.0f} MB file")
    artifact = work / "artifact.bin"
    artifact.write_bytes(os.urandom(size))
    out = work / "signatures"
    out.mkdir()
    signer = LocalSigner(generate_private_key("ed25519"), key_ref="bench:file")

    def ours(_: list[int]) -> float:
        sign_artifact(artifact, signer, out_dir=out)
        return size / 1e6

    def floor(_: list[int]) -> float:
        with artifact.open("rb") as handle:
            hashlib.file_digest(handle, "sha256").hexdigest()
        return size / 1e6

    ours_sample = measure(ours, profile.file_rounds)
    floor_sample = measure(floor, profile.file_rounds)
    return Row(
        "signing",
        f"sign_artifact, DSSE over a {size / 1e6:.0f} MB file (Ed25519)",
        ours_sample.rate,
        "MB/s",
        rounds=profile.file_rounds,
        spread=ours_sample.spread,
        note="hash the file, sign the statement, write envelope + bundle (page cache warm)",
        baselines=[floor_sample.baseline("raw hashlib SHA-256 of the same file")],
    )


# -- 5. memory -------------------------------------------------------------------------------------------------------

_PEAK_RSS = """
import resource, sys
{body}
# ru_maxrss survives fork+exec on Linux (the child starts with the parent's high-water mark),
# so read the peak of this process's own address space where the kernel gives it.
try:
    with open("/proc/self/status") as status:
        print(next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")))
except (OSError, StopIteration):
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
_IMPORTS = "import greenlang.auth.backends.sqlite, greenlang.auth.engine"
_SNAPSHOT = (
    _IMPORTS + "\nstore = greenlang.auth.backends.sqlite.SQLiteBackend(sys.argv[1])\n"
    "snapshot = greenlang.auth.engine.Authorizer(store).current()"
)


def peak_rss_mb(body: str, argument: str, probes: int) -> float:
    """Median peak RSS (MiB) of a fresh interpreter running ``body``; the kernel reports KiB."""
    code = _PEAK_RSS.format(body=body)
    values = []
    for _ in range(probes):
        done = subprocess.run([sys.executable, "-c", code, argument], capture_output=True, text=True, check=True)
        values.append(int(done.stdout.strip().splitlines()[-1]) / 1024)
    return statistics.median(values)


def synthetic_store(path: Path, permissions: int) -> SQLiteBackend:
    """``permissions`` permissions over roles of 100 (in inheritance chains of 10), 2 assignments per 10 perms."""
    store = SQLiteBackend(path)
    ids: list[str] = []
    for batch in range(0, permissions, 1_000):
        created = store.bulk_create_permissions(permission_items(batch, min(1_000, permissions - batch)))
        ids.extend(p.permission_id for p in created)
    roles: list[dict[str, Any]] = []
    role_ids: list[str] = []
    for index in range(0, len(ids), 100):
        role_id = f"role_bench{index // 100:05d}"
        parents = [role_ids[-1]] if role_ids and (index // 100) % 10 else []
        members = ids[index : index + 100]
        roles.append(
            {"role_id": role_id, "role_name": f"role-{index // 100}", "permissions": members, "parent_roles": parents}
        )
        role_ids.append(role_id)
    store.bulk_create_roles(roles)
    assignments = [
        {"subject": f"user-{i // 2}", "role_id": role_ids[i % len(role_ids)], "scope": "org:acme"}
        for i in range(permissions // 5)
    ]
    store.bulk_create_assignments(assignments)
    return store


def traced_bytes(build: Callable[[], object]) -> tuple[int, object]:
    """Bytes still allocated once ``build``'s result is built (transient garbage collected away)."""
    gc.collect()
    tracemalloc.start()
    try:
        kept = build()
        gc.collect()
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current, kept


def bench_memory(work: Path, profile: Profile, own_rss_mb: float) -> list[Row]:
    progress("memory: peak RSS of fresh interpreters")
    example_db = work / "auth.db"  # written by the authorization section
    probes = profile.rss_probes
    rss_snapshot = peak_rss_mb(_SNAPSHOT, str(example_db), probes)
    rss_imports = peak_rss_mb(_IMPORTS, str(example_db), probes)
    rss_bare = peak_rss_mb("", str(example_db), probes)

    count = profile.memory_permissions
    progress(f"memory: tracemalloc of a PolicySnapshot over {count:,} permissions")
    with synthetic_store(work / "memory.db", count) as store:
        records_bytes, records = traced_bytes(store.load_policy_state)
        fresh = SQLiteBackend(work / "memory.db")  # its own state cache is empty, so the load is measured too
        try:
            snapshot_bytes, snapshot = traced_bytes(lambda: PolicySnapshot.build(fresh.load_policy_state()))
        finally:
            fresh.close()
        assert isinstance(snapshot, PolicySnapshot)
        assert len(snapshot.permissions) == count
        del snapshot, records
    with raw_connection(work / "memory.db") as conn:
        tables = ("permissions", "roles", "policies", "role_assignments")
        raw_bytes, rows = traced_bytes(lambda: [conn.execute(f"SELECT * FROM {t}").fetchall() for t in tables])  # noqa: S608
        del rows

    mib = 1024 * 1024
    return [
        Row(
            "memory",
            "peak RSS after loading the example snapshot",
            rss_snapshot,
            "MiB",
            rounds=probes,
            note=(
                "fresh interpreters, VmHWM; this benchmark process's own getrusage ru_maxrss right after "
                f"loading the same snapshot: {own_rss_mb:.1f} MiB"
            ),
            baselines=[
                Baseline("python + greenlang imports only", rss_imports, True),
                Baseline("bare python interpreter", rss_bare, True),
            ],
        ),
        Row(
            "memory",
            f"PolicySnapshot over {count:,} permissions (tracemalloc)",
            snapshot_bytes / mib,
            "MiB",
            rounds=1,
            note=f"{snapshot_bytes / count:,.0f} bytes per permission, records + indexes",
            baselines=[
                Baseline("the same records, unindexed (load_policy_state)", records_bytes / mib, True),
                Baseline("raw sqlite3 rows (fetchall, tuples)", raw_bytes / mib, True),
            ],
        ),
    ]


# -- output ----------------------------------------------------------------------------------------------------------


def fmt_value(value: float, unit: str) -> str:
    if unit in ("MiB", "MB/s"):
        return f"{value:,.1f} {unit}"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.2f} {unit}"


def fmt_us(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value / 1e3:,.2f} ms" if value >= 1_000 else f"{value:,.1f} µs"


def fmt_ratio(row: Row, baseline: Baseline) -> str:
    ratio = row.ratio(baseline)
    return f"{ratio:,.1f}x" if ratio >= 10 else f"{ratio:.2f}x"


def table_lines(rows: list[Row]) -> list[list[str]]:
    lines = []
    for row in rows:
        for index, baseline in enumerate(row.baselines):
            first = index == 0
            lines.append(
                [
                    row.name if first else "",
                    fmt_value(row.value, row.unit) if first else "",
                    f"±{row.spread:.0%}" if first and row.spread is not None else "",
                    fmt_us(row.p50_us) if first else "",
                    fmt_us(row.p99_us) if first else "",
                    fmt_value(baseline.value, row.unit) + ("" if baseline.measured else " (claim)"),
                    " / ".join(x for x in (fmt_us(baseline.p50_us), fmt_us(baseline.p99_us)) if x),
                    f"{fmt_ratio(row, baseline)} {baseline.label}",
                ]
            )
    return lines


HEADERS = [
    "measurement",
    "ours (median)",
    "± rounds",
    "p50",
    "p99",
    "baseline",
    "baseline p50 / p99",
    "ratio: ours / baseline",
]
LEFT = {"measurement", "ratio: ours / baseline"}


def print_table(rows: list[Row], meta: dict[str, Any]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich comes with greenlang-core
        print_plain(rows, meta)
        return
    console = Console(width=max(220, Console().width))
    console.print(f"[bold]greenlang-core benchmarks[/bold] ({meta['profile']} run, {meta['duration_s']:.1f} s)")
    console.print(", ".join(f"{k} {v}" for k, v in meta.items() if k not in ("profile", "duration_s")))
    for section in dict.fromkeys(row.section for row in rows):
        table = Table(title=section, title_justify="left", show_lines=False)
        for header in HEADERS:
            table.add_column(header, justify="left" if header in LEFT else "right", no_wrap=header not in LEFT)
        for line in table_lines([row for row in rows if row.section == section]):
            table.add_row(*line)
        console.print(table)
        for row in rows:
            if row.section == section and row.note:
                console.print(f"  [dim]{row.name}: {row.note}[/dim]")
    console.print("ratio = ours / baseline: above 1 is faster for rates, larger for memory.")


def print_plain(rows: list[Row], meta: dict[str, Any]) -> None:
    print(f"greenlang-core benchmarks ({meta['profile']} run, {meta['duration_s']:.1f} s)")
    lines = [HEADERS, *table_lines(rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
    for line in lines:
        cells = zip(line, widths, HEADERS, strict=True)
        print("  ".join(c.ljust(w) if h in LEFT else c.rjust(w) for c, w, h in cells))
    for row in rows:
        if row.note:
            print(f"  {row.name}: {row.note}")
    print("ratio = ours / baseline: above 1 is faster for rates, larger for memory.")


def run(profile: Profile) -> tuple[list[Row], dict[str, Any]]:
    started = time.perf_counter()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="greenlang-bench-") as temp:
        work = Path(temp)
        rows += bench_authorization(work, profile)
        own_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows += bench_audit_append(work, profile)
        rows += bench_audit_verify(work, profile)
        rows += bench_bulk_permissions(work, profile)
        rows += bench_signing(work, profile)
        rows += bench_memory(work, profile, own_rss_mb)
    meta = {
        "profile": profile.name,
        "duration_s": time.perf_counter() - started,
        "greenlang-core": version("greenlang-core"),
        "python": platform.python_version(),
        "cryptography": version("cryptography"),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    return rows, meta


def cli(
    description: str,
    run: Callable[[Any], tuple[list[Row], dict[str, Any]]],
    quick: Any,
    full: Any,
    argv: Sequence[str] | None = None,
    quick_help: str = "a short run, less precise",
) -> int:
    """The command line every benchmark script shares: ``--quick`` and ``--json``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)
    rows, meta = run(quick if args.quick else full)
    if args.json:
        results = [{**asdict(row), "ratios": [row.ratio(b) for b in row.baselines]} for row in rows]
        print(json.dumps({"meta": meta, "results": results}, indent=2))
    else:
        print_table(rows, meta)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return cli(__doc__.splitlines()[0], run, QUICK, FULL, argv, "a short run (about 15 s), less precise")


if __name__ == "__main__":
    sys.exit(main())
