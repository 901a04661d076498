"""Retries through the core policy: transient codes are retried with backoff, the others raise at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from greenlang_kms_gcp import GcpKmsProvider
from greenlang_kms_gcp.testing import LocalCloudKms

from greenlang.errors import CircuitOpenError, InputError, KeyUnusableError, KMSError, KMSUnavailableError
from greenlang.plugins import registry
from greenlang.security.kms import BreakerState, CircuitBreaker, RetryPolicy

PAYLOAD = b"scope 3 category 1, 2026"
TRANSIENT = ["UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"]
PERMANENT = {
    "INVALID_ARGUMENT": InputError,
    "PERMISSION_DENIED": KeyUnusableError,
    "NOT_FOUND": KeyUnusableError,
    "FAILED_PRECONDITION": KeyUnusableError,
}


@pytest.fixture(scope="module")
def key(cloud: LocalCloudKms) -> str:
    return cloud.create_key("resilience", "EC_SIGN_P256_SHA256")


@pytest.mark.parametrize("transport", ["grpc", "rest"])
@pytest.mark.parametrize("code", TRANSIENT)
def test_transient_errors_are_retried_a_given_number_of_times(
    code: str, transport: str, key: str, cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider]
) -> None:
    signer = open_key(key, transport=transport, retry=RetryPolicy(max_attempts=4))
    signer.resolved()
    cloud.faults.fail("AsymmetricSign", code, times=2)
    assert signer.sign(PAYLOAD).signature
    assert cloud.count("AsymmetricSign") == 3


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_attempts_are_bounded_and_backed_off(
    transport: str, key: str, cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider]
) -> None:
    signer = open_key(key, transport=transport, retry=RetryPolicy(max_attempts=3))
    signer.resolved()
    cloud.faults.fail("AsymmetricSign", "UNAVAILABLE", times=None)
    with pytest.raises(KMSUnavailableError, match="stayed unavailable .* through every retry"):
        signer.sign(PAYLOAD)
    calls = [call.at for call in cloud.calls if call.method == "AsymmetricSign"]
    assert len(calls) == 3
    gaps = [later - earlier for earlier, later in zip(calls, calls[1:], strict=False)]
    assert all(gap > 0.0 for gap in gaps)
    assert sum(gaps) < 2.0  # 0.1 s initial, doubling, with jitter


@pytest.mark.parametrize("transport", ["grpc", "rest"])
@pytest.mark.parametrize("code", sorted(PERMANENT))
def test_permanent_errors_raise_at_once(
    code: str, transport: str, key: str, cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider]
) -> None:
    signer = open_key(key, transport=transport, retry=RetryPolicy(max_attempts=5))
    signer.resolved()
    cloud.faults.fail("AsymmetricSign", code, times=None)
    with pytest.raises(PERMANENT[code]):
        signer.sign(PAYLOAD)
    assert cloud.count("AsymmetricSign") == 1


def test_the_deadline_stops_a_slow_service(
    key: str, cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider]
) -> None:
    signer = open_key(key, retry=RetryPolicy(deadline_seconds=0.5))
    signer.resolved()
    cloud.faults.latency = 2.0
    started = time.monotonic()
    with pytest.raises(KMSUnavailableError):
        signer.sign(PAYLOAD)
    assert time.monotonic() - started < 1.5


def test_the_async_path_retries_and_stops_at_the_deadline(
    key: str, cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider]
) -> None:
    signer = open_key(key, retry=RetryPolicy(max_attempts=4, deadline_seconds=0.5))
    signer.resolved()
    cloud.faults.fail("AsymmetricSign", "UNAVAILABLE", times=2)
    assert asyncio.run(signer.sign_async(PAYLOAD)).signature
    assert cloud.count("AsymmetricSign") == 3
    cloud.faults.latency = 2.0
    started = time.monotonic()
    with pytest.raises(KMSUnavailableError, match="within its 0.5 s deadline"):
        asyncio.run(signer.sign_async(PAYLOAD))
    assert time.monotonic() - started < 1.5


def test_breaker_opens_and_a_probe_closes_it(
    key: str, cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider]
) -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=5, timer=lambda: now[0])
    signer = open_key(key, retry=RetryPolicy(max_attempts=1), breaker=breaker)
    signer.resolved()
    cloud.faults.fail("AsymmetricSign", "UNAVAILABLE", times=2)
    for _ in range(2):
        with pytest.raises(KMSUnavailableError):
            signer.sign(PAYLOAD)
    with pytest.raises(CircuitOpenError):
        signer.sign(PAYLOAD)
    assert cloud.count("AsymmetricSign") == 2
    now[0] = 6.0
    assert signer.sign(PAYLOAD).signature
    assert breaker.state is BreakerState.CLOSED


def test_gcpkms_is_registered_through_the_entry_point() -> None:
    registration = registry().kms_provider("gcpkms")
    assert registration.value is GcpKmsProvider
    assert registration.plugin == "gcpkms"


@pytest.mark.parametrize(
    ("code", "error", "message"),
    [
        ("INTERNAL", KMSUnavailableError, "this code is not retried"),
        ("UNKNOWN", KMSUnavailableError, "this code is not retried"),
        ("UNIMPLEMENTED", KeyUnusableError, "does not serve Cloud KMS"),
        ("DATA_LOSS", KMSError, "reported data loss"),
    ],
)
def test_codes_outside_the_policy_are_tried_once_and_named(
    code: str,
    error: type[Exception],
    message: str,
    key: str,
    cloud: LocalCloudKms,
    open_key: Callable[..., GcpKmsProvider],
) -> None:
    signer = open_key(key, retry=RetryPolicy(max_attempts=4))
    signer.resolved()
    cloud.faults.fail("AsymmetricSign", code, times=None)
    with pytest.raises(error, match=message) as raised:
        signer.sign(PAYLOAD)
    assert type(raised.value) is error
    assert cloud.count("AsymmetricSign") == 1


def test_a_stalled_attempt_is_cut_at_the_per_attempt_timeout_and_retried(
    key: str, cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider]
) -> None:
    policy = RetryPolicy(max_attempts=3, connect_timeout=0.2, read_timeout=0.3, deadline_seconds=10)
    signer = open_key(key, retry=policy)
    signer.resolved()
    cloud.faults.latency = 1.5
    started = time.monotonic()
    with pytest.raises(KMSUnavailableError):
        signer.sign(PAYLOAD)
    assert time.monotonic() - started < 5.0
    assert cloud.count("AsymmetricSign") == 3


def test_rest_errors_keep_the_services_reason(cloud: LocalCloudKms, open_key: Callable[..., GcpKmsProvider]) -> None:
    name = cloud.create_key("rest-reason", "EC_SIGN_P256_SHA256")
    signer = open_key(f"{name}/cryptoKeyVersions/1", transport="rest")
    signer.resolved()
    cloud.set_state(f"{name}/cryptoKeyVersions/1", "DISABLED")
    with pytest.raises(KeyUnusableError, match=r"FAILED_PRECONDITION: '.*is not enabled, current state is: DISABLED"):
        signer.sign(PAYLOAD)
