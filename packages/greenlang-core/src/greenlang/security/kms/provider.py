"""``KMSProvider``: what every key-management signer shares, so each cloud plugin writes only its API calls.

A plugin supplies two methods: ``_fetch_key`` (one round trip that resolves the
key to its exact version, public key and allowed algorithms) and ``_sign_digest``
(one Sign call). The base class owns everything that must be identical across
clouds: the algorithm choice, local hashing, the public key cache, the deadline
and circuit breaker around each call, the local check of every returned
signature, explicit fallback, batches and the async counterparts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, ClassVar, Self, TypeVar

from cryptography.hazmat.primitives import serialization

from greenlang.errors import (
    AlgorithmMismatchError,
    GreenlangError,
    InputError,
    KeyUnusableError,
    KMSError,
    KMSUnavailableError,
    shown,
)
from greenlang.security.algorithms import (
    ALGORITHMS,
    Algorithm,
    Family,
    PublicKey,
    by_name,
    choose,
    key_type,
    resolve,
    resolve_for,
)
from greenlang.security.keys import key_id as public_key_id
from greenlang.security.kms.breaker import CircuitBreaker
from greenlang.security.kms.cache import DEFAULT_TTL_SECONDS, CacheStats, KeyCache
from greenlang.security.kms.retry import RetryPolicy, current_deadline, within
from greenlang.security.signing import Signer, SignResult
from greenlang.security.verify import verify_signature
from greenlang.timeutil import Clock, to_utc, utcnow

__all__ = ["KMSProvider", "RemoteKey", "ResolvedKey", "KeyInfo", "BatchItem", "DEFAULT_BATCH_WORKERS", "sdk_call"]

logger = logging.getLogger("greenlang.security.kms")

DEFAULT_BATCH_WORKERS = 8
T = TypeVar("T")


@dataclass(frozen=True)
class RemoteKey:
    """What a provider learns when it resolves a key reference."""

    public_key: PublicKey = field(repr=False)
    key_ref: str
    """URI of the exact key (version) that signs, e.g. ``awskms:///arn:aws:kms:...:key/<id>``."""
    offered: tuple[str, ...] | None = None
    """The provider algorithm ids the key allows, or ``None`` when the provider does not list them."""
    spec: str = ""
    """The provider's name for the key type, e.g. ``ECC_NIST_P256``."""
    enabled: bool = True
    rotation_enabled: bool = False


@dataclass(frozen=True)
class ResolvedKey:
    """A remote key with its algorithm fixed; cached, so every signature in the TTL uses the same scheme."""

    remote: RemoteKey
    algorithm: Algorithm
    key_id: str


@dataclass(frozen=True)
class _Lookup:
    """A cache entry: the resolved key, or why the requested algorithm cannot be used with it."""

    key: ResolvedKey | None
    refusal: AlgorithmMismatchError | None = None


@dataclass(frozen=True)
class KeyInfo:
    provider: str
    key_ref: str
    """The reference as configured (it may be an alias)."""
    resolved_ref: str
    """The exact key or key version it currently resolves to."""
    key_id: str
    algorithm: str
    key_type: str
    spec: str
    enabled: bool
    rotation_enabled: bool
    public_key_pem: str = field(repr=False)


