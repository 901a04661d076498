"""Retries, deadlines, the circuit breaker and explicit fallback, against faults injected on the loopback.

A ``FaultProxy`` between boto3 and the KMS test server throttles, fails or stalls chosen calls, so botocore's
own retry machinery meets the answers it would get from AWS. Every signature that comes back is checked
against the key's public key taken from the server side, not from the provider.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from greenlang_kms_aws import AwsKmsProvider
from greenlang_kms_aws.testing import AwsKmsTestServer, FaultProxy

from greenlang.errors import CircuitOpenError, InputError, KeyUnusableError, KMSUnavailableError, VerificationError
from greenlang.plugins import registry
from greenlang.security.artifacts import sign_artifact
from greenlang.security.keys import generate_private_key, save_private_key, save_public_key
from greenlang.security.kms import BreakerState, CircuitBreaker, ExternalKMSSigner, RetryPolicy
from greenlang.security.signing import LocalSigner, SigningConfig
from greenlang.security.verify import verify_artifact

PAYLOAD = b"site lyon, 2026-Q3: scope 1 = 1,204.7 tCO2e"
THROTTLING = {"status": 400, "code": "ThrottlingException"}


def open_key(arn: str, proxy: FaultProxy, **options: Any) -> AwsKmsProvider:
    """A provider through the proxy whose key is already resolved, so only Sign calls remain to count."""
    provider = AwsKmsProvider(f"awskms:///{arn}", endpoint_url=proxy.endpoint_url, **options)
    provider.resolved()
    return provider


def assert_signed_by(server: AwsKmsTestServer, arn: str, signature: bytes, payload: bytes = PAYLOAD) -> None:
    server.private_key(arn).public_key().verify(signature, payload, ec.ECDSA(hashes.SHA256()))


def sign_gaps(proxy: FaultProxy) -> list[float]:
    times = [call.at for call in proxy.log if call.operation == "Sign"]
    return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


def test_the_client_uses_botocores_own_retries_with_the_policy(proxy: FaultProxy, key_arn: str) -> None:
    policy = RetryPolicy(max_attempts=3, connect_timeout=1.5, read_timeout=2.5)
    provider = open_key(key_arn, proxy, retry=policy)
    config = provider.client.meta.config
    assert config.retries == {"total_max_attempts": 3, "mode": "standard"}
    assert (config.connect_timeout, config.read_timeout) == (1.5, 2.5)


@pytest.mark.parametrize(
    "fault",
    [
        THROTTLING,
        {"status": 500, "code": "KMSInternalException"},
        {"status": 500, "code": "InternalFailure"},
        {"status": 503, "code": "ServiceUnavailable"},
        {"status": 400, "code": "LimitExceededException"},
        {"status": 429, "code": "TooManyRequests"},
        {"status": 400, "code": "ProvisionedThroughputExceededException"},
    ],
    ids=lambda fault: fault["code"],
)
def test_transient_faults_are_retried_until_success(
    server: AwsKmsTestServer, proxy: FaultProxy, key_arn: str, fault: dict[str, Any]
) -> None:
    provider = open_key(key_arn, proxy, retry=RetryPolicy(max_attempts=3))
    proxy.fail("Sign", times=2, **fault)
    result = provider.sign(PAYLOAD)
    assert proxy.count("Sign") == 3
    assert_signed_by(server, key_arn, result.signature)


def test_attempts_are_bounded_and_the_error_says_how_many(proxy: FaultProxy, key_arn: str) -> None:
    provider = open_key(key_arn, proxy, retry=RetryPolicy(max_attempts=3))
    proxy.fail("Sign", times=3, **THROTTLING)
    with pytest.raises(KMSUnavailableError, match=r"\(ThrottlingException\) after 3 attempts"):
        provider.sign(PAYLOAD)
    assert proxy.count("Sign") == 3


def test_seed_max_retries_means_that_many_retries(proxy: FaultProxy, key_arn: str) -> None:
    provider = open_key(key_arn, proxy, max_retries=1)
    proxy.fail("Sign", times=5, status=503, code="ServiceUnavailable")
    with pytest.raises(KMSUnavailableError, match="after 2 attempts"):
        provider.sign(PAYLOAD)
    assert proxy.count("Sign") == 2


def test_backoff_waits_grow_within_botocores_bounds(proxy: FaultProxy, key_arn: str, server: AwsKmsTestServer) -> None:
    """Throttling backoff is rand(0,1) * min(2**(attempt-1), 20) s in botocore's standard mode: full jitter."""
    provider = open_key(key_arn, proxy, retry=RetryPolicy(max_attempts=4))
    proxy.fail("Sign", times=3, **THROTTLING)
    result = provider.sign(PAYLOAD)
    assert_signed_by(server, key_arn, result.signature)
    gaps = sign_gaps(proxy)
    assert len(gaps) == 3
    for attempt, gap in enumerate(gaps, start=1):
        assert 0 <= gap <= 2 ** (attempt - 1) + 0.5, (attempt, gaps)


