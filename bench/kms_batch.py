"""``sign_many`` against the AWS KMS test server with 50 ms added to every call, beside one-at-a-time signing.

Usage: python bench/kms_batch.py [--quick] [--json] [--payloads N] [--latency SECONDS]

Needs greenlang-kms-aws with its test extra (moto). The server runs on 127.0.0.1 and a
``FaultProxy`` in front of it adds the latency, as a network round trip to a KMS region would.
Rows, each the median of rounds:

- one at a time: ``provider.sign`` in a loop (the baseline the ratios are against);
- ``sign_many`` with 1, 4, 8 and 16 workers;
- bare boto3: the same Sign calls (digest computed here) from a thread pool of the same size,
  with none of greenlang's work (local hashing is the same, but no breaker, cache or local check)
  — the SDK's own limit for that concurrency.

Every signature is verified afterwards with ``cryptography`` against the key's public key taken
from the server side; any failure makes the run exit 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from greenlang_kms_aws import AwsKmsProvider
from greenlang_kms_aws.client import MAX_POOL_CONNECTIONS
from greenlang_kms_aws.testing import AwsKmsTestServer, FaultProxy

from greenlang.security.kms import RetryPolicy

WORKERS = (1, 4, 8, 16)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer payloads and rounds")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON")
    parser.add_argument("--payloads", type=int, default=None, help="payloads per round (default 200, quick 48)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to each call (default 0.05)")
    args = parser.parse_args()
    count = args.payloads or (48 if args.quick else 200)
    rounds = 2 if args.quick else 3
    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ.setdefault(name, value)

    payloads = [f"facility {n:05d}: scope 1 = {n * 3.7:.1f} tCO2e\n".encode() * 8 for n in range(count)]
    with AwsKmsTestServer() as server, FaultProxy(server.endpoint_url) as proxy:
        arn = server.create_key("ECC_NIST_P256")
        public_key = server.private_key(arn).public_key()
        provider = AwsKmsProvider(
            f"awskms:///{arn}", endpoint_url=proxy.endpoint_url, retry=RetryPolicy(read_timeout=30)
        )
        provider.resolved()  # the key lookup is once per hour, not part of signing throughput
        raw = _raw_client(server, proxy)
        proxy.latency = args.latency

        rows: list[tuple[str, float, list[bytes]]] = []

        def measure(label: str, run: Callable[[], list[bytes]]) -> None:
            rows.append((label, *_timed(rounds, run)))

        measure("one at a time (baseline)", lambda: [provider.sign(p).signature for p in payloads])
        for workers in WORKERS:
            measure(f"sign_many, {workers} workers", partial(_batch, provider, payloads, workers))
        for workers in WORKERS[1:]:
            measure(f"bare boto3, {workers} threads", partial(_bare, raw, arn, payloads, workers))

    failures = sum(not _verifies(public_key, p, s) for _, _, sigs in rows for p, s in zip(payloads, sigs, strict=True))
    if args.json:
        figures = [{"row": label, "seconds": took, "signatures_per_second": count / took} for label, took, _ in rows]
        print(json.dumps({"payloads": count, "latency_seconds": args.latency, "rows": figures, "failures": failures}))
    else:
        _report(rows, count, args.latency, failures)
    return 1 if failures else 0


def _raw_client(server: AwsKmsTestServer, proxy: FaultProxy) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(region_name=server.region)
    config = Config(max_pool_connections=MAX_POOL_CONNECTIONS)
    return session.client("kms", endpoint_url=proxy.endpoint_url, config=config)


def _batch(provider: AwsKmsProvider, payloads: list[bytes], workers: int) -> list[bytes]:
    items = provider.sign_many(payloads, max_workers=workers)
    bad = [item for item in items if not item.ok or item.result is None]
    if bad:
        raise SystemExit(f"sign_many failed for item {bad[0].index}: {bad[0].error}")
    return [item.result.signature for item in items if item.result is not None]


def _bare(client: Any, arn: str, payloads: list[bytes], workers: int) -> list[bytes]:
    def sign(payload: bytes) -> bytes:
        digest = hashlib.sha256(payload).digest()
        answer = client.sign(KeyId=arn, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
        return bytes(answer["Signature"])

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(sign, payloads))


def _timed(rounds: int, run: Callable[[], list[bytes]]) -> tuple[float, list[bytes]]:
    run()  # warm-up: connections opened, code paths loaded
    times = []
    signatures: list[bytes] = []
    for _ in range(rounds):
        started = time.perf_counter()
        signatures = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), signatures


def _verifies(public_key: Any, payload: bytes, signature: bytes) -> bool:
    try:
        public_key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _report(rows: list[tuple[str, float, list[bytes]]], count: int, latency: float, failures: int) -> None:
    baseline = count / rows[0][1]
    print(f"AWS KMS test server + {latency * 1000:.0f} ms per call, {count} payloads, ECC_NIST_P256, median of rounds")
    serial = count * latency
    print(f"ideal serial: {count} x {latency:.3f} s = {serial:.2f} s ({1 / latency:.1f} sigs/s); N in flight: N times")
    print(f"connection pool per boto3 client: {MAX_POOL_CONNECTIONS} (botocore's default is 10)")
    print(f"{'':32} {'sigs/s':>9} {'x one-at-a-time':>16} {'x latency bound':>16}")
    for label, seconds, _ in rows:
        rate = count / seconds
        workers = int(label.split(", ")[1].split()[0]) if ", " in label else 1
        bound = workers / latency  # what latency alone allows with that many calls in flight
        print(f"{label:32} {rate:9.1f} {rate / baseline:16.2f} {rate / bound:16.2f}")
    print(f"signatures verified locally with cryptography: {sum(len(r[2]) for r in rows)}, failures: {failures}")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
