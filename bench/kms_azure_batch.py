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

import hashlib
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
    run = kmsbench.parse(__doc__.splitlines()[0])
    payloads, rounds = run.payloads, run.rounds
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
        vault.latency = run.latency

        rows: kmsbench.Rows = []

        def measure(label: str, job: Callable[[], list[bytes]]) -> None:
            rows.append((label, *kmsbench.timed(rounds, job)))

        measure("one at a time (baseline)", lambda: [provider.sign(p).signature for p in payloads])
        for workers in kmsbench.WORKERS:
            measure(f"sign_many, {workers} workers", partial(kmsbench.batch, provider, payloads, workers))
        for workers in kmsbench.WORKERS[1:]:
            measure(f"bare SDK, {workers} threads", partial(_bare, bare, public_key, payloads, workers))

    pool = f"HTTPS connection pool per provider: {MAX_POOL_CONNECTIONS} (requests' default is 10)"
    return kmsbench.finish(run, rows, public_key, "local Key Vault (HTTPS)", pool)


def _bare(client: Any, public_key: Any, payloads: list[bytes], workers: int) -> list[bytes]:
    def sign(payload: bytes) -> bytes:
        digest = hashlib.sha256(payload).digest()
        return raw_to_der(client.sign(SignatureAlgorithm.es256, digest).signature, public_key.curve)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(sign, payloads))


if __name__ == "__main__":
    raise SystemExit(main())