def test_server_errors_back_off_on_a_shorter_scale(proxy: FaultProxy, key_arn: str) -> None:
    provider = open_key(key_arn, proxy, retry=RetryPolicy(max_attempts=4))
    proxy.fail("Sign", times=3, status=500, code="InternalFailure")
    provider.sign(PAYLOAD)
    assert all(gap <= 0.05 * 2 ** (attempt - 1) + 0.5 for attempt, gap in enumerate(sign_gaps(proxy), start=1))


@pytest.mark.parametrize(
    ("code", "error", "words"),
    [
        ("AccessDeniedException", KeyUnusableError, "denied access"),
        ("NotFoundException", KeyUnusableError, "was not found"),
        ("DisabledException", KeyUnusableError, "is disabled"),
        ("KMSInvalidStateException", KeyUnusableError, "current state"),
        ("InvalidKeyUsageException", KeyUnusableError, "not a signing key"),
        ("ValidationException", InputError, "refused the request"),
    ],
)
def test_non_retryable_errors_are_raised_after_one_attempt(
    proxy: FaultProxy, key_arn: str, code: str, error: type[Exception], words: str, aws_env: dict[str, str]
) -> None:
    provider = open_key(key_arn, proxy, retry=RetryPolicy(max_attempts=5))
    proxy.fail("Sign", times=5, status=400, code=code)
    with pytest.raises(error, match=words) as caught:
        provider.sign(PAYLOAD)
    assert proxy.count("Sign") == 1
    assert aws_env["AWS_SECRET_ACCESS_KEY"] not in str(caught.value)


def test_a_read_timeout_is_retried(server: AwsKmsTestServer, proxy: FaultProxy, key_arn: str) -> None:
    provider = open_key(key_arn, proxy, retry=RetryPolicy(max_attempts=3, read_timeout=0.5))
    proxy.stall("Sign", 1.5)
    result = provider.sign(PAYLOAD)
    assert proxy.count("Sign") == 2
    assert_signed_by(server, key_arn, result.signature)


def test_timeouts_on_every_attempt_become_unavailable(proxy: FaultProxy, key_arn: str) -> None:
    provider = open_key(key_arn, proxy, retry=RetryPolicy(max_attempts=2, read_timeout=0.4))
    proxy.stall("Sign", 1.5, times=2)
    with pytest.raises(KMSUnavailableError, match="ReadTimeoutError"):
        provider.sign(PAYLOAD)
    assert proxy.count("Sign") == 2


