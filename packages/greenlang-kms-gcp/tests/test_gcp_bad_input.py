"""Bad input gets one clear sentence naming the problem and the fix, and nothing is signed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from greenlang_kms_gcp import GcpKmsProvider
from greenlang_kms_gcp.testing import LocalCloudKms

from greenlang.errors import AlgorithmMismatchError, InputError, KeyUnusableError

RING = "projects/greenlang-test/locations/global/keyRings/ring"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("gcpkms://projects/p/locations/global/keyRings/r", "does not have the form"),
        ("gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/0", "versions are positive"),
        ("gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/x", "versions are positive"),
        ("gcpkms://projects/P_P/locations/global/keyRings/r/cryptoKeys/k", "project"),
        ("gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k?x=1", "unknown option"),
        ("gcpkms://projects/p/locations/global/keyrings/r/cryptoKeys/k", "does not have the form"),
        ("awskms://projects/p/locations/global/keyRings/r/cryptoKeys/k", "should start with gcpkms://"),
    ],
)
def test_a_malformed_gcpkms_reference_is_refused(uri: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        GcpKmsProvider(uri, client=object())


def test_a_symmetric_key_is_refused_before_signing(
    cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider]
) -> None:
    key = cloud.create_key("symmetric", "GOOGLE_SYMMETRIC_ENCRYPTION", purpose="ENCRYPT_DECRYPT")
    with pytest.raises(KeyUnusableError, match="has purpose ENCRYPT_DECRYPT, not ASYMMETRIC_SIGN"):
        open_key(key).sign(b"report")
    with pytest.raises(KeyUnusableError, match="GOOGLE_SYMMETRIC_ENCRYPTION, which greenlang-kms-gcp does not sign"):
        open_key(f"{key}/cryptoKeyVersions/1").sign(b"report")
    assert cloud.count("AsymmetricSign") == 0


@pytest.mark.parametrize(
    ("gcp_algorithm", "requested"),
    [
        ("EC_SIGN_P256_SHA256", "ecdsa-p384-sha384"),
        ("EC_SIGN_P256_SHA256", "EC_SIGN_P384_SHA384"),
        ("RSA_SIGN_PSS_2048_SHA256", "RSA_SIGN_PKCS1_2048_SHA256"),
        ("RSA_SIGN_PSS_4096_SHA512", "rsa-pss-4096-sha256"),
        ("EC_SIGN_ED25519", "ecdsa-p256-sha256"),
    ],
)
def test_an_algorithm_that_does_not_fit_the_key_version_is_refused_before_signing(
    gcp_algorithm: str,
    requested: str,
    cloud: LocalCloudKms,
    algorithm_key: Callable[[str], str],
    open_key: Callable[..., GcpKmsProvider],
) -> None:
    signer = open_key(algorithm_key(gcp_algorithm), algorithm=requested)
    with pytest.raises(AlgorithmMismatchError):
        signer.sign(b"report")
    assert cloud.count("AsymmetricSign") == 0


@pytest.mark.parametrize("gcp_algorithm", ["EC_SIGN_P256_SHA256", "RSA_SIGN_PKCS1_2048_SHA256", "EC_SIGN_ED25519"])
def test_an_empty_payload_signs_correctly(
    gcp_algorithm: str,
    algorithm_key: Callable[[str], str],
    open_key: Callable[..., GcpKmsProvider],
    oracle_pem: Callable[[str], bytes],
    verifies: Callable[[bytes, str, bytes, bytes], bool],
) -> None:
    """Documented choice: an empty payload is signed (its digest, or for Ed25519 the empty message)."""
    key = algorithm_key(gcp_algorithm)
    result = open_key(key).sign(b"")
    assert verifies(oracle_pem(f"{key}/cryptoKeyVersions/1"), result.algorithm, b"", result.signature)


def test_an_unknown_key_is_named(open_key: Callable[..., GcpKmsProvider]) -> None:
    with pytest.raises(KeyUnusableError, match="no-such-key was not found .*NOT_FOUND"):
        open_key(f"{RING}/cryptoKeys/no-such-key").sign(b"report")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"transport": "http"}, "transport must be grpc or rest"),
        ({"api_endpoint": "http://kms.example.com:80"}, "plain http, which is only for a local emulator"),
        ({"api_endpoint": ""}, "is not a host"),
        ({"endpoint_url": "https://x"}, "pass api_endpoint="),
        ({"region": "europe-west1"}, "GcpKmsProvider has no option 'region'"),
        ({"api_endpoint": "http://127.0.0.1:99999"}, "port 1-65535"),
        ({"api_endpoint": "http://127.0.0.1:0"}, "port 1-65535"),
        ({"api_endpoint": "garbage endpoint !!"}, "is not a host"),
        ({"api_endpoint": "ftp://x"}, "is not a host"),
        ({"api_endpoint": "http://127.0.0.1:8080"}, "takes no credentials"),
        ({"client": "x"}, "client must be a KeyManagementServiceClient"),
        ({"async_client": "nope"}, "async_client must be a function"),
    ],
)
def test_bad_options_are_refused_by_name(options: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        GcpKmsProvider(f"gcpkms://{RING}/cryptoKeys/k", credentials=object(), **options)