@dataclass(frozen=True)
class BatchItem:
    """One payload's outcome in ``sign_many``: a result or the error that stopped it, never both or neither."""

    index: int
    result: SignResult | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class KMSProvider(Signer):
    """A signer whose private key lives in a key-management service.

    ``uri`` is the key reference (see ``greenlang.security.kms.uris``). ``algorithm``
    optionally pins the scheme and is checked against the key before anything is
    signed. ``fallback`` is a local signer used only when the service is
    unavailable; its results name the fallback key and record ``fallback_for``.
    """

    provider = "kms"
    scheme: ClassVar[str] = ""

    def __init__(
        self,
        uri: str,
        *,
        algorithm: str | Algorithm | None = None,
        cache_ttl_seconds: float = DEFAULT_TTL_SECONDS,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
        breaker: CircuitBreaker | None = None,
        fallback: Signer | None = None,
        check_signatures: bool = True,
        clock: Clock = utcnow,
        timer: Callable[[], float] = time.monotonic,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise InputError(
                f"{type(self).__name__} has no option {shown(sorted(unknown)[0])}; "
                "see its docstring and KMSProvider's for the options it takes."
            )
        _check_types(retry, max_retries, breaker, check_signatures, clock, timer)
        super().__init__(key_ref=uri, algorithm=algorithm, clock=clock)
        if retry is not None and max_retries is not None:
            raise InputError("pass retry or max_retries, not both; max_retries is RetryPolicy.max_attempts - 1.")
        self.uri = uri
        self.retry = retry if retry is not None else RetryPolicy.from_max_retries(max_retries)
        self.breaker = breaker or CircuitBreaker(name=f"{self.provider} key {uri}", timer=timer)
        if fallback is not None and not isinstance(fallback, Signer):
            raise InputError(f"fallback must be a Signer such as LocalSigner, not {type(fallback).__name__}.")
        if isinstance(fallback, KMSProvider):
            raise InputError("fallback must be a local key: a second KMS key fails in the same outages.")
        self.fallback = fallback
        self.check_signatures = check_signatures
        self._timer = timer
        self._cache: KeyCache[_Lookup] = KeyCache(cache_ttl_seconds, timer=timer)
        self._check_requested_name(algorithm)

    @classmethod
    def open(cls, uri: str, **options: Any) -> Self:
        """The ``register_kms_providers`` entry point: ``provider.open(uri, **options)``."""
        return cls(uri, **options)

    # -- what a plugin implements ------------------------------------------------------------

    @abstractmethod
    def _fetch_key(self, ref: str) -> RemoteKey:
        """Resolve ``ref`` (the configured URI or an exact ``RemoteKey.key_ref``) in one round trip or two."""

    @abstractmethod
    def _sign_digest(self, key: RemoteKey, algorithm: Algorithm, message: bytes) -> bytes:
        """Sign with exactly ``key.key_ref``; ``message`` is the local digest (the payload for Ed25519).

        Return the signature in stored encoding: DER for ECDSA, RSA untouched.
        Raise ``KeyUnusableError``, ``KMSUnavailableError`` or ``InputError``.
        """

    async def _sign_digest_async(self, key: RemoteKey, algorithm: Algorithm, message: bytes) -> bytes:
        """``_sign_digest`` for the async API; override it with the SDK's async client where there is one.

        By default the sync call runs in a worker thread.
        """
        return await asyncio.to_thread(self._sign_digest, key, algorithm, message)

    @property
    def _native_async(self) -> bool:
        return type(self)._sign_digest_async is not KMSProvider._sign_digest_async

    # -- resolution --------------------------------------------------------------------------

    def _check_requested_name(self, requested: str | Algorithm | None) -> None:
        """Refuse a name no row knows, or another provider's id, before any network call."""
        if requested is not None and not isinstance(requested, str | Algorithm):
            raise InputError(f"algorithm must be a name such as ecdsa-p256-sha256, not {type(requested).__name__}.")
        if not isinstance(requested, str) or not requested.strip():
            self._requested = requested if isinstance(requested, Algorithm) else None
            return
        text = requested.strip()
        if text in ALGORITHMS or text.lower() in {*(f.value for f in Family), "rsa"}:
            return
        ours = {row.provider_ids.get(self.provider) for row in ALGORITHMS.values()}
        if text in ours:
            return
        owners = sorted({p for row in ALGORITHMS.values() for p, i in row.provider_ids.items() if i == text})
        if owners:
            raise InputError(
                f"algorithm {text!r} is {owners[0]}'s name, not {self.provider}'s; "
                "pass a name such as ecdsa-p256-sha256 or leave algorithm unset to use the key's own."
            )
        by_name(text)  # raises the table's "unknown algorithm" error

    def check_algorithm_fits(self, kind: str) -> None:
        """Refuse a requested algorithm that does not fit key type ``kind`` (``ecdsa-p521``...).

        Plugins call this as soon as the service has told them the key's type,
        before fetching anything else; the refusal is cached like a resolved key.
        """
        requested = self._requested.name if isinstance(self._requested, Algorithm) else self._requested
        try:
            resolve_for(kind, requested)
        except InputError as exc:
            raise AlgorithmMismatchError(f"key {self.uri}: {exc}") from None

    def _choose_algorithm(self, remote: RemoteKey) -> Algorithm:
        requested = self._requested
        if isinstance(requested, Algorithm):
            requested = requested.name
        if requested:
            algorithm = resolve(remote.public_key, requested)
        elif remote.offered is not None:
            algorithm = choose(self.provider, remote.offered, remote.public_key)
        else:
            algorithm = resolve(remote.public_key)
        provider_id = algorithm.provider_id(self.provider)
        if remote.offered is not None and provider_id not in remote.offered:
            offered = ", ".join(sorted(remote.offered)) or "none"
            raise AlgorithmMismatchError(
                f"key {self.uri} does not allow {provider_id} (it allows {offered}); "
                "pick one of those or leave algorithm unset."
            )
        return algorithm

    def _resolve(self, ref: str) -> _Lookup:
        try:
            remote = self._call(lambda: self._fetch_key(ref))
            self.check_algorithm_fits(key_type(remote.public_key))
            return _Lookup(ResolvedKey(remote, self._choose_algorithm(remote), public_key_id(remote.public_key)))
        except AlgorithmMismatchError as exc:
            return _Lookup(None, exc)

    def resolved(self, ref: str | None = None) -> ResolvedKey:
        """The key ``ref`` (default: the configured one) with its algorithm, from the cache when fresh."""
        target = ref or self.uri
        lookup = self._cache.get(target, lambda: self._resolve(target))
        if lookup.key is None:
            assert lookup.refusal is not None
            raise lookup.refusal
        return lookup.key

    def refresh(self) -> None:
        """Forget cached keys, e.g. right after re-pointing an alias, instead of waiting for the TTL."""
        self._cache.invalidate()

    @property
    def cache_stats(self) -> CacheStats:
        return self._cache.stats

    def _call(self, operation: Callable[[], T]) -> T:
        """One SDK call under the breaker and a fresh deadline, enforced here and visible to the SDK's hooks."""
        deadline = self.retry.start(self._timer)
        token = current_deadline().set(deadline)
        try:
            what = f"the {self.provider} KMS call for {self.uri}"
            return self.breaker.call(lambda: within(deadline, operation, what))
        finally:
            current_deadline().reset(token)

    async def _resolved_async(self, ref: str | None = None) -> ResolvedKey:
        """``resolved`` without leaving the event loop when the key is cached."""
        lookup = self._cache.peek(ref or self.uri)
        if lookup is None:
            return await asyncio.to_thread(self.resolved, ref)
        if lookup.key is None:
            assert lookup.refusal is not None
            raise lookup.refusal
        return lookup.key

    async def _call_async(self, operation: Callable[[], Awaitable[T]]) -> T:
        """``_call`` for a coroutine: the deadline runs from this moment, however busy the loop or its threads."""
        deadline = self.retry.start(self._timer)
        token = current_deadline().set(deadline)
        what = f"the {self.provider} KMS call for {self.uri}"

        async def bounded() -> T:
            try:
                return await asyncio.wait_for(operation(), timeout=max(0.0, deadline.remaining()))
            except TimeoutError:
                raise deadline.expired(what) from None

        try:
            return await self.breaker.call_async(bounded)
        finally:
            current_deadline().reset(token)

    # -- the Signer interface ------------------------------------------------------------------

    @property
    def algorithm(self) -> Algorithm:
        return self.resolved().algorithm

    @property
    def key_id(self) -> str:
        return self.resolved().key_id

    @property
    def key_ref(self) -> str:
        return self.resolved().remote.key_ref

    def public_key(self) -> PublicKey:
        return self.resolved().remote.public_key

    def get_public_key(self) -> bytes:
        """The current key's public half as PEM (SubjectPublicKeyInfo)."""
        return _pem(self.public_key())

    def _sign(self, payload: bytes) -> bytes:
        return self._sign_remote(payload).signature

    def sign(self, payload: bytes) -> SignResult:
        """Hash locally, sign the digest remotely, check the signature locally; fall back only if configured."""
        data = _payload_bytes(payload)
        try:
            return self._sign_remote(data)
        except KMSUnavailableError as exc:
            if self.fallback is None:
                raise
            logger.warning("%s is unavailable (%s); signing with fallback key %s", self.uri, exc, self.fallback.key_ref)
            return replace(self.fallback.sign(data), fallback_for=self.uri)

    def _sign_remote(self, payload: bytes) -> SignResult:
        for may_move in (True, False):
            key = self.resolved()
            message = _message(key.algorithm, payload)
            try:
                signature = self._call(partial(self._sign_digest, key.remote, key.algorithm, message))
            except KeyUnusableError:
                self._cache.invalidate(self.uri)  # e.g. disabled since it was cached: key_info must not say "enabled"
                if may_move and key.remote.key_ref != self.uri and self._moved(key, self.resolved()):
                    continue
                raise
            return self._checked(key, payload, signature)
        raise AssertionError("unreachable: the second pass returns or raises")

    async def _sign_remote_async(self, payload: bytes) -> SignResult:
        for may_move in (True, False):
            key = await self._resolved_async()
            message = _message(key.algorithm, payload)
            try:
                signature = await self._call_async(partial(self._sign_digest_async, key.remote, key.algorithm, message))
            except KeyUnusableError:
                self._cache.invalidate(self.uri)
                if may_move and key.remote.key_ref != self.uri and self._moved(key, await self._resolved_async()):
                    continue
                raise
            return self._checked(key, payload, signature)
        raise AssertionError("unreachable: the second pass returns or raises")

    def _moved(self, used: ResolvedKey, now: ResolvedKey) -> bool:
        """Whether the reference now resolves elsewhere (a version disabled, an alias moved) since it was cached.

        Then the refused signature is tried once more with the key it resolves to
        now, rather than failing the one call that met the stale cache entry.
        """
        return now.remote.key_ref != used.remote.key_ref

    def _checked(self, key: ResolvedKey, payload: bytes, signature: bytes) -> SignResult:
        """The result for a signature the service returned, once it is known to verify."""
        algorithm = key.algorithm
        if not signature:
            raise KMSError(f"{self.provider} returned an empty signature for {key.remote.key_ref}; nothing was signed.")
        if self.check_signatures and not _verifies(key, payload, signature):
            raise KMSError(
                f"{self.provider} returned a signature that does not verify against {key.remote.key_ref}'s public key; "
                "it was discarded. Check the key and the service."
            )
        return SignResult(
            signature=signature,
            algorithm=algorithm.name,
            timestamp=to_utc(self._clock()),
            key_id=key.key_id,
            key_ref=key.remote.key_ref,
            provider=self.provider,
        )

    def verify(
        self, payload: bytes, signature: bytes, *, key_ref: str | None = None, algorithm: str | None = None
    ) -> bool:
        """Check ``signature`` locally with ``cryptography``; the service's own Verify is never called.

        ``key_ref`` (a ``SignResult.key_ref``) checks against that exact key, so
        signatures made before an alias moved still verify against their key.
        """
        if not isinstance(signature, bytes | bytearray | memoryview):
            raise InputError(f"signature must be bytes, not {type(signature).__name__}; decode base64 or hex first.")
        key = self.resolved(key_ref)
        chosen = resolve(key.remote.public_key, algorithm) if algorithm else key.algorithm
        return verify_signature(key.remote.public_key, _payload_bytes(payload), bytes(signature), chosen)

    def key_info(self) -> KeyInfo:
        key = self.resolved()
        return KeyInfo(
            provider=self.provider,
            key_ref=self.uri,
            resolved_ref=key.remote.key_ref,
            key_id=key.key_id,
            algorithm=key.algorithm.name,
            key_type=key.algorithm.key_type,
            spec=key.remote.spec,
            enabled=key.remote.enabled,
            rotation_enabled=key.remote.rotation_enabled,
            public_key_pem=_pem(key.remote.public_key).decode("ascii"),
        )

    def sign_many(self, payloads: Iterable[bytes], *, max_workers: int = DEFAULT_BATCH_WORKERS) -> list[BatchItem]:
        """Sign each payload with at most ``max_workers`` calls in flight; results keep the input order."""
        items = _batch_items(payloads, max_workers)
        if not items:
            return []
        if self._cache.ttl_seconds > 0:
            with contextlib.suppress(GreenlangError):  # each item reports it, or falls back
                self.resolved()  # one lookup for the whole batch instead of a stampede of misses
        with ThreadPoolExecutor(min(max_workers, len(items)), thread_name_prefix="greenlang-kms") as pool:
            futures = [pool.submit(self.sign, payload) for payload in items]
            return [_outcome(index, future.result) for index, future in enumerate(futures)]

    # -- async counterparts: native where the plugin has an async client, else a worker thread each ----

    async def sign_async(self, payload: bytes) -> SignResult:
        """``sign`` for asyncio; its deadline starts when it is called, not when a thread is free."""
        data = _payload_bytes(payload)
        try:
            return await self._sign_remote_async(data)
        except KMSUnavailableError as exc:
            if self.fallback is None:
                raise
            logger.warning("%s is unavailable (%s); signing with fallback key %s", self.uri, exc, self.fallback.key_ref)
            return replace(self.fallback.sign(data), fallback_for=self.uri)

    async def verify_async(
        self, payload: bytes, signature: bytes, *, key_ref: str | None = None, algorithm: str | None = None
    ) -> bool:
        return await asyncio.to_thread(self.verify, payload, signature, key_ref=key_ref, algorithm=algorithm)

    async def get_public_key_async(self) -> bytes:
        return await asyncio.to_thread(self.get_public_key)

    async def key_info_async(self) -> KeyInfo:
        return await asyncio.to_thread(self.key_info)

    async def sign_many_async(
        self, payloads: Iterable[bytes], *, max_workers: int = DEFAULT_BATCH_WORKERS
    ) -> list[BatchItem]:
        """``sign_many`` for asyncio: at most ``max_workers`` signatures in flight, results in input order."""
        if not self._native_async:  # a pool of its own, rather than the loop's few default threads
            return await asyncio.to_thread(self.sign_many, payloads, max_workers=max_workers)
        items = _batch_items(payloads, max_workers)
        if not items:
            return []
        if self._cache.ttl_seconds > 0:
            with contextlib.suppress(GreenlangError):
                await self._resolved_async()
        gate = asyncio.Semaphore(min(max_workers, len(items)))

        async def one(index: int, payload: bytes) -> BatchItem:
            async with gate:
                try:
                    return BatchItem(index, result=await self.sign_async(payload))
                except Exception as exc:  # reported per item; the batch goes on
                    return BatchItem(index, error=exc)

        return list(await asyncio.gather(*(one(index, payload) for index, payload in enumerate(items))))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(uri={self.uri!r})"


def sdk_call(translate: Callable[[Exception, str], GreenlangError], key: str, call: Callable[[], T]) -> T:
    """Run one SDK call for ``key``: greenlang errors pass through, any other becomes ``translate(exc, key)``."""
    try:
        return call()
    except GreenlangError:
        raise
    except Exception as exc:
        raise translate(exc, key) from exc


def _check_types(
    retry: object, max_retries: object, breaker: object, check_signatures: object, clock: object, timer: object
) -> None:
    """Options of the wrong type are refused by name here, not met later as a TypeError deep inside a call."""
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise InputError(f"retry must be a RetryPolicy, not {type(retry).__name__}.")
    if max_retries is not None and (isinstance(max_retries, bool) or not isinstance(max_retries, int)):
        raise InputError(f"max_retries must be a whole number of retries (0 or more), not {shown(max_retries)}.")
    if breaker is not None and not isinstance(breaker, CircuitBreaker):
        raise InputError(f"breaker must be a CircuitBreaker, not {type(breaker).__name__}.")
    if not isinstance(check_signatures, bool):
        raise InputError(f"check_signatures must be True or False, not {shown(check_signatures)}.")
    for name, value in (("clock", clock), ("timer", timer)):
        if not callable(value):
            raise InputError(f"{name} must be a function returning the time, not {type(value).__name__}.")


def _batch_items(payloads: Iterable[bytes], max_workers: int) -> list[bytes]:
    if isinstance(payloads, str | bytes | bytearray | memoryview):
        raise InputError("payloads must be a list of byte strings, not a single payload; use sign() for one.")
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise InputError(f"max_workers must be a whole number of at least 1, not {max_workers!r}.")
    try:
        return list(payloads)
    except TypeError:
        raise InputError(f"payloads must be a list of byte strings, not {type(payloads).__name__}.") from None


def _message(algorithm: Algorithm, payload: bytes) -> bytes:
    """What the service signs: the local digest, or the payload itself for Ed25519."""
    return payload if algorithm.family is Family.ED25519 else algorithm.digest(payload)


def _payload_bytes(payload: bytes) -> bytes:
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise InputError(f"payload must be bytes, not {type(payload).__name__}; encode text first.")
    return bytes(payload)


def _pem(public_key: PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _verifies(key: ResolvedKey, payload: bytes, signature: bytes) -> bool:
    return verify_signature(key.remote.public_key, payload, signature, key.algorithm)


def _outcome(index: int, result: Callable[[], SignResult]) -> BatchItem:
    try:
        return BatchItem(index, result=result())
    except Exception as exc:  # reported per item; the batch goes on
        return BatchItem(index, error=exc)
