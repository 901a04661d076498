"""Key versions: pinned when named, else the highest ENABLED version compared as numbers, cached with the TTL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from greenlang_kms_gcp import GcpKmsProvider
from greenlang_kms_gcp.testing import LocalCloudKms

from greenlang.errors import KeyUnusableError

PAYLOAD = b"verification statement 2026"


def test_the_highest_enabled_version_wins_compared_as_numbers(
    cloud: LocalCloudKms,
    open_key: Callable[..., GcpKmsProvider],
    oracle_pem: Callable[[str], bytes],
    verifies: Callable[[bytes, str, bytes, bytes], bool],
) -> None:
    key = cloud.create_key("eleven-versions", "EC_SIGN_P256_SHA256", versions=11)
    cloud.set_state(f"{key}/cryptoKeyVersions/11", "DISABLED")
    result = open_key(key).sign(PAYLOAD)
    assert result.key_ref == f"gcpkms://{key}/cryptoKeyVersions/10"  # 10 beats 9; 11 is disabled
    assert verifies(oracle_pem(f"{key}/cryptoKeyVersions/10"), result.algorithm, PAYLOAD, result.signature)
    assert not verifies(oracle_pem(f"{key}/cryptoKeyVersions/9"), result.algorithm, PAYLOAD, result.signature)


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_the_resolution_is_cached_and_refreshed_after_the_ttl(
    transport: str, cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider]
) -> None:
    key = cloud.create_key(f"cached-{transport}", "EC_SIGN_P384_SHA384", versions=2)
    now = [0.0]
    signer = open_key(key, transport=transport, cache_ttl_seconds=60, timer=lambda: now[0])
    first = [signer.sign(PAYLOAD).key_ref for _ in range(3)]
    assert cloud.count("ListCryptoKeyVersions") == 1
    assert cloud.count("GetPublicKey") == 1
    cloud.add_version(key)
    now[0] = 61.0
    after = signer.sign(PAYLOAD).key_ref
    assert first == [f"gcpkms://{key}/cryptoKeyVersions/2"] * 3
    assert after == f"gcpkms://{key}/cryptoKeyVersions/3"
    assert cloud.count("ListCryptoKeyVersions") == 2


def test_a_pinned_version_stays_pinned(
    cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider], oracle_pem: Callable[[str], bytes]
) -> None:
    key = cloud.create_key("pinned", "RSA_SIGN_PSS_2048_SHA256", versions=3)
    signer = open_key(f"{key}/cryptoKeyVersions/2")
    assert signer.sign(PAYLOAD).key_ref == f"gcpkms://{key}/cryptoKeyVersions/2"
    assert signer.get_public_key() == oracle_pem(f"{key}/cryptoKeyVersions/2")
    assert cloud.count("ListCryptoKeyVersions") == 0


@pytest.mark.parametrize("state", ["DISABLED", "DESTROYED"])
def test_a_pinned_version_that_cannot_sign_is_named_with_its_state(
    state: str, cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider]
) -> None:
    key = cloud.create_key(f"pinned-{state.lower()}", "EC_SIGN_P256_SHA256", versions=2)
    cloud.set_state(f"{key}/cryptoKeyVersions/1", state)
    with pytest.raises(KeyUnusableError, match=f"cryptoKeyVersions/1 is {state}; enable it or use another version"):
        open_key(f"{key}/cryptoKeyVersions/1").sign(PAYLOAD)
    assert cloud.count("AsymmetricSign") == 0


def test_a_key_with_no_enabled_version_says_so(cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider]) -> None:
    key = cloud.create_key("all-disabled", "EC_SIGN_P256_SHA256", versions=2)
    for n in (1, 2):
        cloud.set_state(f"{key}/cryptoKeyVersions/{n}", "DISABLED")
    with pytest.raises(KeyUnusableError, match="has no ENABLED version"):
        open_key(key).sign(PAYLOAD)


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_a_version_disabled_after_resolution_is_refused_by_the_service(
    transport: str, cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider]
) -> None:
    key = cloud.create_key(f"disabled-later-{transport}", "EC_SIGN_P256_SHA256")
    pinned, unpinned = open_key(f"{key}/cryptoKeyVersions/1", transport=transport), open_key(key, transport=transport)
    pinned.resolved()
    unpinned.resolved()
    cloud.set_state(f"{key}/cryptoKeyVersions/1", "DISABLED")
    with pytest.raises(KeyUnusableError, match=r"cannot sign in its current state \(FAILED_PRECONDITION"):
        pinned.sign(PAYLOAD)
    with pytest.raises(KeyUnusableError, match="has no ENABLED version"):  # looked up again after the refusal
        unpinned.sign(PAYLOAD)
    assert cloud.count("AsymmetricSign") == 2  # neither is retried


def test_disabling_the_cached_highest_version_moves_to_the_next_in_the_same_call(
    cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider]
) -> None:
    key = cloud.create_key("highest-disabled", "EC_SIGN_P256_SHA256", versions=3)
    signer = open_key(key)
    assert signer.sign(PAYLOAD).key_ref.endswith("/cryptoKeyVersions/3")
    cloud.set_state(f"{key}/cryptoKeyVersions/3", "DISABLED")
    assert signer.sign(PAYLOAD).key_ref.endswith("/cryptoKeyVersions/2")
