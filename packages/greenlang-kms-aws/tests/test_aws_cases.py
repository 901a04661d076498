"""Cases S1, S3, S4 and S5 of /work/shared/cases/README.md against AwsKmsProvider and the KMS test server.

What reaches the server is observed through botocore's public event hooks on the provider's own client.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from greenlang_kms_aws import AwsKmsProvider
from greenlang_kms_aws.testing import AwsKmsTestServer

from greenlang.errors import AlgorithmMismatchError, InputError

PAYLOADS = {
    "0 bytes": b"",
    "4096 bytes": bytes(range(256)) * 16,
    "4097 bytes": bytes(range(256)) * 16 + b"\x01",
    "10 MB": b"\xa5\x5a" * (5 * 1024 * 1024),
}
PAYLOAD = b"report 2026-Q3, Lyon, scope 2 market-based: 310.2 tCO2e"
RSA_SPECS = ("RSA_2048", "RSA_3072", "RSA_4096")


def rsa_public_key(der: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_der_public_key(der)
    assert isinstance(key, rsa.RSAPublicKey)
    return key


# -- S1: large payloads -------------------------------------------------------------------------------------------


def test_case_S1_payload_sizes_are_what_the_brief_says() -> None:
    assert [len(p) for p in PAYLOADS.values()] == [0, 4096, 4097, 10 * 1024 * 1024]


@pytest.mark.parametrize(
    ("spec", "algorithm", "hash_name"),
    [("ECC_NIST_P256", "ecdsa-p256-sha256", "sha256"), ("RSA_3072", "rsa-pss-3072-sha512", "sha512")],
)
@pytest.mark.parametrize("size", list(PAYLOADS))
def test_case_S1_any_payload_size_sends_only_its_digest(
    spec: str,
    algorithm: str,
    hash_name: str,
    size: str,
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
    watch: Callable[[AwsKmsProvider], Any],
) -> None:
    payload = PAYLOADS[size]
    arn = spec_key(spec)
    provider = open_key(arn, algorithm=algorithm)
    seen = watch(provider)

    result = provider.sign(payload)

    assert result.algorithm == algorithm
    assert verifies(public_der(arn), algorithm, payload, result.signature)
    [sent] = seen.sign_params
    assert sent["MessageType"] == "DIGEST"
    assert sent["Message"] == hashlib.new(hash_name, payload).digest()
    assert len(sent["Message"]) == {"sha256": 32, "sha512": 64}[hash_name]


# -- S3: RSA is never converted -------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", RSA_SPECS)
def test_case_S3_pkcs1v15_signature_is_the_oracles_own(
    spec: str,
    server: AwsKmsTestServer,
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
    watch: Callable[[AwsKmsProvider], Any],
) -> None:
    bits = int(spec.removeprefix("RSA_"))
    arn = spec_key(spec)
    provider = open_key(arn, algorithm=f"rsa-pkcs1v15-{bits}-sha256")
    seen = watch(provider)

    result = provider.sign(PAYLOAD)

    expected = server.private_key(arn).sign(PAYLOAD, padding.PKCS1v15(), hashes.SHA256())
    assert result.signature == expected
    assert len(result.signature) == bits // 8 == rsa_public_key(public_der(arn)).key_size // 8
    assert result.signature == seen.sign_responses[0]["Signature"]
    assert verifies(public_der(arn), result.algorithm, PAYLOAD, result.signature)


@pytest.mark.parametrize("spec", RSA_SPECS)
@pytest.mark.parametrize("hash_name", ["sha256", "sha384", "sha512"])
def test_case_S3_pss_signature_passes_through_with_a_digest_length_salt(
    spec: str,
    hash_name: str,
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    watch: Callable[[AwsKmsProvider], Any],
) -> None:
    bits = int(spec.removeprefix("RSA_"))
    arn = spec_key(spec)
    provider = open_key(arn, algorithm=f"rsa-pss-{bits}-{hash_name}")
    seen = watch(provider)
    digest = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}[hash_name]()
    key = rsa_public_key(public_der(arn))

    signature = provider.sign(PAYLOAD).signature

    assert signature == seen.sign_responses[0]["Signature"]
    assert len(signature) == bits // 8
    key.verify(signature, PAYLOAD, padding.PSS(mgf=padding.MGF1(digest), salt_length=padding.PSS.DIGEST_LENGTH), digest)
    max_salt = bits // 8 - digest.digest_size - 2
    for other in (digest.digest_size - 1, digest.digest_size + 1, max_salt):
        with pytest.raises(InvalidSignature):
            key.verify(signature, PAYLOAD, padding.PSS(mgf=padding.MGF1(digest), salt_length=other), digest)


# -- S4: algorithm choice is stable -------------------------------------------------------------------------------


def orders(listed: list[str], shuffles: int) -> list[list[str]]:
    """The listed order, its reverse, the sorted order and ``shuffles`` seeded random orders."""
    rng = random.Random(20261204)
    out = [list(listed), list(reversed(listed)), sorted(listed)]
    for _ in range(shuffles):
        order = list(listed)
        rng.shuffle(order)
        out.append(order)
    return out


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("RSA_2048", "rsa-pss-2048-sha256"),
        ("RSA_3072", "rsa-pss-3072-sha256"),
        ("RSA_4096", "rsa-pss-4096-sha512"),
        ("ECC_NIST_P384", "ecdsa-p384-sha384"),
    ],
)
def test_case_S4_shuffled_listing_gives_the_same_algorithm(
    spec: str,
    expected: str,
    server: AwsKmsTestServer,
    kms: Any,
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
) -> None:
    """A fresh provider per order; one client carries the hook, so the run stays fast."""
    arn = spec_key(spec)
    listed = list(kms.get_public_key(KeyId=arn)["SigningAlgorithms"])
    wanted: list[list[str]] = []
    served: list[tuple[str, ...]] = []

    def reorder(parsed: dict[str, Any], **_: Any) -> None:
        if "SigningAlgorithms" in parsed:
            assert sorted(parsed["SigningAlgorithms"]) == sorted(wanted[-1])
            parsed["SigningAlgorithms"] = list(wanted[-1])
            served.append(tuple(parsed["SigningAlgorithms"]))

    client = server.client()
    client.meta.events.register("after-call.kms.GetPublicKey", reorder)
    sign_algorithms: list[str] = []
    client.meta.events.register(
        "provide-client-params.kms.Sign", lambda params, **_: sign_algorithms.append(params["SigningAlgorithm"])
    )
    chosen = set()
    recorded = set()
    for order in orders(listed, shuffles=30):
        wanted.append(order)
        provider = open_key(arn, client=client)
        result = provider.sign(PAYLOAD)
        assert verifies(public_der(arn), result.algorithm, PAYLOAD, result.signature)
        chosen.add(result.algorithm)
        recorded.add(provider.key_info().algorithm)

    assert chosen == recorded == {expected}
    assert len(set(sign_algorithms)) == 1
    assert len(served) == len(wanted)
    if len(listed) > 1:
        assert len(set(served)) > 10  # the hook really changed the order the provider saw


# -- S5: hash fits the curve -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "aws_algorithm", "hash_name", "size"),
    [("ECC_NIST_P384", "ECDSA_SHA_384", "sha384", 48), ("ECC_NIST_P521", "ECDSA_SHA_512", "sha512", 64)],
)
def test_case_S5_curve_signs_with_its_own_hash(
    spec: str,
    aws_algorithm: str,
    hash_name: str,
    size: int,
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
    watch: Callable[[AwsKmsProvider], Any],
) -> None:
    arn = spec_key(spec)
    provider = open_key(arn)
    seen = watch(provider)

    result = provider.sign(PAYLOAD)

    [sent] = seen.sign_params
    assert sent["SigningAlgorithm"] == aws_algorithm
    assert len(sent["Message"]) == size
    assert sent["Message"] == hashlib.new(hash_name, PAYLOAD).digest()
    assert result.algorithm == f"ecdsa-{spec.rsplit('_', 1)[1].lower()}-{hash_name}"
    assert verifies(public_der(arn), result.algorithm, PAYLOAD, result.signature)


@pytest.mark.parametrize("requested", ["ECDSA_SHA_256", "ecdsa-p256-sha256"])
def test_case_S5_sha256_on_p521_is_refused_before_any_sign_call(
    requested: str,
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    watch: Callable[[AwsKmsProvider], Any],
) -> None:
    provider = open_key(spec_key("ECC_NIST_P521"), algorithm=requested)
    seen = watch(provider)

    with pytest.raises(InputError) as info:
        provider.sign(PAYLOAD)

    message = str(info.value)
    assert requested in message
    assert "ecdsa-p521" in message
    assert "ecdsa-p521-sha512" in message  # names what does fit
    assert seen.calls["Sign"] == 0
    assert seen.sign_params == []
    # The curve is only known from the key: DescribeKey's KeySpec settles it, before the public key is fetched.
    assert seen.calls["DescribeKey"] == 1
    assert seen.calls["GetPublicKey"] == 0

    with pytest.raises(AlgorithmMismatchError):
        provider.sign(PAYLOAD)  # the refusal is remembered for the cache period: no second lookup
    assert sum(seen.calls.values()) == 1
