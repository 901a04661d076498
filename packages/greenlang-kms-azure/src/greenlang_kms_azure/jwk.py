"""Key Vault JSON Web Keys as ``cryptography`` public keys.

Key Vault names a key's type (``EC``, ``EC-HSM``, ``RSA``, ``RSA-HSM``) and its
curve; where the key material lives (software or HSM) changes nothing about its
public half or its algorithms, so an ``-HSM`` key maps exactly as its twin.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from greenlang.errors import InputError, KeyUnusableError, KMSError
from greenlang.security.algorithms import PublicKey, key_type

__all__ = ["SIGNING_KEY_TYPES", "CURVES", "public_key_of", "spec_of"]

SIGNING_KEY_TYPES = ("EC", "EC-HSM", "RSA", "RSA-HSM")
CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
    "P-256K": ec.SECP256K1(),
}


def _text(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


def _integer(jwk: Any, name: str, kid: str) -> int:
    raw = getattr(jwk, name, None)
    if not isinstance(raw, bytes | bytearray) or not raw:
        raise KMSError(f"Key Vault returned key {kid} without its {name!r} component; not signing.")
    return int.from_bytes(raw, "big")


def public_key_of(jwk: Any, kid: str) -> PublicKey:
    """The public key a Key Vault ``JsonWebKey`` describes; any other key type is refused by name."""
    kty = _text(jwk.kty)
    if kty not in SIGNING_KEY_TYPES:
        raise KeyUnusableError(
            f"key {kid} has type {kty or 'unknown'}; "
            f"greenlang-kms-azure signs with {', '.join(SIGNING_KEY_TYPES)} keys."
        )
    try:
        if kty.startswith("RSA"):
            loaded: PublicKey = rsa.RSAPublicNumbers(_integer(jwk, "e", kid), _integer(jwk, "n", kid)).public_key()
        else:
            crv = _text(jwk.crv)
            if crv not in CURVES:
                raise KeyUnusableError(
                    f"key {kid} is on curve {crv or 'unknown'}; greenlang-kms-azure signs with {', '.join(CURVES)}."
                )
            numbers = ec.EllipticCurvePublicNumbers(_integer(jwk, "x", kid), _integer(jwk, "y", kid), CURVES[crv])
            loaded = numbers.public_key()
    except ValueError:
        raise KMSError(f"Key Vault returned a public key for {kid} that is not a valid {kty} key.") from None
    try:
        key_type(loaded)
    except InputError as exc:  # e.g. RSA-1024: the key is at fault, not the caller's input
        raise KeyUnusableError(f"key {kid}: {exc}") from None
    return loaded


def spec_of(jwk: Any, public_key: PublicKey) -> str:
    """Key Vault's own words for the key: ``EC-HSM P-384``, ``RSA 3072``."""
    kty = _text(jwk.kty)
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"{kty} {public_key.key_size}"
    return f"{kty} {_text(jwk.crv)}"
