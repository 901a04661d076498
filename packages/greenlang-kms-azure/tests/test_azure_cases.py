"""Cases S1 (payloads of any size, digest only) and S2 (raw r||s to DER over many signatures) through the vault."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import create
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from greenlang_kms_azure import AzureKeyVaultProvider
from greenlang_kms_azure.testing import LocalKeyVault

SIZES = {"0 bytes": 0, "4,096 bytes": 4096, "4,097 bytes": 4097, "10 MB": 10 * 1024 * 1024}


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("key_type", ["ecdsa-p384", "rsa-2048"])
def test_case_S1_payloads_of_any_size_sign_and_only_the_digest_is_sent(
    size: str,
    key_type: str,
    vault: LocalKeyVault,
    typed_key: Callable[[str], str],
    open_key: Callable[..., AzureKeyVaultProvider],
    oracle_pem: Callable[..., bytes],
    verifies: Callable[[bytes, str, bytes, bytes], bool],
) -> None:
    payload = bytes(range(256)) * (SIZES[size] // 256) + b"\x07" * (SIZES[size] % 256)
    name = typed_key(key_type)
    signer = open_key(name)
    signer.resolved()
    result = signer.sign(payload)
    assert verifies(oracle_pem(name), result.algorithm, payload, result.signature)
    digest_length = {"sha256": 32, "sha384": 48}[result.algorithm.rsplit("-", 1)[1]]
    assert vault.signed == [(signer.algorithm.provider_id("azure"), digest_length)]


@pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521"])
def test_case_S2_two_thousand_vault_signatures_per_curve_convert_and_verify(
    curve: str,
    vault: LocalKeyVault,
    open_key: Callable[..., AzureKeyVaultProvider],
    oracle_pem: Callable[..., bytes],
    verifies: Callable[[bytes, str, bytes, bytes], bool],
) -> None:
    name = f"many-{curve.lower()}"
    create(vault, {"P-256": "ecdsa-p256", "P-384": "ecdsa-p384", "P-521": "ecdsa-p521"}[curve], name)
    payloads = [f"facility {n}".encode() for n in range(2000)]
    items = open_key(name).sign_many(payloads, max_workers=8)
    pem = oracle_pem(name)
    assert all(item.ok and item.result is not None for item in items)
    results = [item.result for item in items if item.result is not None]
    signatures = [result.signature for result in results]
    algorithm = results[0].algorithm
    assert all(verifies(pem, algorithm, p, s) for p, s in zip(payloads, signatures, strict=True))
    width = {"P-256": 32, "P-384": 48, "P-521": 66}[curve]
    short = [s for s in signatures if min(decode_dss_signature(s)) < 256 ** (width - 1)]
    assert short, "no signature with a leading zero byte in 2,000; the fixed-width path went untested"
