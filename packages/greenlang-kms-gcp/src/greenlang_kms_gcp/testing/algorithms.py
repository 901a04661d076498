"""The Cloud KMS algorithms the local server knows: their purpose, key material, digest and signing scheme.

Signing follows Google's documentation: ECDSA signatures are DER, RSA-PSS uses MGF1 with the message hash
and a salt as long as the digest, and Ed25519 signs the data itself. RSA key generation is slow (4096 bits
takes seconds), so one private key per size is shared by every version that does not ask for fresh material.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "PrivateKey",
    "generate_key",
    "public_der",
    "public_pem",
    "sign_data",
    "sign_digest",
]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class Algorithm:
    """One ``CryptoKeyVersionAlgorithm``; ``digest`` names the ``Digest`` oneof field it signs, if any."""

    name: str
    purpose: str
    scheme: str  # "ecdsa", "rsa-pss", "rsa-pkcs1", "ed25519" or "symmetric"
    digest: str | None = None
    curve: type[ec.EllipticCurve] | None = None
    bits: int | None = None

    @property
    def hash(self) -> hashes.HashAlgorithm:
        """The hash this algorithm signs with; Ed25519 and symmetric keys have none."""
        if self.digest is None:
            raise ValueError(f"{self.name} does not sign a digest.")
        return _HASHES[self.digest]()


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_SIGN = "ASYMMETRIC_SIGN"


def _table() -> dict[str, Algorithm]:
    table = [
        Algorithm("EC_SIGN_P256_SHA256", _SIGN, "ecdsa", "sha256", curve=ec.SECP256R1),
        Algorithm("EC_SIGN_P384_SHA384", _SIGN, "ecdsa", "sha384", curve=ec.SECP384R1),
        Algorithm("EC_SIGN_SECP256K1_SHA256", _SIGN, "ecdsa", "sha256", curve=ec.SECP256K1),
        Algorithm("EC_SIGN_ED25519", _SIGN, "ed25519"),
        Algorithm("GOOGLE_SYMMETRIC_ENCRYPTION", "ENCRYPT_DECRYPT", "symmetric"),
    ]
    for scheme, infix in (("rsa-pss", "PSS"), ("rsa-pkcs1", "PKCS1")):
        for bits, digest in ((2048, "sha256"), (3072, "sha256"), (4096, "sha256"), (4096, "sha512")):
            name = f"RSA_SIGN_{infix}_{bits}_{digest.upper()}"
            table.append(Algorithm(name, _SIGN, scheme, digest, bits=bits))
    return {algorithm.name: algorithm for algorithm in table}


ALGORITHMS: dict[str, Algorithm] = _table()

_shared_rsa: dict[int, rsa.RSAPrivateKey] = {}
_shared_rsa_lock = threading.Lock()


def generate_key(algorithm: Algorithm, *, fresh: bool = False) -> PrivateKey | None:
    """New key material for ``algorithm``; RSA keys are shared per size unless ``fresh``; symmetric keys get None."""
    if algorithm.curve is not None:
        return ec.generate_private_key(algorithm.curve())
    if algorithm.scheme == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm.bits is None:
        return None
    if fresh:
        return rsa.generate_private_key(public_exponent=65537, key_size=algorithm.bits)
    with _shared_rsa_lock:
        if algorithm.bits not in _shared_rsa:
            _shared_rsa[algorithm.bits] = rsa.generate_private_key(public_exponent=65537, key_size=algorithm.bits)
        return _shared_rsa[algorithm.bits]


def public_pem(private_key: PrivateKey) -> str:
    """The public key as SubjectPublicKeyInfo PEM, the form GetPublicKey returns."""
    encoded = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return encoded.decode("ascii")


def public_der(private_key: PrivateKey) -> bytes:
    """The public key as DER SubjectPublicKeyInfo."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign_digest(algorithm: Algorithm, private_key: PrivateKey, digest: bytes) -> bytes:
    """Sign a precomputed digest of ``algorithm``'s hash."""
    prehashed = Prehashed(algorithm.hash)
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return private_key.sign(digest, ec.ECDSA(prehashed))
    if isinstance(private_key, rsa.RSAPrivateKey):
        if algorithm.scheme == "rsa-pss":
            pss = padding.PSS(mgf=padding.MGF1(algorithm.hash), salt_length=algorithm.hash.digest_size)
            return private_key.sign(digest, pss, prehashed)
        return private_key.sign(digest, padding.PKCS1v15(), prehashed)
    raise ValueError(f"{algorithm.name} signs data, not a digest.")


def sign_data(algorithm: Algorithm, private_key: PrivateKey, data: bytes) -> bytes:
    """Sign ``data``: Ed25519 signs it as is, every other algorithm signs its hash."""
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(data)
    digest = hashes.Hash(algorithm.hash)
    digest.update(data)
    return sign_digest(algorithm, private_key, digest.finalize())
