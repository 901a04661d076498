"""The one table of signature algorithms, shared by local keys and every KMS provider.

The algorithm is a property of the key, fixed when the key is resolved: the
table says which hash a curve takes and which padding an RSA key uses, so no
provider's listing order or caller's guess can pick a weaker combination.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from greenlang.errors import InputError, shown

__all__ = [
    "Algorithm",
    "Family",
    "PublicKey",
    "PrivateKey",
    "ALGORITHMS",
    "RSA_KEY_SIZES",
    "key_type",
    "default_algorithm",
    "by_name",
    "resolve",
    "resolve_for",
    "default_for",
    "check_fits",
    "by_provider_id",
    "choose",
]

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

RSA_KEY_SIZES = (2048, 3072, 4096)


class Family(StrEnum):
    RSA_PSS = "rsa-pss"
    RSA_PKCS1V15 = "rsa-pkcs1v15"
    ECDSA = "ecdsa"
    ED25519 = "ed25519"


@dataclass(frozen=True)
class Algorithm:
    """One row: a key type, the scheme and hash it signs with, and what each provider calls it.

    ``hash_name`` and ``digest_size`` are ``None`` for Ed25519, which signs the
    message itself. ``provider_ids`` maps ``"aws" | "azure" | "gcp"`` to that
    provider's algorithm id; a missing provider does not offer the algorithm.
    """

    name: str
    family: Family
    key_type: str
    hash_name: str | None
    digest_size: int | None
    provider_ids: Mapping[str, str] = field(default_factory=dict)

    def hash_algorithm(self) -> hashes.HashAlgorithm:
        """The ``cryptography`` hash object; Ed25519 has none."""
        if self.hash_name is None:
            raise InputError(f"algorithm {self.name} signs the message itself and has no separate hash.")
        return _HASHES[self.hash_name]()

    def digest(self, payload: bytes) -> bytes:
        """Hash ``payload`` locally, as a KMS signer must before sending it."""
        if self.hash_name is None:
            raise InputError(f"algorithm {self.name} signs the message itself; send the payload, not a digest.")
        return hashlib.new(self.hash_name, payload).digest()

    def pss_padding(self) -> padding.PSS:
        """PSS with MGF1 on the same hash and salt length equal to the digest length, as every KMS signs."""
        hash_algorithm = self.hash_algorithm()
        return padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)

    @property
    def is_rsa(self) -> bool:
        return self.family in (Family.RSA_PSS, Family.RSA_PKCS1V15)

    def provider_id(self, provider: str) -> str:
        """This algorithm's id at ``provider``, or an error naming the algorithms that provider has."""
        try:
            return self.provider_ids[provider]
        except KeyError:
            raise InputError(
                f"provider {provider!r} does not offer algorithm {self.name}; pick another key type."
            ) from None


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}

_CURVES: dict[str, tuple[str, str]] = {
    # cryptography curve name -> (key type, hash)
    "secp256r1": ("ecdsa-p256", "sha256"),
    "secp384r1": ("ecdsa-p384", "sha384"),
    "secp521r1": ("ecdsa-p521", "sha512"),
    "secp256k1": ("ecdsa-secp256k1", "sha256"),
}
_ECDSA_IDS: dict[str, dict[str, str]] = {
    "ecdsa-p256": {"aws": "ECDSA_SHA_256", "azure": "ES256", "gcp": "EC_SIGN_P256_SHA256"},
    "ecdsa-p384": {"aws": "ECDSA_SHA_384", "azure": "ES384", "gcp": "EC_SIGN_P384_SHA384"},
    "ecdsa-p521": {"aws": "ECDSA_SHA_512", "azure": "ES512"},
    "ecdsa-secp256k1": {"aws": "ECDSA_SHA_256", "azure": "ES256K", "gcp": "EC_SIGN_SECP256K1_SHA256"},
}
# GCP offers RSA with SHA-256 at every size and SHA-512 only at 4096, and no SHA-384.
_GCP_RSA_HASHES = {2048: ("sha256",), 3072: ("sha256",), 4096: ("sha256", "sha512")}


