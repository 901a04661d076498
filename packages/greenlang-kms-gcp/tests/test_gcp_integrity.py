"""End-to-end integrity (case S7): every fault the local KMS can inject raises, and no signature is returned."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from greenlang_kms_gcp import GcpKmsProvider
from greenlang_kms_gcp.integrity import IntegrityError
from greenlang_kms_gcp.testing import LocalCloudKms

PAYLOAD = b"assurance report, 2026"


@pytest.fixture(scope="module")
def key(cloud: LocalCloudKms) -> str:
    return cloud.create_key("integrity", "EC_SIGN_P256_SHA256", versions=2)


@pytest.mark.parametrize("transport", ["grpc", "rest"])
@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("clear_verified_flags", "did not confirm the checksum of the digest"),
        ("corrupt_signature_crc", "does not match its CRC32C"),
        ("swap_name", "when asked to sign with"),
    ],
)
def test_case_S7_a_sign_response_that_fails_a_check_returns_no_signature(
    fault: str,
    message: str,
    transport: str,
    key: str,
    cloud: LocalCloudKms,
    open_key: Callable[..., GcpKmsProvider],
) -> None:
    signer = open_key(key, transport=transport)
    signer.resolved()
    getattr(cloud.faults, fault)()
    with pytest.raises(IntegrityError, match=message):
        signer.sign(PAYLOAD)
    assert cloud.count("AsymmetricSign") == 1
    assert signer.sign(PAYLOAD).signature  # the next, untampered answer is accepted


def test_case_S7_ed25519_checks_the_data_flag(
    cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider], algorithm_key: Callable[[str], str]
) -> None:
    signer = open_key(algorithm_key("EC_SIGN_ED25519"))
    signer.resolved()
    cloud.faults.clear_verified_flags()
    with pytest.raises(IntegrityError, match="checksum of the data sent .*verified_data_crc32c is false"):
        signer.sign(PAYLOAD)


@pytest.mark.parametrize("fault", ["corrupt_pem_crc", "swap_name"])
def test_a_public_key_response_that_fails_a_check_is_refused(
    fault: str, key: str, cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider]
) -> None:
    if fault == "swap_name":
        cloud.faults.swap_name("GetPublicKey")
    else:
        cloud.faults.corrupt_pem_crc()
    with pytest.raises(IntegrityError):
        open_key(key).sign(PAYLOAD)
    assert cloud.count("AsymmetricSign") == 0


def test_the_request_carries_the_digest_crc32c_so_the_service_can_confirm_it(
    key: str, cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider]
) -> None:
    # the local KMS, like Google, sets verified_digest_crc32c only when the request carried digest_crc32c;
    # the provider refuses any answer without it, so a successful signature proves the CRC was sent and matched
    assert open_key(key).sign(PAYLOAD).signature
