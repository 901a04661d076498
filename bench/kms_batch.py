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

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import kmsbench
from greenlang_kms_aws import AwsKmsProvider
from greenlang_kms_aws.client import MAX_POOL_CONNECTIONS
from greenlang_kms_aws.testing import AwsKmsTestServer, FaultProxy

from greenlang.security.kms import RetryPolicy

WORKERS = kmsbench.WORKERS


def main() -> int:
    run = kmsbench.parse(__doc__.splitlines()[0])
    payloads, rounds = run.payloads, run.rounds
    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ.setdefault(name, value)
    with AwsKmsTestServer() as server, FaultProxy(server.endpoint_url) as proxy:
        arn = server.create_key("ECC_NIST_P256")
        public_key = server.private_key(arn).public_key()
        provider = AwsKmsProvider(
            f"awskms:///{arn}", endpoint_url=proxy.endpoint_url, retry=RetryPolicy(read_timeout=30)
        )
        provider.resolved()  # the key lookup is once per hour, not part of signing throughput
        raw = _raw_client(server, proxy)
        proxy.latency = run.latency

        rows: kmsbench.Rows = []

        def measure(label: str, job: Callable[[], list[bytes]]) -> None:
            rows.append((label, *kmsbench.timed(rounds, job)))

        measure("one at a time (baseline)", lambda: [provider.sign(p).signature for p in payloads])
        for workers in WORKERS:
            measure(f"sign_many, {workers} workers", partial(kmsbench.batch, provider, payloads, workers))
        for workers in WORKERS[1:]:
            measure(f"bare boto3, {workers} threads", partial(_bare, raw, arn, payloads, workers))

    pool = f"connection pool per boto3 client: {MAX_POOL_CONNECTIONS} (botocore's default is 10)"
    return kmsbench.finish(run, rows, public_key, "AWS KMS test server", pool)


def _raw_client(server: AwsKmsTestServer, proxy: FaultProxy) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(region_name=server.region)
    config = Config(max_pool_connections=MAX_POOL_CONNECTIONS)
    return session.client("kms", endpoint_url=proxy.endpoint_url, config=config)


def _bare(client: Any, arn: str, payloads: list[bytes], workers: int) -> list[bytes]:
    def sign(payload: bytes) -> bytes:
        digest = hashlib.sha256(payload).digest()
        answer = client.sign(KeyId=arn, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
        return bytes(answer["Signature"])

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(sign, payloads))


if __name__ == "__main__":
    raise SystemExit(main())
