"""ECDSA signature encodings: raw ``r||s`` (IEEE P1363, what Azure returns) and DER (what we store).

Raw signatures have a fixed width, twice the curve's coordinate size, so a
value with leading zero bytes keeps them; DER drops them. Converting in
either direction checks the width and the range of ``r`` and ``s`` so a
malformed signature is refused here rather than handed to a verifier.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from greenlang.errors import InputError

__all__ = ["CURVE_ORDERS", "coordinate_size", "raw_to_der", "der_to_raw", "is_strict_der"]

CURVE_ORDERS: dict[str, int] = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16
    ),
    "secp521r1": int(
        "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
        16,
    ),
    "secp256k1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
}
"""The group order ``n`` of each supported curve; ``r`` and ``s`` must lie in ``[1, n-1]``."""


def coordinate_size(curve: ec.EllipticCurve) -> int:
    """Bytes per coordinate: 32 for P-256 and secp256k1, 48 for P-384, 66 for P-521."""
    return (curve.key_size + 7) // 8


def _order(curve: ec.EllipticCurve) -> int:
    try:
        return CURVE_ORDERS[curve.name]
    except KeyError:
        raise InputError(f"curve {curve.name} is not supported; use P-256, P-384, P-521 or secp256k1.") from None


def _check_range(r: int, s: int, curve: ec.EllipticCurve) -> None:
    order = _order(curve)
    if not (0 < r < order and 0 < s < order):
        raise InputError(f"ECDSA signature for {curve.name} has r or s outside [1, n-1]; the signature is malformed.")


def raw_to_der(raw: bytes, curve: ec.EllipticCurve) -> bytes:
    """DER ``SEQUENCE {r, s}`` from a fixed-width ``r||s``; wrong length or out-of-range values are refused."""
    size = coordinate_size(curve)
    if len(raw) != 2 * size:
        raise InputError(f"raw ECDSA signature for {curve.name} must be exactly {2 * size} bytes, got {len(raw)}.")
    r = int.from_bytes(raw[:size], "big")
    s = int.from_bytes(raw[size:], "big")
    _check_range(r, s, curve)
    return encode_dss_signature(r, s)


def der_to_raw(der: bytes, curve: ec.EllipticCurve) -> bytes:
    """Fixed-width ``r||s`` from DER, keeping leading zero bytes; non-canonical DER is refused."""
    try:
        r, s = decode_dss_signature(der)
    except ValueError:
        raise InputError(f"ECDSA signature for {curve.name} is not valid DER.") from None
    if encode_dss_signature(r, s) != der:
        raise InputError(f"ECDSA signature for {curve.name} is not canonical DER.")
    _check_range(r, s, curve)
    size = coordinate_size(curve)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def is_strict_der(der: bytes) -> bool:
    """True when ``der`` decodes to ``(r, s)`` and re-encodes to exactly the same bytes."""
    try:
        r, s = decode_dss_signature(der)
    except ValueError:
        return False
    return encode_dss_signature(r, s) == der
