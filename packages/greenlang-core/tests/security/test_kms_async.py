"""The async API: native where a plugin has an async client, deadlines from the moment of the call, bounded batches."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from inprocess_kms import ALIAS_URI, InProcessProvider, sign_prehashed

from greenlang.errors import CircuitOpenError, KMSUnavailableError
from greenlang.security.algorithms import Algorithm
from greenlang.security.keys import generate_private_key, public_key_pem
from greenlang.security.kms import BreakerState, CircuitBreaker, RetryPolicy
from greenlang.security.kms.provider import RemoteKey
from greenlang.security.signing import LocalSigner
from greenlang.testing import verify_independently


class AsyncProvider(InProcessProvider):
    """The in-process KMS with an async client of its own: signing never touches a thread."""

    def __init__(self, *args: Any, stall: float = 0.0, **options: Any) -> None:
        self.stall = stall
        self.async_calls = 0
        super().__init__(*args, **options)

    async def _sign_digest_async(self, key: RemoteKey, algorithm: Algorithm, message: bytes) -> bytes:
        self.async_calls += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await asyncio.sleep(self.stall)
            if self.faults.get(message, self.fault) == "unavailable":
                raise KMSUnavailableError("the in-process KMS is unavailable (test fault); try again later.")
            return sign_prehashed(self.keys[key.key_ref][1], algorithm, message)
        finally:
            self.active -= 1


@pytest.fixture
def p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return public_key_pem(key)


def test_a_native_async_provider_signs_without_the_sync_path(p256: ec.EllipticCurvePrivateKey) -> None:
    kms = AsyncProvider(p256)
    result = asyncio.run(kms.sign_async(b"report"))
    assert (kms.async_calls, kms.sign_calls) == (1, 0)
    assert verify_independently(pem(p256), "ecdsa-p256-sha256", b"report", result.signature)
    assert result.key_ref == kms.key_ref


@pytest.mark.parametrize("native", [True, False])
def test_the_deadline_runs_from_the_call_even_when_a_hundred_calls_stall(
    native: bool, p256: ec.EllipticCurvePrivateKey
) -> None:
    policy = RetryPolicy(deadline_seconds=0.3)
    kms = AsyncProvider(p256, stall=30, retry=policy) if native else InProcessProvider(p256, delay=2, retry=policy)
    kms.resolved()

    async def run() -> list[Any]:
        return await asyncio.gather(*(kms.sign_async(bytes([n])) for n in range(100)), return_exceptions=True)

    started = time.monotonic()
    outcomes = asyncio.run(run()) if native else _run_leaving_threads(run)
    assert time.monotonic() - started < 3.0
    assert all(isinstance(outcome, KMSUnavailableError) for outcome in outcomes), outcomes[:3]
    assert "within its 0.3 s deadline" in str(outcomes[0])


def _run_leaving_threads(run: Any) -> list[Any]:
    """``asyncio.run`` waits for the default executor's stalled threads at exit; this loop does not."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(run())  # type: ignore[no-any-return]
    finally:
        loop.close()


def test_sign_many_async_keeps_order_bounds_flight_and_reports_each_failure(p256: ec.EllipticCurvePrivateKey) -> None:
    kms = AsyncProvider(p256, stall=0.01, retry=RetryPolicy(max_attempts=1))
    payloads = [f"item {n}".encode() for n in range(40)]
    kms.faults[kms.algorithm.digest(payloads[7])] = "unavailable"
    items = asyncio.run(kms.sign_many_async(payloads, max_workers=5))
    assert [item.index for item in items] == list(range(40))
    assert kms.max_active == 5
    assert [item.ok for item in items].count(False) == 1
    assert isinstance(items[7].error, KMSUnavailableError)
    assert items[7].result is None
    for item, payload in zip(items, payloads, strict=True):
        if item.ok:
            assert item.result is not None
            assert verify_independently(pem(p256), "ecdsa-p256-sha256", payload, item.result.signature)


def test_async_fallback_names_the_key_that_signed(p256: ec.EllipticCurvePrivateKey) -> None:
    standby = LocalSigner(generate_private_key("ecdsa-p256"), key_ref="file:///keys/standby.pem")
    kms = AsyncProvider(p256, fallback=standby, retry=RetryPolicy(max_attempts=1))
    kms.fault = "unavailable"
    result = asyncio.run(kms.sign_async(b"report"))
    assert (result.fallback_for, result.key_ref) == (ALIAS_URI, "file:///keys/standby.pem")
    assert not kms.verify(b"report", result.signature)


def test_the_breaker_opens_on_async_failures_and_a_cancelled_probe_gives_no_verdict(
    p256: ec.EllipticCurvePrivateKey,
) -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=10, timer=lambda: now[0])
    kms = AsyncProvider(p256, breaker=breaker, retry=RetryPolicy(max_attempts=1))
    kms.resolved()
    kms.fault = "unavailable"

    async def attempts() -> None:
        for _ in range(2):
            with pytest.raises(KMSUnavailableError):
                await kms.sign_async(b"x")
        with pytest.raises(CircuitOpenError):
            await kms.sign_async(b"x")
        now[0] = 11.0
        kms.fault, kms.stall = None, 30
        probe = asyncio.create_task(kms.sign_async(b"x"))
        await asyncio.sleep(0.05)
        assert breaker.state is BreakerState.HALF_OPEN
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        kms.stall = 0
        await kms.sign_async(b"x")  # the next probe may go, and closes the breaker

    asyncio.run(attempts())
    assert breaker.state is BreakerState.CLOSED
    assert kms.async_calls == 4
