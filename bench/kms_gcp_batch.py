"""``sign_many`` against the local Cloud KMS with 50 ms added to every call, beside one-at-a-time signing.

Usage: python bench/kms_gcp_batch.py [--quick] [--json] [--payloads N] [--latency SECONDS]

Needs greenlang-kms-gcp. ``LocalCloudKms`` serves the real gRPC service on 127.0.0.1 and waits
``--latency`` seconds before answering each call, as a round trip to a Cloud KMS region would.
Rows, each the median of rounds:

- one at a time: ``provider.sign`` in a loop (the baseline the ratios are against);
- ``sign_many`` with 1, 4, 8 and 16 workers, and ``sign_many_async`` with 16 in flight through
  the async client on one event loop (no threads);
- bare client: ``asymmetric_sign`` with the digest's CRC32C from a thread pool of the same size,
  with none of greenlang's work (no integrity checks on the answer, no local verification):
  the client's own limit for that concurrency.

Every signature is verified afterwards with ``cryptography`` against the key's public key from
the local KMS's key store; any failure makes the run exit 1.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import google_crc32c
import kmsbench
from greenlang_kms_gcp import GcpKmsProvider
from greenlang_kms_gcp.testing import LocalCloudKms

from greenlang.security.kms import RetryPolicy


def main() -> int:
    run = kmsbench.parse(__doc__.splitlines()[0])
    payloads, rounds = run.payloads, run.rounds
    with LocalCloudKms() as cloud:
        key = cloud.create_key("bench", "EC_SIGN_P256_SHA256")
        version = f"{key}/cryptoKeyVersions/1"
        public_key = cloud.private_key(version).public_key()
        client = cloud.grpc_client()
        provider = GcpKmsProvider(
            f"gcpkms://{key}", client=client, async_client=cloud.async_client, retry=RetryPolicy(read_timeout=30)
        )
        provider.resolved()  # the key lookup is once per hour, not part of signing throughput
        cloud.faults.latency = run.latency

        rows: kmsbench.Rows = []

        def measure(label: str, job: Callable[[], list[bytes]]) -> None:
            rows.append((label, *kmsbench.timed(rounds, job)))

        measure("one at a time (baseline)", lambda: [provider.sign(p).signature for p in payloads])
        for workers in kmsbench.WORKERS:
            measure(f"sign_many, {workers} workers", partial(kmsbench.batch, provider, payloads, workers))
        measure("sign_many_async, 16 in flight", partial(_async_batch, provider, payloads, 16))
        for workers in kmsbench.WORKERS[1:]:
            measure(f"bare client, {workers} threads", partial(_bare, client, version, payloads, workers))
        client.transport.close()

    return kmsbench.finish(run, rows, public_key, "local Cloud KMS (gRPC)", "one gRPC channel per client")


def _async_batch(provider: GcpKmsProvider, payloads: list[bytes], in_flight: int) -> list[bytes]:
    items = asyncio.run(provider.sign_many_async(payloads, max_workers=in_flight))
    bad = [item for item in items if not item.ok or item.result is None]
    if bad:
        raise SystemExit(f"sign_many_async failed for item {bad[0].index}: {bad[0].error}")
    return [item.result.signature for item in items if item.result is not None]


def _bare(client: Any, version: str, payloads: list[bytes], workers: int) -> list[bytes]:
    def sign(payload: bytes) -> bytes:
        digest = hashlib.sha256(payload).digest()
        request = {"name": version, "digest": {"sha256": digest}, "digest_crc32c": google_crc32c.value(digest)}
        return bytes(client.asymmetric_sign(request=request).signature)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(sign, payloads))


if __name__ == "__main__":
    raise SystemExit(main())
