"""Every Cloud KMS signing algorithm signs through the real client, over gRPC and over REST, and verifies locally."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import ALGORITHMS
from greenlang_kms_gcp import GcpKmsProvider
from greenlang_kms_gcp.testing import LocalCloudKms

PAYLOAD = b"scope 2 emissions, Lyon site, 2026-Q3: 311.2 tCO2e"
FAMILY_SAMPLES = ("EC_SIGN_P384_SHA384", "RSA_SIGN_PSS_3072_SHA256", "RSA_SIGN_PKCS1_2048_SHA256", "EC_SIGN_ED25519")


@pytest.mark.parametrize("transport", ["grpc", "rest"])
@pytest.mark.parametrize("gcp_algorithm", sorted(ALGORITHMS))
def test_every_algorithm_signs_and_verifies(
    gcp_algorithm: str,
    transport: str,
    cloud: LocalCloudKms,
    algorithm_key: Callable[[str], str],
    open_key: Callable[..., GcpKmsProvider],
    oracle_pem: Callable[[str], bytes],
    verifies: Callable[[bytes, str, bytes, bytes], bool],
) -> None:
    key = algorithm_key(gcp_algorithm)
    signer = open_key(key, transport=transport)
    result = signer.sign(PAYLOAD)
    version = f"{key}/cryptoKeyVersions/1"
    assert result.algorithm == ALGORITHMS[gcp_algorithm]
    assert result.key_ref == f"gcpkms://{version}"
    assert signer.get_public_key() == oracle_pem(version)
    assert verifies(oracle_pem(version), result.algorithm, PAYLOAD, result.signature)
    assert not verifies(oracle_pem(version), result.algorithm, PAYLOAD + b"!", result.signature)
    assert cloud.count("AsymmetricSign", transport=transport) == 1


@pytest.mark.parametrize("gcp_algorithm", FAMILY_SAMPLES)
def test_one_per_family_also_verifies_with_openssl(
    gcp_algorithm: str,
    algorithm_key: Callable[[str], str],
    open_key: Callable[..., GcpKmsProvider],
    oracle_pem: Callable[[str], bytes],
    openssl_verifies: Callable[[bytes, str, bytes, bytes], bool],
) -> None:
    key = algorithm_key(gcp_algorithm)
    result = open_key(key).sign(PAYLOAD)
    pem = oracle_pem(f"{key}/cryptoKeyVersions/1")
    assert openssl_verifies(pem, result.algorithm, PAYLOAD, result.signature)
    assert not openssl_verifies(pem, result.algorithm, PAYLOAD[:-1], result.signature)


@pytest.mark.parametrize("gcp_algorithm", ["EC_SIGN_P256_SHA256", "EC_SIGN_ED25519", "RSA_SIGN_PSS_2048_SHA256"])
def test_the_async_client_signs_too(
    gcp_algorithm: str,
    cloud: LocalCloudKms,
    algorithm_key: Callable[[str], str],
    open_key: Callable[..., GcpKmsProvider],
    oracle_pem: Callable[[str], bytes],
    verifies: Callable[[bytes, str, bytes, bytes], bool],
) -> None:
    import asyncio

    key = algorithm_key(gcp_algorithm)
    signer = open_key(key)
    signer.resolved()
    results = asyncio.run(signer.sign_many_async([PAYLOAD + bytes([n]) for n in range(6)], max_workers=3))
    assert all(item.ok for item in results)
    for n, item in enumerate(results):
        assert item.result is not None
        assert verifies(
            oracle_pem(f"{key}/cryptoKeyVersions/1"), item.result.algorithm, PAYLOAD + bytes([n]), item.result.signature
        )
    assert cloud.count("AsymmetricSign", transport="grpc") == 6
