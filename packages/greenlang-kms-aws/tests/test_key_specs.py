"""Every signing key spec AWS offers, through AwsKmsProvider: the algorithm, the result's fields and the public key.

Expected names are written out here from AWS's documentation and DESIGN.md, not read from the product's table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from greenlang_kms_aws import AwsKmsProvider
from greenlang_kms_aws.testing import AwsKmsTestServer

from greenlang.security.keyref import open_signer

PAYLOAD = b"site lyon 2026-Q3 scope 1: 1204.7 tCO2e\n"

DEFAULTS = {
    "RSA_2048": "rsa-pss-2048-sha256",
    "RSA_3072": "rsa-pss-3072-sha256",
    "RSA_4096": "rsa-pss-4096-sha512",
    "ECC_NIST_P256": "ecdsa-p256-sha256",
    "ECC_NIST_P384": "ecdsa-p384-sha384",
    "ECC_NIST_P521": "ecdsa-p521-sha512",
    "ECC_SECG_P256K1": "ecdsa-secp256k1-sha256",
}
KEY_TYPES = {
    "RSA_2048": "rsa-2048",
    "RSA_3072": "rsa-3072",
    "RSA_4096": "rsa-4096",
    "ECC_NIST_P256": "ecdsa-p256",
    "ECC_NIST_P384": "ecdsa-p384",
    "ECC_NIST_P521": "ecdsa-p521",
    "ECC_SECG_P256K1": "ecdsa-secp256k1",
}
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}
RSA_CASES = [
    (spec, family, hash_name)
    for spec in ("RSA_2048", "RSA_3072", "RSA_4096")
    for family in ("rsa-pss", "rsa-pkcs1v15")
    for hash_name in ("sha256", "sha384", "sha512")
]


def aws_id(algorithm: str) -> str:
    """AWS's SigningAlgorithm for a stable name, spelled out from the AWS KMS API reference."""
    bits = algorithm.rsplit("-sha", 1)[1]
    if algorithm.startswith("rsa-pss-"):
        return f"RSASSA_PSS_SHA_{bits}"
    if algorithm.startswith("rsa-pkcs1v15-"):
        return f"RSASSA_PKCS1_V1_5_SHA_{bits}"
    return f"ECDSA_SHA_{bits}"


def pem_of(der: bytes) -> bytes:
    key = serialization.load_der_public_key(der)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("spec", list(DEFAULTS))
def test_default_algorithm_signs_and_the_result_describes_it(
    spec: str,
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
    watch: Callable[[AwsKmsProvider], Any],
) -> None:
    arn = spec_key(spec)
    provider = open_key(arn)
    seen = watch(provider)
    before = datetime.now(UTC)

    result = provider.sign(PAYLOAD)

    der = public_der(arn)
    assert result.algorithm == DEFAULTS[spec]
    assert verifies(der, result.algorithm, PAYLOAD, result.signature)
    assert not verifies(der, result.algorithm, PAYLOAD + b"!", result.signature)
    assert result.provider == "aws"
    assert result.key_ref == f"awskms:///{arn}"
    assert result.key_id == hashlib.sha256(der).hexdigest()
    assert result.timestamp.tzinfo is not None
    assert result.timestamp.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= result.timestamp <= datetime.now(UTC) + timedelta(seconds=1)
    assert result.fallback_for is None
    [sent] = seen.sign_params
    assert sent["KeyId"] == arn
    assert sent["SigningAlgorithm"] == aws_id(DEFAULTS[spec])
    assert sent["MessageType"] == "DIGEST"


@pytest.mark.parametrize(("spec", "family", "hash_name"), RSA_CASES)
def test_rsa_scheme_and_hash_requested_by_name(
    spec: str,
    family: str,
    hash_name: str,
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
    watch: Callable[[AwsKmsProvider], Any],
) -> None:
    bits = spec.removeprefix("RSA_")
    name = f"{family}-{bits}-{hash_name}"
    arn = spec_key(spec)
    provider = open_key(arn, algorithm=name)
    seen = watch(provider)

    result = provider.sign(PAYLOAD)

    assert result.algorithm == name
    assert verifies(public_der(arn), name, PAYLOAD, result.signature)
    assert len(result.signature) == int(bits) // 8
    [sent] = seen.sign_params
    assert sent["SigningAlgorithm"] == aws_id(name)
    assert sent["Message"] == hashlib.new(hash_name, PAYLOAD).digest()
    assert len(sent["Message"]) == DIGEST_SIZES[hash_name]


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [*((spec, None) for spec in DEFAULTS), ("RSA_2048", "rsa-pkcs1v15-2048-sha384")],
)
def test_openssl_verifies_a_signature_of_each_spec(
    spec: str,
    algorithm: str | None,
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
    openssl_verifies: Callable[..., bool],
) -> None:
    arn = spec_key(spec)
    result = open_key(arn, algorithm=algorithm).sign(PAYLOAD)
    der = public_der(arn)

    assert result.algorithm == (algorithm or DEFAULTS[spec])
    assert verifies(der, result.algorithm, PAYLOAD, result.signature)
    assert openssl_verifies(der, result.algorithm, PAYLOAD, result.signature)
    assert not openssl_verifies(der, result.algorithm, PAYLOAD[:-1], result.signature)


@pytest.mark.parametrize("spec", list(DEFAULTS))
def test_public_key_and_key_info_match_the_server(
    spec: str,
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
) -> None:
    arn = spec_key(spec)
    provider = open_key(arn)
    der = public_der(arn)

    assert provider.get_public_key() == pem_of(der)
    info = provider.key_info()
    assert info.provider == "aws"
    assert info.key_ref == f"awskms:///{arn}"
    assert info.resolved_ref == f"awskms:///{arn}"
    assert info.key_id == hashlib.sha256(der).hexdigest()
    assert info.algorithm == DEFAULTS[spec]
    assert info.key_type == KEY_TYPES[spec]
    assert info.spec == spec
    assert info.enabled is True
    assert info.rotation_enabled is False  # AWS never rotates asymmetric keys automatically
    assert info.public_key_pem.encode("ascii") == pem_of(der)


def test_open_signer_takes_endpoint_and_region_from_the_uri(
    server: AwsKmsTestServer,
    kms: Any,
    spec_key: Callable[[str], str],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
) -> None:
    arn = spec_key("ECC_NIST_P384")
    kms.create_alias(AliasName="alias/greenlang/key-specs-open-signer", TargetKeyId=arn)
    by_arn = open_signer(f"awskms:///{arn}?endpoint={server.endpoint_url}&region={server.region}")
    by_alias = open_signer(
        f"awskms:///alias/greenlang/key-specs-open-signer?region={server.region}&endpoint={server.endpoint_url}"
    )

    for signer in (by_arn, by_alias):
        assert isinstance(signer, AwsKmsProvider)
        result = signer.sign(PAYLOAD)
        assert result.key_ref == f"awskms:///{arn}"
        assert result.algorithm == "ecdsa-p384-sha384"
        assert verifies(public_der(arn), result.algorithm, PAYLOAD, result.signature)
    assert isinstance(by_alias, AwsKmsProvider)
    info = by_alias.key_info()
    assert info.key_ref.startswith("awskms:///alias/greenlang/key-specs-open-signer")
    assert info.resolved_ref == f"awskms:///{arn}"
