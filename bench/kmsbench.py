"""What the KMS batch benchmarks share: timing rounds, checking every signature, and the printed table."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from greenlang.security.kms import KMSProvider

WORKERS = (1, 4, 8, 16)
Rows = list[tuple[str, float, list[bytes]]]


@dataclass(frozen=True)
class Run:
    """The command line of a KMS batch benchmark, and the payloads it signs."""

    json: bool
    latency: float
    rounds: int
    payloads: list[bytes]


def parse(description: str) -> Run:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer payloads and rounds")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON")
    parser.add_argument("--payloads", type=int, default=None, help="payloads per round (default 200, quick 48)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to each call (default 0.05)")
    args = parser.parse_args()
    count = args.payloads or (48 if args.quick else 200)
    payloads = [f"facility {n:05d}: scope 1 = {n * 3.7:.1f} tCO2e\n".encode() * 8 for n in range(count)]
    return Run(args.json, args.latency, 2 if args.quick else 3, payloads)


def finish(run: Run, rows: Rows, public_key: Any, title: str, pool: str) -> int:
    """Check every signature, print the table (or JSON), and return the exit status: 1 if any failed."""
    count = len(run.payloads)
    failed = failures(public_key, run.payloads, rows)
    if run.json:
        figures = [{"row": label, "seconds": took, "signatures_per_second": count / took} for label, took, _ in rows]
        print(json.dumps({"payloads": count, "latency_seconds": run.latency, "rows": figures, "failures": failed}))
    else:
        report(title, rows, count, run.latency, failed, pool)
    return 1 if failed else 0


def batch(provider: KMSProvider, payloads: list[bytes], workers: int) -> list[bytes]:
    items = provider.sign_many(payloads, max_workers=workers)
    bad = [item for item in items if not item.ok or item.result is None]
    if bad:
        raise SystemExit(f"sign_many failed for item {bad[0].index}: {bad[0].error}")
    return [item.result.signature for item in items if item.result is not None]


def timed(rounds: int, run: Callable[[], list[bytes]]) -> tuple[float, list[bytes]]:
    run()  # warm-up: connections opened, code paths loaded
    times = []
    signatures: list[bytes] = []
    for _ in range(rounds):
        started = time.perf_counter()
        signatures = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), signatures


def failures(public_key: Any, payloads: list[bytes], rows: Rows) -> int:
    """Signatures in ``rows`` that do not verify as P-256/SHA-256 signatures of their payloads."""
    bad = 0
    for _, _, signatures in rows:
        for payload, signature in zip(payloads, signatures, strict=True):
            try:
                public_key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                bad += 1
    return bad


def report(title: str, rows: Rows, count: int, latency: float, failed: int, pool: str) -> None:
    baseline = count / rows[0][1]
    print(f"{title} + {latency * 1000:.0f} ms per call, {count} payloads, P-256, median of rounds")
    serial = count * latency
    print(f"ideal serial: {count} x {latency:.3f} s = {serial:.2f} s ({1 / latency:.1f} sigs/s); N in flight: N times")
    print(pool)
    print(f"{'':32} {'sigs/s':>9} {'x one-at-a-time':>16} {'x latency bound':>16}")
    for label, seconds, _ in rows:
        rate = count / seconds
        workers = int(label.split(", ")[1].split()[0]) if ", " in label else 1
        bound = workers / latency  # what latency alone allows with that many calls in flight
        print(f"{label:32} {rate:9.1f} {rate / baseline:16.2f} {rate / bound:16.2f}")
    print(f"signatures verified locally with cryptography: {sum(len(r[2]) for r in rows)}, failures: {failed}")
    sys.stdout.flush()
