"""Retries, deadlines, the circuit breaker and explicit fallback, against 429s, 503s and latency from the local vault.

azure-core's own retry policy meets the answers it would get from Key Vault (``Retry-After`` included); every
signature that comes back is checked against the public key from the vault's key store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from greenlang_kms_azure import AzureKeyVaultProvider
from greenlang_kms_azure.testing import LocalKeyVault

from greenlang.errors import CircuitOpenError, KeyUnusableError, KMSUnavailableError
from greenlang.plugins import registry
from greenlang.security.keys import generate_private_key, save_private_key
from greenlang.security.kms import BreakerState, CircuitBreaker, RetryPolicy
from greenlang.security.signing import LocalSigner

PAYLOAD = b"site lyon, 2026-Q3: scope 1 = 1,204.7 tCO2e"
FAST = {"retry_backoff_factor": 0.01}


def sign_log(vault: LocalKeyVault) -> list[int]:
    """Status of each authorized Sign attempt, in order."""
    return [status for method, path, authorized, status in vault.requests if path.endswith("/sign") and authorized]


@pytest.fixture
def resolved(open_key: Callable[..., AzureKeyVaultProvider], key_name: str) -> Callable[..., AzureKeyVaultProvider]:
    """A provider whose key is already resolved and whose challenge is done, so only Sign calls remain to count."""

    def open_(**options: Any) -> AzureKeyVaultProvider:
        provider = open_key(key_name, **options)
        provider.resolved()
        return provider

    return open_


def assert_signed_by(vault: LocalKeyVault, name: str, signature: bytes) -> None:
    public = vault.private_key(name).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, PAYLOAD, ec.ECDSA(hashes.SHA256()))


def test_the_clients_use_azure_cores_own_retries_with_the_policy(
    vault: LocalKeyVault, resolved: Callable[..., AzureKeyVaultProvider]
) -> None:
    provider = resolved(retry=RetryPolicy(max_attempts=3, deadline_seconds=7, connect_timeout=1.5, read_timeout=2.5))
    vault.fail_next(10, status=503, path_contains="/sign")
    with pytest.raises(KMSUnavailableError):
        provider.sign(PAYLOAD)
    assert sign_log(vault) == [503, 503, 503]  # retry_total = max_attempts - 1, as azure-core counts
    config = provider.clients.keys._client._config  # the SDK's own configuration object, read only
    assert config.retry_policy.total_retries == 2


@pytest.mark.parametrize("status", [429, 503, 500])
def test_transient_faults_are_retried_until_success(
    status: int, vault: LocalKeyVault, resolved: Callable[..., AzureKeyVaultProvider], key_name: str
) -> None:
    provider = resolved(retry=RetryPolicy(max_attempts=4))
    vault.fail_next(2, status=status, retry_after=0.2 if status == 429 else None, path_contains="/sign")
    result = provider.sign(PAYLOAD)
    assert sign_log(vault) == [status, status, 200]
    assert_signed_by(vault, key_name, result.signature)


def test_retry_after_is_honoured(vault: LocalKeyVault, resolved: Callable[..., AzureKeyVaultProvider]) -> None:
    provider = resolved(retry=RetryPolicy(max_attempts=3))
    vault.fail_next(1, status=429, retry_after=1, path_contains="/sign")
    started = time.monotonic()
    provider.sign(PAYLOAD)
    assert time.monotonic() - started >= 0.95
    assert sign_log(vault) == [429, 200]


def test_attempts_are_bounded_and_the_error_says_unavailable(
    vault: LocalKeyVault, resolved: Callable[..., AzureKeyVaultProvider]
) -> None:
    provider = resolved(retry=RetryPolicy(max_attempts=3))
    vault.fail_next(10, status=503, path_contains="/sign")
    with pytest.raises(KMSUnavailableError, match=r"stayed unavailable .* \(503"):
        provider.sign(PAYLOAD)
    assert sign_log(vault) == [503, 503, 503]


def test_seed_max_retries_means_that_many_retries(
    vault: LocalKeyVault, resolved: Callable[..., AzureKeyVaultProvider]
) -> None:
    provider = resolved(max_retries=1)
    vault.fail_next(10, status=429, retry_after=0, path_contains="/sign")
    with pytest.raises(KMSUnavailableError):
        provider.sign(PAYLOAD)
    assert sign_log(vault) == [429, 429]


@pytest.mark.parametrize(("setup", "error"), [("forbid", "denied access"), ("disable", "is disabled")])
def test_non_retryable_errors_are_raised_after_one_attempt(
    setup: str, error: str, vault: LocalKeyVault, open_key: Callable[..., AzureKeyVaultProvider]
) -> None:
    name = f"once-{setup}"
    vault.create_key(name, "EC", curve="P-256")
    provider = open_key(name, retry=RetryPolicy(max_attempts=5))
    provider.resolved()
    vault.forbid(name) if setup == "forbid" else vault.set_enabled(name, enabled=False)
    with pytest.raises(KeyUnusableError, match=error):
        provider.sign(PAYLOAD)
    assert sign_log(vault) == [403]


def test_the_deadline_stops_a_slow_vault(vault: LocalKeyVault, resolved: Callable[..., AzureKeyVaultProvider]) -> None:
    provider = resolved(retry=RetryPolicy(max_attempts=5, deadline_seconds=0.5, read_timeout=5))
    vault.latency = 2.0
    started = time.monotonic()
    with pytest.raises(KMSUnavailableError, match="within its 0.5 s deadline"):
        provider.sign(PAYLOAD)
    assert time.monotonic() - started < 1.5


def test_the_deadline_cuts_retry_after_waits_short(
    vault: LocalKeyVault, resolved: Callable[..., AzureKeyVaultProvider]
) -> None:
    provider = resolved(retry=RetryPolicy(max_attempts=5, deadline_seconds=1.0))
    vault.fail_next(5, status=429, retry_after=30, path_contains="/sign")
    started = time.monotonic()
    with pytest.raises(KMSUnavailableError):
        provider.sign(PAYLOAD)
    assert time.monotonic() - started < 2.5


def test_breaker_opens_fails_fast_probes_and_closes(
    vault: LocalKeyVault, resolved: Callable[..., AzureKeyVaultProvider], key_name: str
) -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=5, timer=lambda: now[0])
    provider = resolved(retry=RetryPolicy(max_attempts=1), breaker=breaker)
    vault.fail_next(3, status=503, path_contains="/sign")
    for _ in range(2):
        with pytest.raises(KMSUnavailableError):
            provider.sign(PAYLOAD)
    assert breaker.state is BreakerState.OPEN
    started = time.monotonic()
    with pytest.raises(CircuitOpenError):
        provider.sign(PAYLOAD)
    assert time.monotonic() - started < 0.1
    assert sign_log(vault) == [503, 503]  # failing fast sent nothing

    now[0] = 5.1
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(KMSUnavailableError):
        provider.sign(PAYLOAD)  # the probe meets the third fault
    assert breaker.state is BreakerState.OPEN

    now[0] = 10.2
    result = provider.sign(PAYLOAD)
    assert breaker.state is BreakerState.CLOSED
    assert sign_log(vault) == [503, 503, 503, 200]
    assert_signed_by(vault, key_name, result.signature)


def test_unusable_key_errors_do_not_open_the_breaker(
    vault: LocalKeyVault, open_key: Callable[..., AzureKeyVaultProvider]
) -> None:
    vault.create_key("breaker-forbidden", "EC", curve="P-256")
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=60)
    provider = open_key("breaker-forbidden", retry=RetryPolicy(max_attempts=1), breaker=breaker)
    provider.resolved()
    vault.forbid("breaker-forbidden")
    for _ in range(3):
        with pytest.raises(KeyUnusableError):
            provider.sign(PAYLOAD)
    assert breaker.state is BreakerState.CLOSED


def test_fallback_signs_only_when_the_vault_is_unavailable_and_says_so(
    vault: LocalKeyVault, resolved: Callable[..., AzureKeyVaultProvider], key_name: str, tmp_path: Path
) -> None:
    key = generate_private_key("ecdsa-p256")
    save_private_key(key, tmp_path / "standby.pem")
    local = LocalSigner.from_file(tmp_path / "standby.pem")
    provider = resolved(retry=RetryPolicy(max_attempts=2), fallback=local)
    vault.fail_next(2, status=503, path_contains="/sign")
    result = provider.sign(PAYLOAD)
    assert result.fallback_for == provider.uri
    assert (result.key_ref, result.provider) == (local.key_ref, "local")
    public = key.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(result.signature, PAYLOAD, ec.ECDSA(hashes.SHA256()))
    assert not provider.verify(PAYLOAD, result.signature)

    back = provider.sign(PAYLOAD)
    assert back.fallback_for is None
    assert_signed_by(vault, key_name, back.signature)


def test_azurekms_is_registered_through_the_entry_point() -> None:
    registration = registry().kms_provider("azurekms")
    assert registration.value is AzureKeyVaultProvider
    assert registration.plugin == "azurekms"
