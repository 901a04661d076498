"""Sign and verify digests the way Key Vault does, including its refusals.

Key Vault's sign operation takes a *digest*, never the message: ECDSA answers raw ``r||s`` at twice the
coordinate width (leading zero bytes kept), RSA-PSS uses MGF1 with the same hash and a salt as long as the
digest, RS* is PKCS#1 v1.5. A digest of the wrong length, or an algorithm that does not fit the key, is a 400
``BadParameter``. The messages follow the service's wording so clients are tested against what they will see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature, encode_dss_signature

from greenlang_kms_azure.testing.wire import VaultError

__all__ = ["CURVES", "SCHEMES", "PrivateKey", "Scheme", "check_signing", "sign_digest", "verify_digest"]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
    "P-256K": ec.SECP256K1(),
}
"""Key Vault curve names and the curves they denote."""

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


@dataclass(frozen=True)
class Scheme:
    """One JWA signature algorithm: key family, hash, and for ECDSA the only curve it may be used with."""

    family: str
    hash_name: str
    curve: str | None = None
    pss: bool = False

    def hash(self) -> hashes.HashAlgorithm:
        return _HASHES[self.hash_name]()

    @property
    def digest_size(self) -> int:
        return self.hash().digest_size


SCHEMES: dict[str, Scheme] = {
    "ES256": Scheme("EC", "SHA256", "P-256"),
    "ES256K": Scheme("EC", "SHA256", "P-256K"),
    "ES384": Scheme("EC", "SHA384", "P-384"),
    "ES512": Scheme("EC", "SHA512", "P-521"),
    "PS256": Scheme("RSA", "SHA256", pss=True),
    "PS384": Scheme("RSA", "SHA384", pss=True),
    "PS512": Scheme("RSA", "SHA512", pss=True),
    "RS256": Scheme("RSA", "SHA256"),
    "RS384": Scheme("RSA", "SHA384"),
    "RS512": Scheme("RSA", "SHA512"),
}

_MAX_DRAWS = 100_000  # P(no zero byte in 100k draws) ~ e^-390: only a bug gets here


def check_signing(kid: str, kty: str, crv: str | None, alg: object, digest: bytes, field: str) -> Scheme:
    """The scheme for ``alg`` on this key, or the service's 400 when the algorithm or digest does not fit."""
    if not isinstance(alg, str) or alg not in SCHEMES:
        raise VaultError.bad_parameter(f"Property 'alg' has invalid value '{alg}'.")
    scheme = SCHEMES[alg]
    family = kty.removesuffix("-HSM")
    if family != scheme.family:
        raise VaultError.bad_parameter(
            f"Key and signing algorithm are incompatible. Key {kid} is of type '{kty}', and algorithm '{alg}' "
            f"can only be used with key type '{scheme.family}'."
        )
    if scheme.curve is not None and crv != scheme.curve:
        raise VaultError.bad_parameter(
            f"Key and signing algorithm are incompatible. Key {kid} uses curve '{crv}', and algorithm '{alg}' "
            f"can only be used with curve '{scheme.curve}'."
        )
    if len(digest) != scheme.digest_size:
        raise VaultError.bad_parameter(
            f"Invalid length of '{field}': {len(digest)} bytes. {alg} requires {scheme.digest_size} bytes, "
            "encoded with base64url."
        )
    return scheme


def _rsa_padding(scheme: Scheme) -> padding.AsymmetricPadding:
    if scheme.pss:
        return padding.PSS(mgf=padding.MGF1(scheme.hash()), salt_length=scheme.digest_size)
    return padding.PKCS1v15()


def _width(curve: ec.EllipticCurve) -> int:
    return (curve.key_size + 7) // 8


def sign_digest(key: PrivateKey, scheme: Scheme, digest: bytes, *, leading_zero: str | None = None) -> bytes:
    """The signature Key Vault returns; with ``leading_zero`` "r" or "s", re-sign until that half starts 0x00."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(digest, _rsa_padding(scheme), Prehashed(scheme.hash()))
    width = _width(key.curve)
    for _ in range(_MAX_DRAWS):
        r, s = decode_dss_signature(key.sign(digest, ec.ECDSA(Prehashed(scheme.hash()))))
        raw = r.to_bytes(width, "big") + s.to_bytes(width, "big")
        if leading_zero is None or raw[0 if leading_zero == "r" else width] == 0:
            return raw
    raise RuntimeError(f"no {leading_zero} with a leading zero byte in {_MAX_DRAWS} signatures")


def verify_digest(key: PublicKey, scheme: Scheme, digest: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (raw ``r||s`` for ECDSA) is valid over ``digest``; malformed input is just invalid."""
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest, _rsa_padding(scheme), Prehashed(scheme.hash()))
            return True
        width = _width(key.curve)
        if len(signature) != 2 * width:
            return False
        r = int.from_bytes(signature[:width], "big")
        s = int.from_bytes(signature[width:], "big")
        key.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(scheme.hash())))
        return True
    except (InvalidSignature, ValueError):
        return False
