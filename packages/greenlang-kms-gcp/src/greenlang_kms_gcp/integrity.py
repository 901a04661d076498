"""Cloud KMS's end-to-end integrity checks, as Google documents them; the client library does none of them.

Each request carries the CRC32C of what it sends, and each response is checked:
the service saw the same bytes (``verified_*_crc32c``), answered for the version
asked for (``name``), and the signature or PEM arrived intact (``*_crc32c``).
Any mismatch raises ``IntegrityError`` and nothing is returned.
"""

from __future__ import annotations

from typing import Any

import google_crc32c

from greenlang.errors import KMSError

__all__ = ["IntegrityError", "crc32c", "check_signature_response", "check_public_key_response"]


class IntegrityError(KMSError):
    """A Cloud KMS request or response was corrupted or answered for another key; nothing was used."""


def crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


def _crc_field(response: Any, name: str) -> int | None:
    """An optional ``Int64Value`` field: ``None`` when the service did not send it."""
    return int(getattr(response, name)) if name in response else None


def check_signature_response(response: Any, requested: str, *, data: bool) -> bytes:
    """The signature from an ``AsymmetricSignResponse`` that passed every integrity check."""
    flag = "verified_data_crc32c" if data else "verified_digest_crc32c"
    if not getattr(response, flag):
        raise IntegrityError(
            f"Cloud KMS did not confirm the checksum of the {'data' if data else 'digest'} sent for {requested} "
            f"({flag} is false): it may have been corrupted in transit; no signature was returned."
        )
    if response.name != requested:
        raise IntegrityError(
            f"Cloud KMS answered for {response.name or 'no key'} when asked to sign with {requested}; "
            "no signature was returned."
        )
    signature = bytes(response.signature)
    expected = _crc_field(response, "signature_crc32c")
    if expected is None or crc32c(signature) != expected:
        raise IntegrityError(
            f"the signature from {requested} does not match its CRC32C: it was corrupted in transit; "
            "no signature was returned."
        )
    return signature


def check_public_key_response(response: Any, requested: str) -> bytes:
    """The PEM from a ``PublicKey`` response that passed its integrity checks."""
    if response.name != requested:
        raise IntegrityError(f"Cloud KMS returned the public key of {response.name} when asked for {requested}.")
    pem = str(response.pem).encode("ascii")
    expected = _crc_field(response, "pem_crc32c")
    if expected is None or crc32c(pem) != expected:
        raise IntegrityError(f"the public key of {requested} does not match its CRC32C: it was corrupted in transit.")
    return pem
