"""Shared fixtures: one local Cloud KMS per session, one key per algorithm, and verifiers independent of the provider.

Stable fixture names: ``gcp_env`` (autouse: no Google or GL_KMS settings from the machine), ``cloud``,
``algorithm_key``, ``open_key`` (gRPC or REST through ``transport=``), ``oracle_pem``, ``verifies``,
``openssl_verifies``. Signatures are checked with ``cryptography`` or the ``openssl`` command against the
public key of the local KMS's own private key, never with the provider's ``verify``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from greenlang_kms_gcp import GcpKmsProvider
from greenlang_kms_gcp.testing import LocalCloudKms

from greenlang.testing import openssl_verifies as openssl_check
from greenlang.testing import require_openssl, verify_independently

CLEARED = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "GL_KMS_PROVIDER",
    "GL_KMS_KEY_ID",
    "GL_KMS_REGION",
    "GL_KMS_ENDPOINT",
)

# Cloud KMS algorithm -> the core table's algorithm name (checked by hand against DESIGN.md §5).
ALGORITHMS = {
    "EC_SIGN_P256_SHA256": "ecdsa-p256-sha256",
    "EC_SIGN_P384_SHA384": "ecdsa-p384-sha384",
    "EC_SIGN_SECP256K1_SHA256": "ecdsa-secp256k1-sha256",
    "RSA_SIGN_PSS_2048_SHA256": "rsa-pss-2048-sha256",
    "RSA_SIGN_PSS_3072_SHA256": "rsa-pss-3072-sha256",
    "RSA_SIGN_PSS_4096_SHA256": "rsa-pss-4096-sha256",
    "RSA_SIGN_PSS_4096_SHA512": "rsa-pss-4096-sha512",
    "RSA_SIGN_PKCS1_2048_SHA256": "rsa-pkcs1v15-2048-sha256",
    "RSA_SIGN_PKCS1_3072_SHA256": "rsa-pkcs1v15-3072-sha256",
    "RSA_SIGN_PKCS1_4096_SHA256": "rsa-pkcs1v15-4096-sha256",
    "RSA_SIGN_PKCS1_4096_SHA512": "rsa-pkcs1v15-4096-sha512",
    "EC_SIGN_ED25519": "ed25519",
}


@pytest.fixture(autouse=True)
def gcp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def cloud() -> Iterator[LocalCloudKms]:
    with LocalCloudKms() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_faults(cloud: LocalCloudKms) -> Iterator[None]:
    cloud.reset()
    yield
    cloud.reset()


@pytest.fixture(scope="session")
def algorithm_key(cloud: LocalCloudKms) -> Callable[[str], str]:
    """``algorithm_key("RSA_SIGN_PSS_4096_SHA512")`` -> the crypto key name of the session's key of that algorithm."""
    made: dict[str, str] = {}

    def get(algorithm: str) -> str:
        if algorithm not in made:
            made[algorithm] = cloud.create_key(f"alg-{algorithm.lower().replace('_', '-')}", algorithm)
        return made[algorithm]

    return get


@pytest.fixture
def open_key(cloud: LocalCloudKms) -> Iterator[Callable[..., GcpKmsProvider]]:
    """``open_key(resource name | gcpkms URI, transport="grpc" | "rest", **options)``: a provider on the local KMS."""
    opened: list[Any] = []

    def open_(ref: str, *, transport: str = "grpc", **options: Any) -> GcpKmsProvider:
        uri = ref if ref.startswith("gcpkms:") else f"gcpkms://{ref}"
        client = cloud.grpc_client() if transport == "grpc" else cloud.rest_client()
        opened.append(client)
        options.setdefault("async_client", cloud.async_client)
        return GcpKmsProvider(uri, client=client, **options)

    yield open_
    for client in opened:
        client.transport.close()


def pem_of(key: Any) -> bytes:
    public = key.public_key() if hasattr(key, "private_bytes") else key
    return bytes(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


@pytest.fixture(scope="session")
def oracle_pem(cloud: LocalCloudKms) -> Callable[[str], bytes]:
    """``oracle_pem(version name)``: the public half of the local KMS's own private key for that version."""
    return lambda version: pem_of(cloud.private_key(version))


@pytest.fixture(scope="session")
def verifies() -> Callable[[bytes, str, bytes, bytes], bool]:
    return verify_independently


@pytest.fixture
def openssl_verifies() -> Callable[[bytes, str, bytes, bytes], bool]:
    require_openssl()
    return openssl_check
