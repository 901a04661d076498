"""``sign_many`` against the local Key Vault with 50 ms added to every call, beside one-at-a-time signing.

Usage: python bench/kms_azure_batch.py [--quick] [--json] [--payloads N] [--latency SECONDS]

Needs greenlang-kms-azure. ``LocalKeyVault`` serves the Key Vault REST API over HTTPS on
127.0.0.1 and waits ``--latency`` seconds before answering each request, as a round trip to
an Azure region would. Rows, each the median of rounds:

- one at a time: ``provider.sign`` in a loop (the baseline the ratios are against);
- ``sign_many`` with 1, 4, 8 and 16 workers;
- bare SDK: ``CryptographyClient.sign`` (digest computed here) from a thread pool of the same
  size, with none of greenlang's work: the SDK's own limit for that concurrency.

Every signature is verified afterwards with ``cryptography`` against the key's public key from
the vault's key store; any failure makes the run exit 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import kmsbench
from azure.keyvault.keys.crypto import SignatureAlgorithm
from greenlang_kms_azure import AzureKeyVaultProvider
from greenlang_kms_azure.client import MAX_POOL_CONNECTIONS
from greenlang_kms_azure.testing import LocalKeyVault

from greenlang.security.encoding import raw_to_der
from greenlang.security.kms import RetryPolicy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer payloads and rounds")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON")
    parser.add_argument("--payloads", type=int, default=None, help="payloads per round (default 200, quick 48)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to each call (default 0.05)")
    args = parser.parse_args()
    count = args.payloads or (48 if args.quick else 200)
    rounds = 2 if args.quick else 3

    payloads = [f"facility {n:05d}: scope 1 = {n * 3.7:.1f} tCO2e\n".encode() * 8 for n in range(count)]
    with LocalKeyVault() as vault:
        vault.create_key("bench", "EC", curve="P-256")
        public_key = vault.private_key("bench").public_key()
        provider = AzureKeyVaultProvider(
            f"azurekms://{vault.host}/keys/bench",
            credential=vault.credential(),
            connection_verify=vault.ca_path,
            verify_challenge_resource=False,
            retry=RetryPolicy(read_timeout=30),
        )
        provider.resolved()  # the key lookup is once per hour, not part of signing throughput
        bare = provider.clients.crypto(provider.clients.keys.get_key("bench"))  # the provider's own SDK clients
        vault.latency = args.latency

        rows: kmsbench.Rows = []

        def measure(label: str, run: Callable[[], list[bytes]]) -> None:
            rows.append((label, *kmsbench.timed(rounds, run)))

        measure("one at a time (baseline)", lambda: [provider.sign(p).signature for p in payloads])
        for workers in kmsbench.WORKERS:
            measure(f"sign_many, {workers} workers", partial(kmsbench.batch, provider, payloads, workers))
        for workers in kmsbench.WORKERS[1:]:
            measure(f"bare SDK, {workers} threads", partial(_bare, bare, public_key, payloads, workers))

    failed = kmsbench.failures(public_key, payloads, rows)
    if args.json:
        figures = [{"row": label, "seconds": took, "signatures_per_second": count / took} for label, took, _ in rows]
        print(json.dumps({"payloads": count, "latency_seconds": args.latency, "rows": figures, "failures": failed}))
    else:
        pool = f"HTTPS connection pool per provider: {MAX_POOL_CONNECTIONS} (requests' default is 10)"
        kmsbench.report("local Key Vault (HTTPS)", rows, count, args.latency, failed, pool)
    return 1 if failed else 0


def _bare(client: Any, public_key: Any, payloads: list[bytes], workers: int) -> list[bytes]:
    def sign(payload: bytes) -> bytes:
        digest = hashlib.sha256(payload).digest()
        return raw_to_der(client.sign(SignatureAlgorithm.es256, digest).signature, public_key.curve)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(sign, payloads))


if __name__ == "__main__":
    raise SystemExit(main())
