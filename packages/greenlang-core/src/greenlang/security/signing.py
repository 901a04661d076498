"""Signers: one interface for local keys and every KMS, so envelopes never care where a key lives.

A ``Signer`` subclass supplies the key's public half, its URI and one method,
``_sign(payload)``, that returns the signature in its stored encoding (DER for
ECDSA, untouched bytes for RSA and Ed25519). The base class fixes the rest:
the algorithm resolved from the key, the key id, the timestamp, the result.
KMS signers hash locally with ``self.algorithm.digest(payload)`` and send only
the digest.
"""

from __future__ import annotations

import asyncio
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from greenlang.errors import InputError
from greenlang.security.algorithms import Algorithm, Family, PrivateKey, PublicKey, check_fits, resolve
from greenlang.security.keys import Passphrase, key_id, load_private_key
from greenlang.timeutil import Clock, to_utc, utcnow

__all__ = ["SignResult", "Signer", "SigningConfig", "LocalSigner"]


@dataclass(frozen=True)
class SignResult:
    """A signature and what a verifier needs to know about how it was made."""

    signature: bytes = field(repr=False)
    algorithm: str
    timestamp: datetime
    key_id: str
    key_ref: str
    provider: str
    fallback_for: str | None = None
    """The KMS key this signature stands in for, when it was unreachable and a configured local fallback signed."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp", to_utc(self.timestamp))


class SigningConfig(BaseModel):
    """Settings for opening a signer; the seed's ``SigningConfig(kms_key_id=..., algorithm=...)`` still works.

    ``kms_key_id`` is a key URI (``awskms:///alias/x``, ``file:///k.pem``);
    ``key_path`` is a local PEM file. ``algorithm`` is optional and checked
    against the key. Unknown fields are refused so a typo is not ignored.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kms_key_id: str | None = None
    algorithm: str | None = None
    key_path: str | None = None
    passphrase: SecretStr | None = None
    cache_ttl_seconds: int = Field(default=3600, ge=0)
    max_retries: int = Field(default=3, ge=0)

    def key_uri(self) -> str:
        """The key reference to open: ``kms_key_id``, else ``key_path``; one of them is required."""
        if self.kms_key_id:
            return self.kms_key_id
        if self.key_path:
            return self.key_path
        raise InputError("SigningConfig needs kms_key_id (a key URI) or key_path (a PEM file); set one of them.")


class Signer(ABC):
    """Signs bytes with one key and one algorithm, both fixed when the signer is opened."""

    provider: str = "unknown"
    """Short provider name recorded with each signature: ``local``, ``aws``, ``azure``, ``gcp``."""

    def __init__(self, *, key_ref: str, algorithm: str | Algorithm | None = None, clock: Clock = utcnow) -> None:
        self._key_ref = key_ref
        self._requested = algorithm
        self._clock = clock

    @abstractmethod
    def public_key(self) -> PublicKey:
        """The public half of the signing key; KMS signers fetch it once and cache it."""

    @abstractmethod
    def _sign(self, payload: bytes) -> bytes:
        """The signature over ``payload`` in stored encoding (ECDSA as DER)."""

    @property
    def key_ref(self) -> str:
        """The key URI, including the resolved key version where the provider has one."""
        return self._key_ref

    @cached_property
    def algorithm(self) -> Algorithm:
        """The algorithm, resolved once from the key and the requested name."""
        requested = self._requested
        if isinstance(requested, Algorithm):
            check_fits(requested, self.public_key())
            return requested
        return resolve(self.public_key(), requested)

    @cached_property
    def key_id(self) -> str:
        """SHA-256 of the public key's DER SubjectPublicKeyInfo, in hex."""
        return key_id(self.public_key())

    def sign(self, payload: bytes) -> SignResult:
        """Sign ``payload`` (any length; the algorithm hashes it) and describe the result."""
        algorithm = self.algorithm
        signature = self._sign(bytes(payload))
        return SignResult(
            signature=signature,
            algorithm=algorithm.name,
            timestamp=to_utc(self._clock()),
            key_id=self.key_id,
            key_ref=self.key_ref,
            provider=self.provider,
        )

    async def sign_async(self, payload: bytes) -> SignResult:
        """``sign`` in a worker thread; providers with native async clients override this."""
        return await asyncio.to_thread(self.sign, payload)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_ref={self.key_ref!r}, provider={self.provider!r})"


class LocalSigner(Signer):
    """Signs with a private key held in this process."""

    provider = "local"

    def __init__(
        self, private_key: PrivateKey, *, key_ref: str, algorithm: str | Algorithm | None = None, clock: Clock = utcnow
    ) -> None:
        super().__init__(key_ref=key_ref, algorithm=algorithm, clock=clock)
        self._private_key = private_key
        _ = self.algorithm  # refuse an unfitting algorithm now, not at the first signature

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        passphrase: Passphrase | None = None,
        *,
        algorithm: str | Algorithm | None = None,
        clock: Clock = utcnow,
    ) -> LocalSigner:
        """Open the PEM private key at ``path``; ``key_ref`` becomes its ``file://`` URI."""
        from greenlang.security.keyref import file_uri

        return cls(load_private_key(path, passphrase), key_ref=file_uri(path), algorithm=algorithm, clock=clock)

    def public_key(self) -> PublicKey:
        return self._private_key.public_key()

    def _sign(self, payload: bytes) -> bytes:
        algorithm = self.algorithm
        key = self._private_key
        if algorithm.family is Family.ED25519 and isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(payload)
        if algorithm.family is Family.ECDSA and isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(payload, ec.ECDSA(algorithm.hash_algorithm()))
        if algorithm.family is Family.RSA_PSS and isinstance(key, rsa.RSAPrivateKey):
            return key.sign(payload, algorithm.pss_padding(), algorithm.hash_algorithm())
        if algorithm.family is Family.RSA_PKCS1V15 and isinstance(key, rsa.RSAPrivateKey):
            return key.sign(payload, padding.PKCS1v15(), algorithm.hash_algorithm())
        raise InputError(f"algorithm {algorithm.name} does not fit this {type(key).__name__}.")


def __getattr__(name: str) -> Any:
    """``from greenlang.security.signing import ExternalKMSSigner`` as in the seed, without an import cycle."""
    if name == "ExternalKMSSigner":
        from greenlang.security.kms.external import ExternalKMSSigner

        return ExternalKMSSigner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
