"""Offline verification against keys the verifier supplies.

Every check ends in ``verify_signature``: one path, used for local keys and
for every KMS provider's signatures. The key always comes from the caller
(a PEM file, a trust set, key objects). Nothing in an envelope or bundle
selects a key or an algorithm that the trusted key would not itself imply;
``keyid`` only decides which trusted key to try first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from greenlang.errors import InputError, VerificationError
from greenlang.security.algorithms import Algorithm, Family, PrivateKey, PublicKey, check_fits, resolve
from greenlang.security.dsse import Envelope
from greenlang.security.encoding import is_strict_der, raw_to_der
from greenlang.security.keys import key_id, load_public_keys, public_key_of
from greenlang.security.statement import PAYLOAD_TYPE, file_sha256, parse_statement

__all__ = [
    "TrustedKeys",
    "VerifiedPayload",
    "VerifiedArtifact",
    "trusted_key_set",
    "verify_signature",
    "verify_raw_ecdsa",
    "verify_envelope",
    "verify_artifact",
]

TrustedKeys = PublicKey | PrivateKey | str | os.PathLike[str] | bytes | Iterable[Any]
"""A PEM file path (one key or a trust set), PEM bytes, a key object, or a list of any of these."""


@dataclass(frozen=True)
class VerifiedPayload:
    """A payload whose signature checked out, and which trusted key and algorithm checked it."""

    payload_type: str
    payload: bytes = field(repr=False)
    key_id: str
    algorithm: str
    public_key: PublicKey = field(repr=False)


@dataclass(frozen=True)
class VerifiedArtifact:
    path: Path
    sha256: str
    subject_name: str
    signed_at: str | None
    envelope: VerifiedPayload
    statement: dict[str, Any] = field(repr=False)


def trusted_key_set(trusted: TrustedKeys) -> list[PublicKey]:
    """Normalize what the verifier trusts into public key objects; an empty set is refused."""
    keys: list[PublicKey] = []
    _collect(trusted, keys)
    if not keys:
        raise InputError("no trusted public keys were given; pass a PEM public key file or key objects.")
    return keys


def _collect(item: object, into: list[PublicKey]) -> None:
    if isinstance(item, str | os.PathLike | bytes):
        into.extend(load_public_keys(item))
    elif isinstance(item, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        into.append(item)
    elif isinstance(item, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        into.append(public_key_of(item))
    elif isinstance(item, Iterable):
        for element in item:
            _collect(element, into)
    else:
        raise InputError(
            f"a trusted key must be a PEM path, PEM bytes or a public key object, not {type(item).__name__}."
        )


def _algorithm(public_key: PublicKey, algorithm: Algorithm | str | None) -> Algorithm:
    if isinstance(algorithm, Algorithm):
        check_fits(algorithm, public_key)
        return algorithm
    return resolve(public_key, algorithm)


def verify_signature(
    public_key: PublicKey, payload: bytes, signature: bytes, algorithm: Algorithm | str | None = None
) -> bool:
    """True when ``signature`` over ``payload`` verifies with ``public_key`` under ``algorithm``.

    ``algorithm`` defaults to the key's own (see ``algorithms.default_algorithm``)
    and is refused with ``InputError`` when it does not fit the key. ECDSA
    signatures must be strict DER. RSA-PSS requires salt length = digest length.
    """
    chosen = _algorithm(public_key, algorithm)
    try:
        if chosen.family is Family.ED25519 and isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, payload)
        elif chosen.family is Family.ECDSA and isinstance(public_key, ec.EllipticCurvePublicKey):
            if not is_strict_der(signature):
                return False
            public_key.verify(signature, payload, ec.ECDSA(chosen.hash_algorithm()))
        elif chosen.family is Family.RSA_PSS and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, payload, chosen.pss_padding(), chosen.hash_algorithm())
        elif chosen.family is Family.RSA_PKCS1V15 and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, payload, padding.PKCS1v15(), chosen.hash_algorithm())
        else:  # pragma: no cover - check_fits already refused this
            raise InputError(f"algorithm {chosen.name} does not fit this {type(public_key).__name__}.")
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_raw_ecdsa(
    public_key: ec.EllipticCurvePublicKey,
    payload: bytes,
    raw_signature: bytes,
    algorithm: Algorithm | str | None = None,
) -> bool:
    """Verify a raw ``r||s`` ECDSA signature (as Azure returns) through the DER conversion."""
    try:
        der = raw_to_der(raw_signature, public_key.curve)
    except InputError:
        return False
    return verify_signature(public_key, payload, der, algorithm)


def _verification_algorithms(public_key: PublicKey, hint: str | None) -> list[Algorithm]:
    """The trusted key's default first, then the hint if it fits the key and differs.

    The hint comes from an unsigned bundle, so it may only add a second try
    (e.g. PKCS#1 v1.5 for an RSA key), never replace the key's own algorithm.
    """
    default = resolve(public_key)
    if not hint:
        return [default]
    try:
        hinted = resolve(public_key, hint)
    except InputError:
        return [default]
    return [default] if hinted.name == default.name else [default, hinted]


def verify_envelope(
    envelope: Envelope | str | bytes, trusted_keys: TrustedKeys, *, algorithm: str | None = None
) -> VerifiedPayload:
    """Verify a DSSE envelope with the verifier's keys; at least one signature must verify.

    Each trusted key is tried with its default algorithm, then with
    ``algorithm`` (e.g. from a bundle) when that fits the key and differs, so
    an edited hint can neither pick a key nor make a genuine signature fail.
    """
    parsed = envelope if isinstance(envelope, Envelope) else Envelope.from_json(envelope)
    keys = trusted_key_set(trusted_keys)
    if not parsed.signatures:
        raise VerificationError("envelope has no signatures; it was never signed.")
    message = parsed.pae()
    ids = [key_id(k) for k in keys]
    for signature in parsed.signatures:
        order = sorted(range(len(keys)), key=lambda i: ids[i] != signature.keyid)
        for index in order:
            for chosen in _verification_algorithms(keys[index], algorithm):
                if verify_signature(keys[index], message, signature.sig, chosen):
                    return VerifiedPayload(parsed.payload_type, parsed.payload, ids[index], chosen.name, keys[index])
    hinted = {s.keyid for s in parsed.signatures} & set(ids)
    count = f"{len(keys)} trusted key{'s' if len(keys) != 1 else ''}"
    if not hinted:
        raise VerificationError(
            f"no signature verifies with the {count}; the envelope was signed by an untrusted key or altered."
        )
    raise VerificationError(
        f"signature does not verify with the {count}; the payload or payloadType was changed after signing."
    )


def verify_artifact(
    path: str | os.PathLike[str],
    envelope_path: str | os.PathLike[str],
    trusted_keys: TrustedKeys,
    *,
    algorithm: str | None = None,
) -> VerifiedArtifact:
    """Verify ``path`` against its envelope: the signature, the statement, and the file's SHA-256."""
    try:
        envelope_bytes = Path(envelope_path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"envelope {os.fspath(envelope_path)} does not exist; pass the .dsse.json file.") from None
    except OSError as exc:
        raise InputError(f"cannot read envelope {os.fspath(envelope_path)}: {exc.strerror}.") from None
    verified = verify_envelope(envelope_bytes, trusted_keys, algorithm=algorithm)
    if verified.payload_type != PAYLOAD_TYPE:
        raise VerificationError(
            f"envelope payloadType is {verified.payload_type!r}, not {PAYLOAD_TYPE!r}; it does not describe a file."
        )
    statement, subjects = parse_statement(verified.payload)
    actual = file_sha256(path)
    for subject in subjects:
        if subject.sha256 == actual:
            predicate = statement.get("predicate")
            signed_at = predicate.get("timestamp") if isinstance(predicate, dict) else None
            return VerifiedArtifact(
                Path(path), actual, subject.name, signed_at if isinstance(signed_at, str) else None, verified, statement
            )
    named = ", ".join(f"{s.name or '?'} sha256:{s.sha256[:16]}..." for s in subjects)
    raise VerificationError(
        f"file {os.fspath(path)} has sha256:{actual[:16]}... but the signed statement names {named}; "
        "the file changed after signing."
    )
