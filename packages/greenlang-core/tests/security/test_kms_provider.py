"""``KMSProvider``, the base every cloud plugin extends, driven through a small in-process "cloud".

``InProcessProvider`` implements only the two plugin methods with a real
``cryptography`` private key and counts its calls; everything else (algorithm
choice, local hashing, cache, breaker, deadline, the local check of each
signature, fallback, batches, async) is the real base class. Expected
algorithm names are written from the design (§5), not read from the table.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fake_clock import FakeClock
from inprocess_kms import (
    ALIAS_URI,
    AWS_RSA_IDS,
    FALLBACK_REF,
    KEY_A_REF,
    KEY_B_REF,
    SIGNED_AT,
    InProcessProvider,
    fingerprint,
    sign_prehashed,
    verifies,
)

from greenlang.errors import CircuitOpenError, InputError, KeyUnusableError, KMSError, KMSUnavailableError
from greenlang.security.algorithms import Algorithm, PrivateKey
from greenlang.security.kms import BreakerState, CircuitBreaker, RetryPolicy
from greenlang.security.kms.provider import RemoteKey
from greenlang.security.kms.retry import current_deadline
from greenlang.security.signing import LocalSigner


@pytest.fixture
def p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def kms(p256: ec.EllipticCurvePrivateKey) -> InProcessProvider:
    return InProcessProvider(p256, offered=("ECDSA_SHA_256",), spec="ECC_NIST_P256", clock=lambda: SIGNED_AT)


# -- the algorithm ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "offered", "expected"),
    [
        ("ecdsa-p256", ("ECDSA_SHA_256",), "ecdsa-p256-sha256"),
        ("ecdsa-p256", None, "ecdsa-p256-sha256"),
        ("ecdsa-p384", ("ECDSA_SHA_384",), "ecdsa-p384-sha384"),
        ("ecdsa-p521", ("ECDSA_SHA_512",), "ecdsa-p521-sha512"),
        ("ecdsa-p521", None, "ecdsa-p521-sha512"),
        ("rsa-pss-2048", AWS_RSA_IDS, "rsa-pss-2048-sha256"),
        ("rsa-pss-2048", None, "rsa-pss-2048-sha256"),
        ("rsa-pss-4096", AWS_RSA_IDS, "rsa-pss-4096-sha512"),
        ("ed25519", ("ED25519_SHA_512",), "ed25519"),
    ],
)
def test_algorithm_comes_from_the_key(
    private_key: Callable[[str], PrivateKey], kind: str, offered: tuple[str, ...] | None, expected: str
) -> None:
    key = private_key(kind)
    provider = InProcessProvider(key, offered=offered)
    payload = b"scope 1: 1204.7 tCO2e"
    result = provider.sign(payload)
    assert provider.algorithm.name == result.algorithm == expected
    assert verifies(key.public_key(), expected, payload, result.signature)
    assert not verifies(key.public_key(), expected, payload + b".", result.signature)


def test_every_order_of_the_rsa_listing_picks_the_same_algorithm(private_key: Callable[[str], PrivateKey]) -> None:
    key = private_key("rsa-pss-2048")
    payload = b"order must not matter"
    chosen = set()
    for order in itertools.permutations(AWS_RSA_IDS):
        provider = InProcessProvider(key, offered=order)
        result = provider.sign(payload)
        chosen.add(result.algorithm)
        assert verifies(key.public_key(), "rsa-pss-2048-sha256", payload, result.signature), order
        assert provider.messages == [hashlib.sha256(payload).digest()], order
    assert chosen == {"rsa-pss-2048-sha256"}


def test_every_order_of_a_listing_without_the_default_picks_the_same_algorithm(
    private_key: Callable[[str], PrivateKey],
) -> None:
    key = private_key("rsa-pss-4096")
    pkcs1 = tuple(i for i in AWS_RSA_IDS if "PKCS1" in i)
    assert {InProcessProvider(key, offered=o).algorithm.name for o in itertools.permutations(AWS_RSA_IDS)} == {
        "rsa-pss-4096-sha512"
    }
    # Without PSS the first PKCS#1 row in table order (SHA-256) wins, whatever the listing order.
    assert {InProcessProvider(key, offered=o).algorithm.name for o in itertools.permutations(pkcs1)} == {
        "rsa-pkcs1v15-4096-sha256"
    }


@pytest.mark.parametrize(
    ("kind", "requested"),
    [
        ("ecdsa-p521", "ECDSA_SHA_256"),
        ("ecdsa-p521", "ecdsa-p256-sha256"),
        ("ecdsa-p256", "rsa-pss-2048-sha256"),
        ("ecdsa-p256", "RSASSA_PSS_SHA_256"),
        ("ecdsa-p256", "rsa"),
        ("rsa-pss-2048", "ecdsa"),
        ("rsa-pss-2048", "rsa-pss-4096-sha512"),
    ],
)
def test_requested_algorithm_that_does_not_fit_the_key_is_refused_before_signing(
    private_key: Callable[[str], PrivateKey], kind: str, requested: str
) -> None:
    local = LocalSigner(ec.generate_private_key(ec.SECP256R1()), key_ref=FALLBACK_REF)
    provider = InProcessProvider(private_key(kind), algorithm=requested, fallback=local)
    with pytest.raises(InputError, match="does not fit") as caught:
        provider.sign(b"payload")
    assert not isinstance(caught.value, KMSUnavailableError)
    assert provider.sign_calls == 0
    assert provider.fetch_calls == 1


def test_requested_id_the_key_does_not_allow_is_refused(private_key: Callable[[str], PrivateKey]) -> None:
    provider = InProcessProvider(
        private_key("rsa-pss-2048"), offered=("RSASSA_PSS_SHA_256",), algorithm="rsa-pkcs1v15-2048-sha256"
    )
    with pytest.raises(InputError, match="does not allow RSASSA_PKCS1_V1_5_SHA_256") as caught:
        provider.sign(b"payload")
    assert "RSASSA_PSS_SHA_256" in str(caught.value)
    assert provider.sign_calls == 0


def test_requested_id_the_key_allows_is_used(private_key: Callable[[str], PrivateKey]) -> None:
    key = private_key("rsa-pss-2048")
    provider = InProcessProvider(key, offered=AWS_RSA_IDS, algorithm="RSASSA_PKCS1_V1_5_SHA_384")
    result = provider.sign(b"payload")
    assert result.algorithm == "rsa-pkcs1v15-2048-sha384"
    assert provider.messages == [hashlib.sha384(b"payload").digest()]
    assert verifies(key.public_key(), "rsa-pkcs1v15-2048-sha384", b"payload", result.signature)


def test_unknown_algorithm_name_is_refused_at_construction(p256: ec.EllipticCurvePrivateKey) -> None:
    calls: list[InProcessProvider] = []

    class Counting(InProcessProvider):
        def _fetch_key(self, ref: str) -> RemoteKey:
            calls.append(self)
            return super()._fetch_key(ref)

    with pytest.raises(InputError, match="'ecdsa-p256-sha3' is unknown"):
        Counting(p256, algorithm="ecdsa-p256-sha3")
    assert calls == []


@pytest.mark.parametrize(("name", "owner"), [("ES256", "azure"), ("EC_SIGN_P256_SHA256", "gcp"), ("PS256", "azure")])
def test_another_providers_algorithm_id_is_refused_at_construction_naming_its_owner(
    p256: ec.EllipticCurvePrivateKey, name: str, owner: str
) -> None:
    with pytest.raises(InputError) as caught:
        InProcessProvider(p256, algorithm=name)
    message = str(caught.value)
    assert f"{owner}'s name" in message
    assert "not aws's" in message


# -- hashing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 4096, 4097, 10 * 1024 * 1024])
def test_only_the_local_digest_is_sent(kms: InProcessProvider, p256: ec.EllipticCurvePrivateKey, size: int) -> None:
    payload = bytes(i % 251 for i in range(size)) if size < 5000 else b"\x17" * size
    result = kms.sign(payload)
    assert kms.messages == [hashlib.sha256(payload).digest()]
    assert verifies(p256.public_key(), "ecdsa-p256-sha256", payload, result.signature)


@pytest.mark.parametrize(
    ("kind", "offered", "digest"),
    [
        ("ecdsa-p384", ("ECDSA_SHA_384",), hashlib.sha384),
        ("ecdsa-p521", ("ECDSA_SHA_512",), hashlib.sha512),
        ("rsa-pss-4096", None, hashlib.sha512),
    ],
)
def test_digest_follows_the_key(
    private_key: Callable[[str], PrivateKey],
    kind: str,
    offered: tuple[str, ...] | None,
    digest: Callable[[bytes], Any],
) -> None:
    payload = b"x" * 4097
    provider = InProcessProvider(private_key(kind), offered=offered)
    provider.sign(payload)
    assert provider.messages == [digest(payload).digest()]


def test_ed25519_is_sent_the_payload_itself(private_key: Callable[[str], PrivateKey]) -> None:
    provider = InProcessProvider(private_key("ed25519"), offered=("ED25519_SHA_512",))
    provider.sign(b"not hashed first")
    assert provider.messages == [b"not hashed first"]


def test_bytearray_and_memoryview_are_signed_as_bytes(kms: InProcessProvider) -> None:
    kms.sign(bytearray(b"abc"))
    kms.sign(memoryview(b"abc"))
    assert kms.messages == [hashlib.sha256(b"abc").digest()] * 2


@pytest.mark.parametrize("payload", ["text", 42, None])
def test_non_bytes_payload_is_refused(kms: InProcessProvider, payload: object) -> None:
    with pytest.raises(InputError, match="payload must be bytes"):
        kms.sign(payload)  # type: ignore[arg-type]
    assert kms.sign_calls == 0


# -- every returned signature is checked locally ------------------------------------------------


def test_empty_signature_is_an_error(kms: InProcessProvider) -> None:
    kms.fault = "empty"
    with pytest.raises(KMSError, match="empty signature") as caught:
        kms.sign(b"payload")
    assert KEY_A_REF in str(caught.value)
    assert not isinstance(caught.value, KMSUnavailableError)


def test_signature_that_does_not_verify_is_discarded(kms: InProcessProvider) -> None:
    kms.fault = "corrupt"
    with pytest.raises(KMSError, match="does not verify"):
        kms.sign(b"payload")
    assert kms.sign_calls == 1


def test_check_signatures_false_passes_a_bad_signature_through(p256: ec.EllipticCurvePrivateKey) -> None:
    """The knob exists for benchmarks; with it off, nothing stops a corrupted signature."""
    provider = InProcessProvider(p256, check_signatures=False)
    provider.fault = "corrupt"
    result = provider.sign(b"payload")
    assert result.signature
    assert not verifies(p256.public_key(), "ecdsa-p256-sha256", b"payload", result.signature)
    assert not provider.verify(b"payload", result.signature)


# -- what a result says -------------------------------------------------------------------------


def test_result_names_the_exact_key_version(kms: InProcessProvider, p256: ec.EllipticCurvePrivateKey) -> None:
    result = kms.sign(b"payload")
    assert (result.key_ref, result.key_id, result.provider) == (KEY_A_REF, fingerprint(p256), "aws")
    assert result.timestamp == SIGNED_AT
    assert result.fallback_for is None
    info = kms.key_info()
    assert (info.key_ref, info.resolved_ref, info.key_type, info.spec) == (
        ALIAS_URI,
        KEY_A_REF,
        "ecdsa-p256",
        "ECC_NIST_P256",
    )
    assert info.key_id == fingerprint(p256)
    loaded = serialization.load_pem_public_key(info.public_key_pem.encode())
    assert fingerprint(loaded) == fingerprint(p256)  # type: ignore[arg-type]
    assert kms.get_public_key() == info.public_key_pem.encode()


def test_each_call_runs_under_a_fresh_deadline(p256: ec.EllipticCurvePrivateKey) -> None:
    timer = FakeClock()
    provider = InProcessProvider(p256, retry=RetryPolicy(deadline_seconds=7.0), timer=timer)
    provider.sign(b"one")
    timer.advance(100)
    provider.sign(b"two")
    first, second = provider.deadlines
    assert first is not None
    assert second is not None
    assert (first.at, first.seconds, second.at) == (1007.0, 7.0, 1107.0)
    assert current_deadline().get() is None


def test_retry_and_max_retries_are_exclusive(p256: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(InputError, match="not both"):
        InProcessProvider(p256, retry=RetryPolicy(), max_retries=1)
    assert InProcessProvider(p256, max_retries=0).retry.max_attempts == 1


# -- the public key cache -----------------------------------------------------------------------


def test_second_signature_uses_the_cached_key(kms: InProcessProvider) -> None:
    kms.sign(b"one")
    kms.sign(b"two")
    assert kms.fetch_calls == 1
    stats = kms.cache_stats
    assert (stats.hits, stats.misses) == (1, 1)
    assert stats.hit_rate == 0.5


def test_expired_key_is_fetched_again(p256: ec.EllipticCurvePrivateKey) -> None:
    timer = FakeClock()
    provider = InProcessProvider(p256, cache_ttl_seconds=60, timer=timer)
    provider.sign(b"one")
    timer.advance(59.9)
    provider.sign(b"two")
    assert provider.fetch_calls == 1
    timer.advance(0.2)
    provider.sign(b"three")
    assert provider.fetch_calls == 2
    assert (provider.cache_stats.hits, provider.cache_stats.misses) == (1, 2)


def test_refresh_forgets_cached_keys(kms: InProcessProvider) -> None:
    kms.sign(b"one")
    kms.refresh()
    kms.sign(b"two")
    assert kms.fetch_calls == 2


def test_zero_ttl_fetches_every_time(p256: ec.EllipticCurvePrivateKey) -> None:
    provider = InProcessProvider(p256, cache_ttl_seconds=0)
    for payload in (b"a", b"b", b"c"):
        provider.sign(payload)
    assert provider.fetch_calls == 3
    assert provider.cache_stats.hits == 0


def test_negative_ttl_is_refused(p256: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(InputError, match="cache_ttl_seconds"):
        InProcessProvider(p256, cache_ttl_seconds=-1)


# -- errors and the breaker ---------------------------------------------------------------------


def test_unusable_key_fails_at_once_and_is_looked_up_again(p256: ec.EllipticCurvePrivateKey) -> None:
    timer = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=30, timer=timer)
    provider = InProcessProvider(p256, breaker=breaker, timer=timer)
    provider.fault = "unusable"
    for attempt in range(1, 4):
        with pytest.raises(KeyUnusableError):
            provider.sign(b"payload")
        assert provider.sign_calls == attempt
    assert breaker.state is BreakerState.CLOSED  # a disabled key is not an outage
    # each refusal drops the cached key (key_info must not claim it is still enabled) and looks the alias up
    # once more, to see whether it now names another key: 1 first lookup + 3 rechecks
    assert provider.fetch_calls == 4


def test_a_refusal_from_a_key_the_alias_no_longer_names_is_retried_once_with_the_new_key(
    p256: ec.EllipticCurvePrivateKey,
) -> None:
    newer = ec.generate_private_key(ec.SECP256R1())
    provider = InProcessProvider(p256, others={KEY_B_REF: newer})
    assert provider.sign(b"before").key_ref == KEY_A_REF
    provider.keys[ALIAS_URI] = (KEY_B_REF, newer)  # the alias moves, and the old key is disabled

    def disabled_only_for_a(key: RemoteKey, algorithm: Algorithm, message: bytes) -> bytes:
        if key.key_ref == KEY_A_REF:
            raise KeyUnusableError("key A is disabled (test fault); enable it.")
        return sign_prehashed(newer, algorithm, message)

    provider._sign_digest = disabled_only_for_a  # type: ignore[method-assign]
    result = provider.sign(b"after")
    assert result.key_ref == KEY_B_REF
    assert verifies(newer.public_key(), "ecdsa-p256-sha256", b"after", result.signature)


def test_outage_opens_the_breaker_and_then_fails_fast(p256: ec.EllipticCurvePrivateKey) -> None:
    timer = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=30, timer=timer)
    provider = InProcessProvider(p256, breaker=breaker, timer=timer)
    provider.fault = "unavailable"
    for _ in range(2):
        with pytest.raises(KMSUnavailableError) as caught:
            provider.sign(b"payload")
        assert type(caught.value) is KMSUnavailableError
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError):
        provider.sign(b"payload")
    assert provider.sign_calls == 2
    timer.advance(30.5)
    provider.fault = None
    result = provider.sign(b"payload")
    assert verifies(p256.public_key(), "ecdsa-p256-sha256", b"payload", result.signature)
    assert provider.sign_calls == 3
    assert breaker.state is BreakerState.CLOSED


# -- fallback -----------------------------------------------------------------------------------


@pytest.fixture
def local_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def with_fallback(p256: ec.EllipticCurvePrivateKey, local_key: ec.EllipticCurvePrivateKey) -> InProcessProvider:
    local = LocalSigner(local_key, key_ref=FALLBACK_REF, clock=lambda: SIGNED_AT)
    return InProcessProvider(p256, fallback=local, clock=lambda: SIGNED_AT)


def test_outage_without_fallback_raises(kms: InProcessProvider) -> None:
    kms.fault = "unavailable"
    with pytest.raises(KMSUnavailableError):
        kms.sign(b"payload")


@pytest.mark.parametrize("where", ["sign", "fetch"])
def test_outage_with_fallback_signs_with_the_local_key_and_says_so(
    with_fallback: InProcessProvider,
    p256: ec.EllipticCurvePrivateKey,
    local_key: ec.EllipticCurvePrivateKey,
    caplog: pytest.LogCaptureFixture,
    where: str,
) -> None:
    if where == "sign":
        with_fallback.fault = "unavailable"
    else:
        with_fallback.fetch_fault = "unavailable"
    payload = b"scope 2 location-based: 431.0 tCO2e"
    with caplog.at_level("WARNING", logger="greenlang.security.kms"):
        result = with_fallback.sign(payload)
    assert (result.key_ref, result.key_id, result.provider) == (FALLBACK_REF, fingerprint(local_key), "local")
    assert result.fallback_for == ALIAS_URI
    assert result.algorithm == "ecdsa-p256-sha256"
    assert verifies(local_key.public_key(), "ecdsa-p256-sha256", payload, result.signature)
    assert not verifies(p256.public_key(), "ecdsa-p256-sha256", payload, result.signature)
    with_fallback.fault = with_fallback.fetch_fault = None
    assert not with_fallback.verify(payload, result.signature)
    assert any(ALIAS_URI in r.getMessage() and FALLBACK_REF in r.getMessage() for r in caplog.records)


def test_open_breaker_falls_back_without_calling_the_service(
    p256: ec.EllipticCurvePrivateKey, local_key: ec.EllipticCurvePrivateKey
) -> None:
    timer = FakeClock()
    provider = InProcessProvider(
        p256,
        breaker=CircuitBreaker(failure_threshold=1, reset_seconds=30, timer=timer),
        fallback=LocalSigner(local_key, key_ref=FALLBACK_REF),
        timer=timer,
    )
    provider.fault = "unavailable"
    first = provider.sign(b"a")
    second = provider.sign(b"b")
    assert provider.sign_calls == 1
    assert first.fallback_for == second.fallback_for == ALIAS_URI
    assert verifies(local_key.public_key(), "ecdsa-p256-sha256", b"b", second.signature)


@pytest.mark.parametrize(("where", "fault"), [("sign", "unusable"), ("fetch", "unusable"), ("sign", "empty")])
def test_only_an_outage_falls_back(with_fallback: InProcessProvider, where: str, fault: str) -> None:
    if where == "sign":
        with_fallback.fault = fault
    else:
        with_fallback.fetch_fault = fault
    with pytest.raises(KMSError) as caught:
        with_fallback.sign(b"payload")
    assert not isinstance(caught.value, KMSUnavailableError)


def test_fallback_must_be_a_local_signer(p256: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(InputError, match="fallback must be a Signer"):
        InProcessProvider(p256, fallback=object())  # type: ignore[arg-type]
    with pytest.raises(InputError, match="local key"):
        InProcessProvider(p256, fallback=InProcessProvider(ec.generate_private_key(ec.SECP256R1())))


# -- sign_many ----------------------------------------------------------------------------------


def test_sign_many_keeps_order_and_each_signature_is_its_own(
    kms: InProcessProvider, p256: ec.EllipticCurvePrivateKey
) -> None:
    payloads = [f"facility {n}: {n * 3.5} tCO2e".encode() for n in range(12)]
    items = kms.sign_many(iter(payloads), max_workers=4)
    assert [item.index for item in items] == list(range(12))
    assert kms.fetch_calls == 1
    for item, payload in zip(items, payloads, strict=True):
        assert item.ok
        assert item.result is not None
        assert verifies(p256.public_key(), "ecdsa-p256-sha256", payload, item.result.signature)
        assert not verifies(
            p256.public_key(), "ecdsa-p256-sha256", payloads[(item.index + 1) % 12], item.result.signature
        )


def test_sign_many_reports_each_failure_on_its_item(kms: InProcessProvider, p256: ec.EllipticCurvePrivateKey) -> None:
    payloads = [b"ok 0", b"disabled", b"ok 2", b"empty", b"corrupt", b"ok 5"]
    kms.faults = {
        hashlib.sha256(b"disabled").digest(): "unusable",
        hashlib.sha256(b"empty").digest(): "empty",
        hashlib.sha256(b"corrupt").digest(): "corrupt",
    }
    items = kms.sign_many(payloads, max_workers=3)
    assert [item.ok for item in items] == [True, False, True, False, False, True]
    assert isinstance(items[1].error, KeyUnusableError)
    assert isinstance(items[3].error, KMSError)
    assert "empty signature" in str(items[3].error)
    assert isinstance(items[4].error, KMSError)
    assert "does not verify" in str(items[4].error)
    for item, payload in zip(items, payloads, strict=True):
        if item.ok:
            assert item.result is not None
            assert item.result.signature
            assert verifies(p256.public_key(), "ecdsa-p256-sha256", payload, item.result.signature)
        else:
            assert item.result is None


@pytest.mark.parametrize("workers", [1, 3, 8])
def test_sign_many_bounds_the_calls_in_flight(p256: ec.EllipticCurvePrivateKey, workers: int) -> None:
    provider = InProcessProvider(p256, delay=0.03)
    items = provider.sign_many([bytes([n]) for n in range(16)], max_workers=workers)
    assert all(item.ok for item in items)
    assert provider.sign_calls == 16
    assert 1 <= provider.max_active <= workers
    if workers > 1:
        assert provider.max_active > 1


@pytest.mark.parametrize("workers", [0, -1])
def test_sign_many_refuses_no_workers(kms: InProcessProvider, workers: int) -> None:
    with pytest.raises(InputError, match="max_workers"):
        kms.sign_many([b"a"], max_workers=workers)
    assert kms.sign_calls == 0


def test_sign_many_of_nothing_is_nothing(kms: InProcessProvider) -> None:
    assert kms.sign_many([]) == []
    assert (kms.fetch_calls, kms.sign_calls) == (0, 0)


def test_sign_many_falls_back_per_item(with_fallback: InProcessProvider, local_key: ec.EllipticCurvePrivateKey) -> None:
    with_fallback.fault = "unavailable"
    items = with_fallback.sign_many([b"a", b"b"], max_workers=2)
    for item, payload in zip(items, [b"a", b"b"], strict=True):
        assert item.result is not None
        assert item.result.fallback_for == ALIAS_URI
        assert verifies(local_key.public_key(), "ecdsa-p256-sha256", payload, item.result.signature)


# -- async --------------------------------------------------------------------------------------


def test_async_counterparts_match_the_sync_ones(kms: InProcessProvider, p256: ec.EllipticCurvePrivateKey) -> None:
    async def run() -> tuple[Any, ...]:
        return (
            await kms.sign_async(b"async"),
            await kms.get_public_key_async(),
            await kms.key_info_async(),
            await kms.sign_many_async([b"x", b"y"], max_workers=2),
        )

    signed, pem, info, batch = asyncio.run(run())
    synced = kms.sign(b"async")
    assert (signed.algorithm, signed.key_id, signed.key_ref, signed.provider) == (
        synced.algorithm,
        synced.key_id,
        synced.key_ref,
        synced.provider,
    )
    assert verifies(p256.public_key(), "ecdsa-p256-sha256", b"async", signed.signature)
    assert pem == kms.get_public_key()
    assert info == kms.key_info()
    assert [item.ok for item in batch] == [True, True]
    for item, payload in zip(batch, [b"x", b"y"], strict=True):
        assert item.result is not None
        assert verifies(p256.public_key(), "ecdsa-p256-sha256", payload, item.result.signature)
    assert asyncio.run(kms.verify_async(b"async", signed.signature)) is kms.verify(b"async", signed.signature) is True
    assert asyncio.run(kms.verify_async(b"other", signed.signature)) is kms.verify(b"other", signed.signature) is False


def test_async_errors_match_the_sync_ones(kms: InProcessProvider) -> None:
    kms.fault = "unusable"
    with pytest.raises(KeyUnusableError):
        asyncio.run(kms.sign_async(b"payload"))
    with pytest.raises(InputError, match="payload must be bytes"):
        asyncio.run(kms.sign_async("text"))  # type: ignore[arg-type]


# -- verify -------------------------------------------------------------------------------------


def test_verify_is_local_and_strict(kms: InProcessProvider) -> None:
    payload = b"verified offline"
    signature = kms.sign(payload).signature
    assert (kms.fetch_calls, kms.sign_calls) == (1, 1)
    flipped = signature[:-1] + bytes([signature[-1] ^ 0x01])
    assert kms.verify(payload, signature)
    assert not kms.verify(payload + b" ", signature)
    assert not kms.verify(payload, flipped)
    assert (kms.fetch_calls, kms.sign_calls) == (1, 1)
    with pytest.raises(InputError):
        kms.verify(payload, signature, algorithm="rsa-pss-2048-sha256")


def test_verify_key_ref_picks_another_cached_key(p256: ec.EllipticCurvePrivateKey) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    provider = InProcessProvider(p256, others={KEY_B_REF: other})
    payload = b"signed before the alias moved"
    by_other = other.sign(payload, ec.ECDSA(hashes.SHA256()))
    by_ours = provider.sign(payload).signature
    assert not provider.verify(payload, by_other)
    assert provider.verify(payload, by_other, key_ref=KEY_B_REF)
    assert not provider.verify(payload, by_ours, key_ref=KEY_B_REF)
    assert provider.verify(payload, by_other, key_ref=KEY_B_REF)
    assert provider.fetch_calls == 2  # the configured key once, KEY_B once; then both from the cache
    assert provider.sign_calls == 1


# -- repr ---------------------------------------------------------------------------------------


def test_repr_shows_the_uri_and_no_private_material(
    with_fallback: InProcessProvider, p256: ec.EllipticCurvePrivateKey, local_key: ec.EllipticCurvePrivateKey
) -> None:
    result = with_fallback.sign(b"payload")
    shown = " ".join(
        repr(x)
        for x in (with_fallback, with_fallback.resolved(), with_fallback.key_info(), result, with_fallback.fallback)
    )
    assert ALIAS_URI in repr(with_fallback)
    for key in (p256, local_key):
        secret = key.private_numbers().private_value
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        for text in (str(secret), f"{secret:x}", pem.splitlines()[1]):
            assert text not in shown
    assert result.signature.hex() not in shown