def _rsa_rows() -> list[Algorithm]:
    rows = []
    for bits in RSA_KEY_SIZES:
        for family, aws, azure, gcp in (
            (Family.RSA_PSS, "RSASSA_PSS_SHA_", "PS", "RSA_SIGN_PSS_"),
            (Family.RSA_PKCS1V15, "RSASSA_PKCS1_V1_5_SHA_", "RS", "RSA_SIGN_PKCS1_"),
        ):
            for hash_name, size in _DIGEST_SIZES.items():
                bits_of_hash = hash_name.removeprefix("sha")
                ids = {"aws": f"{aws}{bits_of_hash}", "azure": f"{azure}{bits_of_hash}"}
                if hash_name in _GCP_RSA_HASHES[bits]:
                    ids["gcp"] = f"{gcp}{bits}_SHA{bits_of_hash}"
                rows.append(Algorithm(f"{family}-{bits}-{hash_name}", family, f"rsa-{bits}", hash_name, size, ids))
    return rows


def _ec_rows() -> list[Algorithm]:
    return [Algorithm(f"{kt}-{h}", Family.ECDSA, kt, h, _DIGEST_SIZES[h], _ECDSA_IDS[kt]) for kt, h in _CURVES.values()]


_ED25519 = Algorithm(
    "ed25519", Family.ED25519, "ed25519", None, None, {"aws": "ED25519_SHA_512", "gcp": "EC_SIGN_ED25519"}
)

ALGORITHMS: Mapping[str, Algorithm] = MappingProxyType({row.name: row for row in (*_rsa_rows(), *_ec_rows(), _ED25519)})
"""Every supported algorithm by stable name, e.g. ``rsa-pss-3072-sha256``, ``ecdsa-p384-sha384``."""

_DEFAULT_RSA_HASH = {2048: "sha256", 3072: "sha256", 4096: "sha512"}