def test_the_deadline_stops_a_retry_sequence(proxy: FaultProxy, key_arn: str) -> None:
    policy = RetryPolicy(max_attempts=10, deadline_seconds=1.0, read_timeout=0.4)
    provider = open_key(key_arn, proxy, retry=policy)
    proxy.stall("Sign", 2.0, times=10)
    started = time.monotonic()
    with pytest.raises(KMSUnavailableError, match="deadline"):
        provider.sign(PAYLOAD)
    elapsed = time.monotonic() - started
    attempts = proxy.count("Sign")
    assert 2 <= attempts < 10
    assert elapsed < policy.deadline_seconds + 1.0  # the caller's wait; a second of slack for a busy machine


def test_the_deadline_cuts_a_slow_attempt_short(server: AwsKmsTestServer, proxy: FaultProxy, key_arn: str) -> None:
    provider = open_key(key_arn, proxy, retry=RetryPolicy(deadline_seconds=1.0, read_timeout=8))
    proxy.stall("Sign", 4.0)
    started = time.monotonic()
    with pytest.raises(KMSUnavailableError, match="within its 1 s deadline"):
        provider.sign(PAYLOAD)
    assert time.monotonic() - started < 3.0  # well before the 4 s answer arrives
    result = provider.sign(PAYLOAD)  # the next call is unaffected by the abandoned one
    assert_signed_by(server, key_arn, result.signature)


def test_the_deadline_cuts_backoff_waits_short(proxy: FaultProxy, key_arn: str) -> None:
    provider = open_key(key_arn, proxy, retry=RetryPolicy(max_attempts=8, deadline_seconds=1.5))
    proxy.fail("Sign", times=8, **THROTTLING)  # eight attempts would wait up to 1+2+4+... s between them
    started = time.monotonic()
    with pytest.raises(KMSUnavailableError, match="deadline"):
        provider.sign(PAYLOAD)
    assert time.monotonic() - started < 1.5 + 1.0


def test_key_lookup_is_retried_too(server: AwsKmsTestServer, proxy: FaultProxy, key_arn: str) -> None:
    provider = AwsKmsProvider(f"awskms:///{key_arn}", endpoint_url=proxy.endpoint_url, retry=RetryPolicy())
    proxy.fail("GetPublicKey", **THROTTLING)
    proxy.fail("DescribeKey", status=503, code="ServiceUnavailable")
    result = provider.sign(PAYLOAD)
    assert (proxy.count("DescribeKey"), proxy.count("GetPublicKey"), proxy.count("Sign")) == (2, 2, 1)
    assert_signed_by(server, key_arn, result.signature)


def test_breaker_opens_fails_fast_probes_and_closes(server: AwsKmsTestServer, proxy: FaultProxy, key_arn: str) -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=0.5)
    provider = open_key(key_arn, proxy, retry=RetryPolicy(max_attempts=1), breaker=breaker)
    proxy.fail("Sign", times=3, status=503, code="ServiceUnavailable")

    for _ in range(2):
        with pytest.raises(KMSUnavailableError):
            provider.sign(PAYLOAD)
    assert breaker.state is BreakerState.OPEN
    started = time.monotonic()
    with pytest.raises(CircuitOpenError):
        provider.sign(PAYLOAD)
    assert time.monotonic() - started < 0.1
    assert proxy.count("Sign") == 2  # failing fast sent nothing

    time.sleep(0.6)
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(KMSUnavailableError):
        provider.sign(PAYLOAD)  # the probe meets the third fault
    assert breaker.state is BreakerState.OPEN
    assert proxy.count("Sign") == 3

    time.sleep(0.6)
    result = provider.sign(PAYLOAD)  # the probe succeeds
    assert breaker.state is BreakerState.CLOSED
    assert proxy.count("Sign") == 4
    assert_signed_by(server, key_arn, result.signature)


def test_unusable_key_errors_do_not_open_the_breaker(proxy: FaultProxy, key_arn: str) -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=60)
    provider = open_key(key_arn, proxy, retry=RetryPolicy(max_attempts=1), breaker=breaker)
    proxy.fail("Sign", times=3, status=400, code="AccessDeniedException")
    for _ in range(3):
        with pytest.raises(KeyUnusableError):
            provider.sign(PAYLOAD)
    assert breaker.state is BreakerState.CLOSED
    assert proxy.count("Sign") == 3


