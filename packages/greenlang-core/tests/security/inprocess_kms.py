"""An in-process "cloud" for the KMS provider tests: the two plugin methods over real keys, with fault knobs."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from greenlang.errors import KeyUnusableError, KMSUnavailableError
from greenlang.security.algorithms import Algorithm, Family, PrivateKey, PublicKey
from greenlang.security.kms.provider import KMSProvider, RemoteKey
from greenlang.security.kms.retry import Deadline, current_deadline
from greenlang.testing import verify_independently

ALIAS_URI = "awskms:///alias/scope3-reports"
KEY_A_REF = "awskms:///arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_B_REF = "awskms:///arn:aws:kms:eu-west-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"
FALLBACK_REF = "file:///keys/fallback.pem"
SIGNED_AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
AWS_RSA_IDS = (
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
)
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class InProcessProvider(KMSProvider):
    """A KMS whose keys live in this process: the two plugin methods, call counters and fault knobs.

    ``fault`` (for every Sign) or ``faults[digest]`` (for one message) is one of
    ``unavailable``, ``unusable``, ``empty`` or ``corrupt``; ``fetch_fault`` is
    ``unavailable`` or ``unusable`` for the key lookup.
    """

    provider = "aws"
    scheme = "awskms"

    def __init__(
        self,
        private_key: PrivateKey,
        *,
        uri: str = ALIAS_URI,
        key_ref: str = KEY_A_REF,
        offered: tuple[str, ...] | None = None,
        spec: str = "",
        others: dict[str, PrivateKey] | None = None,
        delay: float = 0.0,
        **options: Any,
    ) -> None:
        self.keys: dict[str, tuple[str, PrivateKey]] = {uri: (key_ref, private_key), key_ref: (key_ref, private_key)}
        self.keys.update({ref: (ref, key) for ref, key in (others or {}).items()})
        self.offered = offered
        self.spec = spec
        self.delay = delay
        self.fault: str | None = None
        self.faults: dict[bytes, str] = {}
        self.fetch_fault: str | None = None
        self.fetch_calls = 0
        self.sign_calls = 0
        self.messages: list[bytes] = []
        self.deadlines: list[Deadline | None] = []
        self.active = 0
        self.max_active = 0
        self._counters = threading.Lock()
        super().__init__(uri, **options)

    def _fetch_key(self, ref: str) -> RemoteKey:
        with self._counters:
            self.fetch_calls += 1
        if self.fetch_fault == "unavailable":
            raise KMSUnavailableError("the in-process KMS is unavailable (test fault); try again later.")
        if self.fetch_fault == "unusable" or ref not in self.keys:
            raise KeyUnusableError(f"key {ref} is not usable (test fault); check the key.")
        exact, private = self.keys[ref]
        return RemoteKey(private.public_key(), key_ref=exact, offered=self.offered, spec=self.spec)

    def _sign_digest(self, key: RemoteKey, algorithm: Algorithm, message: bytes) -> bytes:
        with self._counters:
            self.sign_calls += 1
            self.messages.append(message)
            self.deadlines.append(current_deadline().get())
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.delay:
                time.sleep(self.delay)
            fault = self.faults.get(message, self.fault)
            if fault == "unavailable":
                raise KMSUnavailableError("the in-process KMS is unavailable (test fault); try again later.")
            if fault == "unusable":
                raise KeyUnusableError("the in-process key is disabled (test fault); enable it.")
            if fault == "empty":
                return b""
            signature = sign_prehashed(self.keys[key.key_ref][1], algorithm, message)
            if fault == "corrupt":
                signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
            return signature
        finally:
            with self._counters:
                self.active -= 1


def sign_prehashed(private: PrivateKey, algorithm: Algorithm, message: bytes) -> bytes:
    """What a KMS does with a digest: ECDSA as DER, RSA-PSS with salt = digest length, Ed25519 over the message."""
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return private.sign(message)
    assert algorithm.hash_name is not None
    chosen = _HASHES[algorithm.hash_name]()
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return private.sign(message, ec.ECDSA(Prehashed(chosen)))
    assert isinstance(private, rsa.RSAPrivateKey)
    if algorithm.family is Family.RSA_PKCS1V15:
        return private.sign(message, padding.PKCS1v15(), Prehashed(chosen))
    return private.sign(
        message, padding.PSS(mgf=padding.MGF1(chosen), salt_length=chosen.digest_size), Prehashed(chosen)
    )


def verifies(public_key: PublicKey, algorithm_name: str, payload: bytes, signature: bytes) -> bool:
    """``cryptography`` alone, with the scheme spelled out from the algorithm's stable name."""
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return verify_independently(pem, algorithm_name, payload, signature)


def fingerprint(key: PrivateKey | PublicKey) -> str:
    public = key.public_key() if not isinstance(key, PublicKey) else key
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()