def key_type(public_key: object) -> str:
    """``rsa-3072``, ``ecdsa-p256``, ``ed25519``...; unsupported keys are refused with the supported list."""
    if isinstance(public_key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        if public_key.key_size not in RSA_KEY_SIZES:
            raise InputError(f"RSA key size {public_key.key_size} is not supported; use a 2048, 3072 or 4096-bit key.")
        return f"rsa-{public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        try:
            return _CURVES[public_key.curve.name][0]
        except KeyError:
            raise InputError(
                f"curve {public_key.curve.name} is not supported; use P-256, P-384, P-521 or secp256k1."
            ) from None
    if isinstance(public_key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise InputError(f"key type {type(public_key).__name__} is not supported; use an RSA, ECDSA or Ed25519 key.")


def default_algorithm(public_key: object) -> Algorithm:
    """RSA: PSS with SHA-256 (SHA-512 at 4096 bits); ECDSA: the curve's hash; Ed25519."""
    return default_for(key_type(public_key))


def default_for(kind: str) -> Algorithm:
    """``default_algorithm`` for a key type name (``ecdsa-p384``...), as a KMS reports it before the key is fetched."""
    if kind.startswith("rsa-"):
        bits = int(kind.removeprefix("rsa-"))
        return ALGORITHMS[f"{Family.RSA_PSS}-{bits}-{_DEFAULT_RSA_HASH[bits]}"]
    return next(row for row in ALGORITHMS.values() if row.key_type == kind)


def by_name(name: str) -> Algorithm:
    """The algorithm with stable ``name``, or an error listing the names."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise InputError(f"algorithm {shown(name)} is unknown; {_NAMES_HINT}") from None


def check_fits(algorithm: Algorithm, public_key: object) -> None:
    """Refuse an algorithm meant for another key type, before anything is signed or sent."""
    kind = key_type(public_key)
    if algorithm.key_type != kind:
        suggestion = default_algorithm(public_key).name
        raise InputError(f"algorithm {algorithm.name} does not fit a {kind} key; use {suggestion}.")


def resolve(public_key: object, requested: str | None = None) -> Algorithm:
    """The algorithm for ``public_key``: the default, or ``requested`` checked against the key.

    ``requested`` may be a stable name (``ecdsa-p521-sha512``), a family
    (``ecdsa``, ``rsa-pss``, ``rsa-pkcs1v15``, ``rsa``, ``ed25519``) or a
    provider id (``ECDSA_SHA_512``, ``PS256``, ``EC_SIGN_P256_SHA256``).
    """
    return resolve_for(key_type(public_key), requested)


def resolve_for(kind: str, requested: str | None = None) -> Algorithm:
    """``resolve`` for a key type name, so a provider can refuse a misfit as soon as it knows the key's type."""
    default = default_for(kind)
    text = (requested or "").strip()
    if not text:
        return default
    if text in ALGORITHMS:
        algorithm = ALGORITHMS[text]
        if algorithm.key_type != kind:
            raise InputError(f"algorithm {algorithm.name} does not fit a {kind} key; use {default.name}.")
        return algorithm
    family = text.lower()
    if family == "rsa":
        family = Family.RSA_PSS
    if family in {f.value for f in Family}:
        if default.is_rsa and family in (Family.RSA_PSS, Family.RSA_PKCS1V15):
            return ALGORITHMS[default.name.replace(str(default.family), family, 1)]
        if default.family == family:
            return default
        raise InputError(f"algorithm {text!r} does not fit a {kind} key; use {default.name}.")
    matches = [row for row in ALGORITHMS.values() if text in row.provider_ids.values()]
    fitting = [row for row in matches if row.key_type == kind]
    if fitting:
        return fitting[0]
    if matches:
        owners = sorted({provider for row in matches for provider, id_ in row.provider_ids.items() if id_ == text})
        same_provider = [default.provider_ids[p] for p in owners if p in default.provider_ids]
        alternatives = "".join(f" or {id_}" for id_ in dict.fromkeys(same_provider))
        raise InputError(f"algorithm {text!r} does not fit a {kind} key; use {default.name}{alternatives}.")
    raise InputError(f"algorithm {shown(text)} is unknown; {_NAMES_HINT}")


_NAMES_HINT = (
    "use a stable name such as ecdsa-p256-sha256 or rsa-pss-3072-sha256, a family such as ecdsa, "
    "or leave it unset (greenlang.security.algorithms.ALGORITHMS lists every name)."
)


def by_provider_id(provider: str, provider_id: str, public_key: object) -> Algorithm:
    """The row for ``provider``'s algorithm id on this key; ids such as ``ECDSA_SHA_256`` span key types."""
    kind = key_type(public_key)
    for row in ALGORITHMS.values():
        if row.key_type == kind and row.provider_ids.get(provider) == provider_id:
            return row
    raise InputError(
        f"{provider} algorithm {provider_id!r} does not fit a {kind} key; use {default_algorithm(public_key).name}."
    )


def choose(provider: str, offered: Iterable[str], public_key: object) -> Algorithm:
    """Pick one of ``offered`` provider ids for the key, independent of their order.

    The key's default wins when offered; otherwise the first fitting row in
    table order, so a shuffled listing always yields the same choice.
    """
    offered_ids = set(offered)
    kind = key_type(public_key)
    default = default_algorithm(public_key)
    candidates = [default, *(row for row in ALGORITHMS.values() if row.key_type == kind and row is not default)]
    for row in candidates:
        if row.provider_ids.get(provider) in offered_ids:
            return row
    listed = ", ".join(sorted(offered_ids)) or "none"
    raise InputError(f"the {provider} key offers no algorithm that fits a {kind} key (offered: {listed}).")