@pytest.fixture
def standby(tmp_path: Path) -> tuple[LocalSigner, Path]:
    key = generate_private_key("ecdsa-p256")
    save_private_key(key, tmp_path / "standby.pem")
    save_public_key(key, tmp_path / "standby.pub.pem")
    return LocalSigner.from_file(tmp_path / "standby.pem"), tmp_path / "standby.pub.pem"


def test_fallback_signs_only_when_the_service_is_unavailable_and_says_so(
    server: AwsKmsTestServer, proxy: FaultProxy, key_arn: str, standby: tuple[LocalSigner, Path]
) -> None:
    local, _ = standby
    provider = open_key(key_arn, proxy, retry=RetryPolicy(max_attempts=2), fallback=local)
    proxy.fail("Sign", times=2, status=503, code="ServiceUnavailable")
    result = provider.sign(PAYLOAD)
    assert result.fallback_for == provider.uri
    assert (result.key_ref, result.key_id, result.provider) == (local.key_ref, local.key_id, "local")
    local.public_key().verify(result.signature, PAYLOAD, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        assert_signed_by(server, key_arn, result.signature)
    assert not provider.verify(PAYLOAD, result.signature)  # a verifier trusting only the KMS key rejects it

    back = provider.sign(PAYLOAD)  # the service is back: no fallback
    assert back.fallback_for is None
    assert back.key_ref == f"awskms:///{key_arn}"
    assert_signed_by(server, key_arn, back.signature)


def test_fallback_never_covers_an_unusable_key(
    proxy: FaultProxy, key_arn: str, standby: tuple[LocalSigner, Path]
) -> None:
    local, _ = standby
    provider = open_key(key_arn, proxy, retry=RetryPolicy(max_attempts=2), fallback=local)
    proxy.fail("Sign", status=400, code="DisabledException")
    with pytest.raises(KeyUnusableError, match="disabled"):
        provider.sign(PAYLOAD)


def test_a_fallback_bundle_is_rejected_by_a_kms_only_verifier(
    proxy: FaultProxy, key_arn: str, standby: tuple[LocalSigner, Path], tmp_path: Path
) -> None:
    local, standby_pub = standby
    provider = open_key(key_arn, proxy, retry=RetryPolicy(max_attempts=1), fallback=local)
    report = tmp_path / "report.csv"
    report.write_text("site,scope,tCO2e\nlyon,1,1204.7\n")
    kms_pub = tmp_path / "kms.pub.pem"
    kms_pub.write_bytes(provider.get_public_key())
    proxy.fail("Sign", status=500, code="InternalFailure")
    envelope, bundle = sign_artifact(report, provider)
    assert f'"fallback_for": "{provider.uri}"' in bundle.read_text()
    with pytest.raises(VerificationError):
        verify_artifact(report, envelope, kms_pub)
    assert verify_artifact(report, envelope, standby_pub).sha256


def test_awskms_is_registered_through_the_entry_point() -> None:
    registration = registry().kms_provider("awskms")
    assert registration.value is AwsKmsProvider
    assert registration.plugin == "awskms"


def test_signer_info_during_an_outage_says_enabled_is_unknown(
    server: AwsKmsTestServer, proxy: FaultProxy, key_arn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GL_KMS_REGION", server.region)
    signer = ExternalKMSSigner(SigningConfig(kms_key_id=key_arn), endpoint_url=proxy.endpoint_url, max_retries=0)
    assert signer.kms_provider.retry.max_attempts == 1  # the option wins over SigningConfig's default of 3
    proxy.fail("DescribeKey", status=503, code="ServiceUnavailable")
    info = signer.get_signer_info()
    assert (info["enabled"], info["algorithm"]) == (None, None)
    assert "stayed unavailable" in info["error"]
    assert signer.get_signer_info()["enabled"] is True  # the service is back
