"""ECDSA raw ``r||s`` <-> DER (case S2): fixed width, leading zeros kept, malformed input refused."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from greenlang.errors import InputError
from greenlang.security.encoding import CURVE_ORDERS, coordinate_size, der_to_raw, is_strict_der, raw_to_der
from greenlang.security.verify import verify_raw_ecdsa, verify_signature

CURVES: dict[str, tuple[ec.EllipticCurve, int, type[hashes.HashAlgorithm]]] = {
    # name -> (curve, coordinate size in bytes from the curve's bit length by hand, hash)
    "P-256": (ec.SECP256R1(), 32, hashes.SHA256),
    "P-384": (ec.SECP384R1(), 48, hashes.SHA384),
    "P-521": (ec.SECP521R1(), 66, hashes.SHA512),
}
OPENSSL_CURVE_NAMES = {
    "secp256r1": "prime256v1",
    "secp384r1": "secp384r1",
    "secp521r1": "secp521r1",
    "secp256k1": "secp256k1",
}


@pytest.mark.parametrize("name", CURVES)
def test_case_S2_coordinate_size(name: str) -> None:
    curve, size, _ = CURVES[name]
    assert coordinate_size(curve) == size


@pytest.mark.parametrize("curve_name", sorted(CURVE_ORDERS))
def test_curve_orders_match_openssl(openssl: str, curve_name: str) -> None:
    out = subprocess.run(
        [openssl, "ecparam", "-name", OPENSSL_CURVE_NAMES[curve_name], "-param_enc", "explicit", "-text", "-noout"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LC_ALL": "C"},
    ).stdout
    order_text = out.split("Order:")[1].split("Cofactor")[0]
    assert int("".join(order_text.split()).replace(":", ""), 16) == CURVE_ORDERS[curve_name]


def test_case_S2_der_of_small_values_by_hand() -> None:
    curve = ec.SECP256R1()
    raw = (1).to_bytes(32, "big") + (0x7F).to_bytes(32, "big")
    # SEQUENCE(6) { INTEGER(1) 01, INTEGER(1) 7f }
    assert raw_to_der(raw, curve) == bytes.fromhex("300602010102017f")
    # 0x80 needs a sign byte in DER: INTEGER(2) 00 80
    raw_high = (0x80).to_bytes(32, "big") + (2).to_bytes(32, "big")
    assert raw_to_der(raw_high, curve) == bytes.fromhex("30070202008002010" + "2")
    assert der_to_raw(bytes.fromhex("300602010102017f"), curve) == raw


def test_case_S2_p521_long_form_length_by_hand() -> None:
    curve = ec.SECP521R1()
    n_minus_1 = CURVE_ORDERS["secp521r1"] - 1
    value = n_minus_1.to_bytes(66, "big")
    assert value[0] == 0x01  # the top byte has no high bit, so DER adds no sign byte
    der = raw_to_der(value + value, curve)
    # content = 2 * (02 42 + 66 bytes) = 136 = 0x88 -> long form 81 88
    assert der == bytes.fromhex("308188") + (b"\x02\x42" + value) * 2
    assert der_to_raw(der, curve) == value + value


@pytest.mark.parametrize("name", CURVES)
@pytest.mark.parametrize("zero_bytes", [1, 2, 5])
def test_case_S2_leading_zero_bytes_survive(name: str, zero_bytes: int) -> None:
    curve, size, _ = CURVES[name]
    r = b"\x00" * zero_bytes + b"\x5a" * (size - zero_bytes)
    s = b"\x00" * (zero_bytes + 1) + b"\x33" * (size - zero_bytes - 1)
    der = raw_to_der(r + s, curve)
    back = der_to_raw(der, curve)
    assert len(back) == 2 * size
    assert back == r + s
    assert back[:zero_bytes] == b"\x00" * zero_bytes


@pytest.mark.parametrize("name", CURVES)
def test_case_S2_wrong_raw_length_is_refused(name: str) -> None:
    curve, size, _ = CURVES[name]
    for length in (0, 2 * size - 1, 2 * size + 1, size):
        with pytest.raises(InputError, match=f"must be exactly {2 * size} bytes, got {length}"):
            raw_to_der(b"\x01" * length, curve)


@pytest.mark.parametrize("name", CURVES)
def test_case_S2_out_of_range_values_are_refused(name: str) -> None:
    curve, size, _ = CURVES[name]
    order = CURVE_ORDERS[curve.name]
    one = (1).to_bytes(size, "big")
    for r, s in ((0, 1), (1, 0), (order, 1), (1, order), (2 ** (8 * size) - 1, 1)):
        raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        with pytest.raises(InputError, match=r"r or s outside \[1, n-1\]"):
            raw_to_der(raw, curve)
    assert der_to_raw(raw_to_der(one + (order - 1).to_bytes(size, "big"), curve), curve)[size:] == (order - 1).to_bytes(
        size, "big"
    )


def test_non_canonical_der_is_refused() -> None:
    curve = ec.SECP256R1()
    padded = bytes.fromhex("300702020001020101")  # INTEGER 00 01 has a needless leading zero
    assert not is_strict_der(padded)
    with pytest.raises(InputError, match="not (valid|canonical) DER"):
        der_to_raw(padded, curve)
    with pytest.raises(InputError, match="not valid DER"):
        der_to_raw(b"\x30\x03garbage", curve)
    assert not is_strict_der(bytes.fromhex("3006020101020101") + b"\x00")  # trailing byte


@pytest.mark.parametrize("name", ["P-256", "P-384", "P-521"])
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_case_S2_round_trip_is_lossless(name: str, data: st.DataObject) -> None:
    curve, size, _ = CURVES[name]
    order = CURVE_ORDERS[curve.name]
    r = data.draw(st.integers(min_value=1, max_value=order - 1))
    s = data.draw(st.integers(min_value=1, max_value=order - 1))
    raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    der = raw_to_der(raw, curve)
    assert der_to_raw(der, curve) == raw
    assert raw_to_der(der_to_raw(der, curve), curve) == der


@pytest.mark.parametrize("name", ["P-256", "P-384", "P-521"])
def test_case_S2_two_thousand_random_signatures_verify(name: str) -> None:
    curve, size, hash_type = CURVES[name]
    key = ec.generate_private_key(curve)
    public = key.public_key()
    started = time.perf_counter()
    leading_zero = 0
    failures = []
    for index in range(2000):
        message = index.to_bytes(4, "big")
        der = key.sign(message, ec.ECDSA(hash_type()))
        raw = der_to_raw(der, curve)
        assert len(raw) == 2 * size
        leading_zero += raw[0] == 0 or raw[size] == 0
        if raw_to_der(raw, curve) != der:
            failures.append((index, "round trip"))
        if not verify_raw_ecdsa(public, message, raw):
            failures.append((index, "raw verify"))
        if not verify_signature(public, message, raw_to_der(raw, curve)):
            failures.append((index, "der verify"))
    elapsed = time.perf_counter() - started
    assert failures == []
    assert leading_zero > 0, "no signature with a leading zero byte was exercised"
    print(f"{name}: 2000 signatures converted and verified in {elapsed:.2f}s")


def test_raw_verification_rejects_a_flipped_bit() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    raw = der_to_raw(key.sign(b"m", ec.ECDSA(hashes.SHA384())), ec.SECP384R1())
    assert verify_raw_ecdsa(key.public_key(), b"m", raw)
    flipped = bytes([raw[0] ^ 1]) + raw[1:]
    assert not verify_raw_ecdsa(key.public_key(), b"m", flipped)
    assert not verify_raw_ecdsa(key.public_key(), b"m", raw[:-1])
