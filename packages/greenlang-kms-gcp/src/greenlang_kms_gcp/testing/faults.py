"""Faults the local Cloud KMS injects on cue, so retries and integrity checks can be proven to work.

Each fault hits the next ``times`` calls of its method (``times=None``: every one until cleared) and is
consumed in the order queued. An error is answered before the call runs, on gRPC as that status and on REST
as its HTTP equivalent (UNAVAILABLE 503, DEADLINE_EXCEEDED 504, RESOURCE_EXHAUSTED 429, ...). The other
faults corrupt a successful response the way a damaged or misrouted answer would look to the client.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from greenlang_kms_gcp.testing.status import ServiceError, status_code

__all__ = ["Faults"]

_CRC_MODULUS = 2**32
_VERSION_SEPARATOR = "/cryptoKeyVersions/"
_DEFAULT_MESSAGES = {
    "UNAVAILABLE": "The service is currently unavailable.",
    "DEADLINE_EXCEEDED": "Deadline exceeded.",
    "RESOURCE_EXHAUSTED": "Quota exceeded for quota metric 'Cryptographic requests'.",
    "PERMISSION_DENIED": "Permission 'cloudkms.cryptoKeyVersions.useToSign' denied on resource (or it may not exist).",
    "INTERNAL": "Internal error encountered.",
}


@dataclass
class _Queued:
    kind: str  # "error", "signature_crc", "verified", "name" or "pem_crc"
    method: str
    remaining: int | None
    error: ServiceError | None = None


def _check_times(times: int | None) -> None:
    if times is not None and times < 1:
        raise ValueError(f"times must be at least 1 (or None for every call), not {times}.")


class Faults:
    """Queued faults plus ``latency``, the seconds added to every call; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._latency = 0.0

    @property
    def latency(self) -> float:
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"latency must be zero or more seconds, not {seconds}.")
        self._latency = float(seconds)

    def fail(
        self, method: str, code: str = "UNAVAILABLE", *, times: int | None = 1, message: str | None = None
    ) -> None:
        """Answer the next ``times`` ``method`` calls ("*" for any) with gRPC status ``code``, unexecuted."""
        if not method:
            raise ValueError("method must name an RPC such as 'AsymmetricSign', or be '*' for any; it is empty.")
        status_code(code)
        text = message or _DEFAULT_MESSAGES.get(code, f"Injected {code}.")
        self._enqueue(_Queued("error", method, times, ServiceError(code, text)))

    def corrupt_signature_crc(self, *, times: int | None = 1) -> None:
        """AsymmetricSign answers a ``signature_crc32c`` one more than the signature's CRC32C."""
        self._enqueue(_Queued("signature_crc", "AsymmetricSign", times))

    def clear_verified_flags(self, *, times: int | None = 1) -> None:
        """AsymmetricSign answers ``verified_digest_crc32c`` and ``verified_data_crc32c`` false."""
        self._enqueue(_Queued("verified", "AsymmetricSign", times))

    def swap_name(self, method: str = "AsymmetricSign", *, times: int | None = 1) -> None:
        """AsymmetricSign or GetPublicKey answers with the next version number in ``name`` (version 1 -> 2)."""
        if method not in ("AsymmetricSign", "GetPublicKey"):
            raise ValueError(f"swap_name applies to AsymmetricSign or GetPublicKey, not {method!r}.")
        self._enqueue(_Queued("name", method, times))

    def corrupt_pem_crc(self, *, times: int | None = 1) -> None:
        """GetPublicKey answers a ``pem_crc32c`` (and ``public_key.crc32c_checksum``) one more than the real one."""
        self._enqueue(_Queued("pem_crc", "GetPublicKey", times))

    def clear(self) -> None:
        """Drop every queued fault and set latency back to zero."""
        with self._lock:
            self._queue.clear()
            self._latency = 0.0

    def pending(self) -> int:
        """How many faults are still queued."""
        with self._lock:
            return len(self._queue)

    def take_error(self, method: str) -> ServiceError | None:
        """The error queued for this ``method`` call, if any, consuming one use of it."""
        with self._lock:
            for queued in self._queue:
                if queued.kind == "error" and queued.method in (method, "*"):
                    self._use(queued)
                    return queued.error
        return None

    def corrupt(self, method: str, response: Any) -> None:
        """Apply (and consume) every kind of response fault queued for this ``method`` call, once each."""
        with self._lock:
            kinds: list[str] = []
            for queued in list(self._queue):
                if queued.kind != "error" and queued.method == method and queued.kind not in kinds:
                    kinds.append(queued.kind)
                    self._use(queued)
        for kind in kinds:
            _CORRUPTIONS[kind](response)

    def _enqueue(self, queued: _Queued) -> None:
        _check_times(queued.remaining)
        with self._lock:
            self._queue.append(queued)

    def _use(self, queued: _Queued) -> None:
        if queued.remaining is not None:
            queued.remaining -= 1
            if queued.remaining == 0:
                self._queue.remove(queued)


def _off_by_one(value: int) -> int:
    return (value + 1) % _CRC_MODULUS


def _corrupt_signature_crc(response: Any) -> None:
    response.signature_crc32c = _off_by_one(response.signature_crc32c or 0)


def _clear_verified(response: Any) -> None:
    response.verified_digest_crc32c = False
    response.verified_data_crc32c = False


def _swap_name(response: Any) -> None:
    key_name, _, number = str(response.name).rpartition(_VERSION_SEPARATOR)
    response.name = f"{key_name}{_VERSION_SEPARATOR}{int(number) + 1}"


def _corrupt_pem_crc(response: Any) -> None:
    response.pem_crc32c = _off_by_one(response.pem_crc32c or 0)
    if "public_key" in response:
        response.public_key.crc32c_checksum = _off_by_one(response.public_key.crc32c_checksum or 0)


_CORRUPTIONS = {
    "signature_crc": _corrupt_signature_crc,
    "verified": _clear_verified,
    "name": _swap_name,
    "pem_crc": _corrupt_pem_crc,
}
