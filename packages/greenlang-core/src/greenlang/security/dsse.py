"""DSSE envelopes: the signed wrapper around a payload, readable by in-toto and securesystemslib tools.

The signature covers the pre-authentication encoding (PAE) of the payload
type and payload, so neither can be swapped without breaking it. Parsing is
strict about shape and lenient only where the spec is (either base64
alphabet, unknown fields ignored); a malformed envelope is a
``VerificationError`` with one sentence, never a raw decoding exception.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from greenlang.errors import VerificationError
from greenlang.security.signing import Signer, SignResult

__all__ = [
    "Envelope",
    "EnvelopeSignature",
    "pae",
    "sign_envelope",
    "sign_envelope_with_result",
    "b64encode",
    "b64decode",
]


def pae(payload_type: str, payload: bytes) -> bytes:
    """``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, lengths in bytes as ASCII decimal."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def b64encode(data: bytes) -> str:
    """Standard base64 with padding, as DSSE writers use."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, what: str) -> bytes:
    """Standard or URL-safe base64 (DSSE allows both), padding optional; anything else is refused."""
    if not isinstance(text, str):
        raise VerificationError(f"envelope {what} must be a base64 string; the envelope is malformed.")
    stripped = text.strip()
    padded = stripped + "=" * (-len(stripped) % 4)
    alphabet = b"-_" if ("-" in stripped or "_" in stripped) else None
    if alphabet is not None and ("+" in stripped or "/" in stripped):
        raise VerificationError(f"envelope {what} mixes two base64 alphabets; the envelope is malformed.")
    try:
        return base64.b64decode(padded, altchars=alphabet, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"envelope {what} is not valid base64; the envelope is damaged or truncated.") from None


@dataclass(frozen=True)
class EnvelopeSignature:
    """One signature. ``keyid`` is only a hint for choosing a key; it proves nothing."""

    sig: bytes = field(repr=False)
    keyid: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"keyid": self.keyid, "sig": b64encode(self.sig)}


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes = field(repr=False)
    signatures: tuple[EnvelopeSignature, ...] = ()

    def pae(self) -> bytes:
        """The exact bytes each signature covers."""
        return pae(self.payload_type, self.payload)

    def to_dict(self) -> dict[str, Any]:
        return {
            "payloadType": self.payload_type,
            "payload": b64encode(self.payload),
            "signatures": [s.to_dict() for s in self.signatures],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False) + ("\n" if indent is not None else "")

    @classmethod
    def from_dict(cls, data: object) -> Envelope:
        """Validate the envelope's shape; unknown fields are ignored and never used."""
        if not isinstance(data, dict):
            raise VerificationError("envelope must be a JSON object with payloadType, payload and signatures.")
        for name in ("payloadType", "payload", "signatures"):
            if name not in data:
                raise VerificationError(f"envelope has no {name!r} field; the envelope is incomplete or not DSSE.")
        payload_type = data["payloadType"]
        if not isinstance(payload_type, str):
            raise VerificationError("envelope payloadType must be a string; the envelope is malformed.")
        payload = b64decode(data["payload"], "payload")
        raw_signatures = data["signatures"]
        if not isinstance(raw_signatures, list):
            raise VerificationError("envelope signatures must be a list; the envelope is malformed.")
        signatures = tuple(_signature(item, index) for index, item in enumerate(raw_signatures))
        return cls(payload_type, payload, signatures)

    @classmethod
    def from_json(cls, text: str | bytes) -> Envelope:
        """Parse envelope JSON; truncated or malformed input is a ``VerificationError``."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            where = f" at byte {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
            raise VerificationError(f"envelope is not valid JSON{where}; the file is damaged or truncated.") from None
        return cls.from_dict(data)


def _signature(item: object, index: int) -> EnvelopeSignature:
    if not isinstance(item, dict) or "sig" not in item:
        raise VerificationError(f"envelope signatures[{index}] must be an object with a 'sig' field.")
    keyid = item.get("keyid", "")
    if keyid is None:
        keyid = ""
    if not isinstance(keyid, str):
        raise VerificationError(f"envelope signatures[{index}].keyid must be a string.")
    sig = b64decode(item["sig"], f"signatures[{index}].sig")
    if not sig:
        raise VerificationError(f"envelope signatures[{index}].sig is empty.")
    return EnvelopeSignature(sig=sig, keyid=keyid)


def sign_envelope_with_result(signer: Signer, payload: bytes, payload_type: str) -> tuple[Envelope, SignResult]:
    """Sign ``payload`` as a DSSE envelope and also return how it was signed (for the bundle)."""
    result = signer.sign(pae(payload_type, payload))
    envelope = Envelope(payload_type, bytes(payload), (EnvelopeSignature(sig=result.signature, keyid=result.key_id),))
    return envelope, result


def sign_envelope(signer: Signer, payload: bytes, payload_type: str) -> Envelope:
    """Sign ``payload`` as a DSSE envelope whose signature's keyid is the signer's key id."""
    return sign_envelope_with_result(signer, payload, payload_type)[0]
