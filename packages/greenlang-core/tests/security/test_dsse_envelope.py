"""DSSE envelopes: PAE per the spec, signing, parsing, and every way verification must fail."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from signing_crosscheck import KEY_KINDS, openssl_verify, verify_independently

from greenlang.errors import InputError, VerificationError
from greenlang.security.algorithms import PrivateKey
from greenlang.security.dsse import Envelope, EnvelopeSignature, pae, sign_envelope
from greenlang.security.keys import generate_private_key, key_id, public_key_pem
from greenlang.security.signing import LocalSigner
from greenlang.security.verify import verify_envelope

TYPE = "application/vnd.greenlang.report+json"
BODY = b'{"scope1": 1234.5}'


def test_pae_matches_the_spec_example() -> None:
    # "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body; the type has 29 bytes, "hello world" 11.
    assert len("http://example.com/HelloWorld") == 29
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_edge_cases_by_hand() -> None:
    assert pae("", b"") == b"DSSEv1 0  0 "
    assert pae("t\u00e9", b"\x00\xff") == b"DSSEv1 3 t\xc3\xa9 2 \x00\xff"  # lengths count UTF-8 bytes
    assert pae("a", b"x" * 1000).startswith(b"DSSEv1 1 a 1000 x")


def _signer(key: PrivateKey, algorithm: str | None = None) -> LocalSigner:
    return LocalSigner(key, key_ref="file:///test.pem", algorithm=algorithm)


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_envelope_signature_covers_pae(
    tmp_path: Path, openssl: str, private_key: Callable[[str], PrivateKey], kind: str
) -> None:
    key = private_key(kind)
    envelope = sign_envelope(_signer(key), BODY, TYPE)
    data = json.loads(envelope.to_json())
    assert set(data) == {"payloadType", "payload", "signatures"}
    assert data["payloadType"] == TYPE
    assert base64.b64decode(data["payload"], validate=True) == BODY
    assert data["signatures"][0]["keyid"] == key_id(key)
    signature = base64.b64decode(data["signatures"][0]["sig"], validate=True)
    message = b"DSSEv1 %d %s %d %s" % (len(TYPE), TYPE.encode(), len(BODY), BODY)
    verify_independently(kind, key.public_key(), message, signature)
    assert openssl_verify(openssl, kind, key.public_key(), message, signature, tmp_path)
    verified = verify_envelope(envelope.to_json(), public_key_pem(key))
    assert (verified.payload, verified.payload_type, verified.key_id) == (BODY, TYPE, key_id(key))


def test_envelope_written_by_another_tool_verifies(private_key: Callable[[str], PrivateKey]) -> None:
    """URL-safe base64 without padding and no keyid are allowed by the DSSE spec."""
    key = private_key("ecdsa-p256")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    body = b"\xfb\xff payload that base64-encodes with - and _"
    signature = key.sign(pae("x/y", body), ec.ECDSA(hashes.SHA256()))
    document = {
        "payload": base64.urlsafe_b64encode(body).decode().rstrip("="),
        "payloadType": "x/y",
        "signatures": [{"sig": base64.urlsafe_b64encode(signature).decode().rstrip("=")}],
    }
    assert verify_envelope(json.dumps(document), key.public_key()).payload == body


@pytest.fixture
def signed(private_key: Callable[[str], PrivateKey]) -> tuple[PrivateKey, dict[str, object]]:
    key = private_key("ecdsa-p256")
    return key, json.loads(sign_envelope(_signer(key), BODY, TYPE).to_json())


def test_tampered_payload_is_rejected(signed: tuple[PrivateKey, dict[str, object]]) -> None:
    key, document = signed
    document["payload"] = base64.b64encode(b'{"scope1": 1.0}').decode()
    with pytest.raises(VerificationError, match="payload or payloadType was changed after signing"):
        verify_envelope(json.dumps(document), key.public_key())


def test_changed_payload_type_is_rejected(signed: tuple[PrivateKey, dict[str, object]]) -> None:
    key, document = signed
    document["payloadType"] = "application/vnd.in-toto+json"
    with pytest.raises(VerificationError, match="payload or payloadType was changed after signing"):
        verify_envelope(json.dumps(document), key.public_key())


def test_untrusted_key_is_rejected(signed: tuple[PrivateKey, dict[str, object]]) -> None:
    _, document = signed
    other = generate_private_key("ecdsa-p256")
    with pytest.raises(VerificationError, match="signed by an untrusted key or altered"):
        verify_envelope(json.dumps(document), other.public_key())


def test_attacker_cannot_borrow_a_trusted_keyid(signed: tuple[PrivateKey, dict[str, object]]) -> None:
    key, _ = signed
    attacker = generate_private_key("ecdsa-p256")
    forged = sign_envelope(_signer(attacker), b"forged", TYPE)
    document = json.loads(forged.to_json())
    document["signatures"][0]["keyid"] = key_id(key)
    with pytest.raises(VerificationError, match="does not verify with the 1 trusted key"):
        verify_envelope(json.dumps(document), key.public_key())


def test_keyid_is_only_a_hint(signed: tuple[PrivateKey, dict[str, object]]) -> None:
    key, document = signed
    document["signatures"][0]["keyid"] = "not-the-key-id"  # type: ignore[index]
    assert verify_envelope(json.dumps(document), key.public_key()).key_id == key_id(key)


def test_junk_fields_are_ignored_and_never_supply_a_key(signed: tuple[PrivateKey, dict[str, object]]) -> None:
    key, document = signed
    attacker = generate_private_key("ecdsa-p256")
    document["publicKey"] = public_key_pem(attacker).decode()
    document["signatures"][0]["publicKey"] = public_key_pem(attacker).decode()  # type: ignore[index]
    document["junk"] = {"anything": [1, 2, 3]}
    assert verify_envelope(json.dumps(document), key.public_key()).payload == BODY
    forged = json.loads(sign_envelope(_signer(attacker), b"forged", TYPE).to_json())
    forged["publicKey"] = public_key_pem(attacker).decode()
    forged["signatures"][0]["cert"] = public_key_pem(attacker).decode()
    with pytest.raises(VerificationError):
        verify_envelope(json.dumps(forged), key.public_key())


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.33, 0.5, 0.75, 0.9, 0.99])
def test_truncated_envelope_is_a_verification_error(
    signed: tuple[PrivateKey, dict[str, object]], fraction: float
) -> None:
    key, document = signed
    text = json.dumps(document, indent=2)
    cut = text[: int(len(text) * fraction)]
    with pytest.raises(VerificationError) as info:
        verify_envelope(cut, key.public_key())
    assert "truncated" in str(info.value) or "malformed" in str(info.value) or "incomplete" in str(info.value)


def test_truncated_signature_value_is_rejected(signed: tuple[PrivateKey, dict[str, object]]) -> None:
    key, document = signed
    sig = document["signatures"][0]["sig"]  # type: ignore[index]
    for end in (4, 8, len(sig) - 4):
        document["signatures"][0]["sig"] = sig[:end]  # type: ignore[index]
        with pytest.raises(VerificationError):
            verify_envelope(json.dumps(document), key.public_key())


def test_no_signatures(signed: tuple[PrivateKey, dict[str, object]]) -> None:
    key, document = signed
    document["signatures"] = []
    with pytest.raises(VerificationError, match="envelope has no signatures; it was never signed"):
        verify_envelope(json.dumps(document), key.public_key())


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be a JSON object"),
        ({"payload": "", "signatures": []}, "no 'payloadType' field"),
        ({"payloadType": "t", "signatures": []}, "no 'payload' field"),
        ({"payloadType": "t", "payload": ""}, "no 'signatures' field"),
        ({"payloadType": 5, "payload": "", "signatures": []}, "payloadType must be a string"),
        ({"payloadType": "t", "payload": "a$b=", "signatures": []}, "payload is not valid base64"),
        ({"payloadType": "t", "payload": "a+b-", "signatures": []}, "mixes two base64 alphabets"),
        ({"payloadType": "t", "payload": 7, "signatures": []}, "payload must be a base64 string"),
        ({"payloadType": "t", "payload": "", "signatures": {}}, "signatures must be a list"),
        ({"payloadType": "t", "payload": "", "signatures": [{"keyid": "k"}]}, r"signatures\[0\] must be an object"),
        ({"payloadType": "t", "payload": "", "signatures": [{"sig": ""}]}, r"signatures\[0\]\.sig is empty"),
        ({"payloadType": "t", "payload": "", "signatures": [{"sig": "AA==", "keyid": 3}]}, "keyid must be a string"),
    ],
)
def test_malformed_envelopes(document: object, message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        Envelope.from_json(json.dumps(document))


def test_not_json_at_all() -> None:
    with pytest.raises(VerificationError, match="not valid JSON at byte 0; the file is damaged or truncated"):
        Envelope.from_json("")
    with pytest.raises(VerificationError, match="not valid JSON"):
        Envelope.from_json(b"\xff\xfe")


def test_trust_set_reports_which_key_verified(private_key: Callable[[str], PrivateKey]) -> None:
    keys = [generate_private_key("ed25519"), private_key("ecdsa-p384"), private_key("rsa-pss-2048")]
    envelope = sign_envelope(_signer(keys[1]), BODY, TYPE)
    trust = b"".join(public_key_pem(k) for k in keys)
    assert verify_envelope(envelope, trust).key_id == key_id(keys[1])


def test_one_good_signature_among_several(private_key: Callable[[str], PrivateKey]) -> None:
    trusted = private_key("ed25519")
    stranger = generate_private_key("ed25519")
    good = sign_envelope(_signer(trusted), BODY, TYPE)
    bad = sign_envelope(_signer(stranger), BODY, TYPE)
    both = Envelope(TYPE, BODY, bad.signatures + good.signatures)
    assert verify_envelope(both, trusted.public_key()).key_id == key_id(trusted)


def test_rsa_pkcs1_needs_the_hint_and_a_wrong_hint_falls_back(private_key: Callable[[str], PrivateKey]) -> None:
    key = private_key("rsa-pss-2048")
    assert isinstance(key, rsa.RSAPrivateKey)
    envelope = sign_envelope(_signer(key, "rsa-pkcs1v15-2048-sha256"), BODY, TYPE)
    key.public_key().verify(
        envelope.signatures[0].sig, pae(TYPE, BODY), padding.PKCS1v15(), hashes.SHA256()
    )  # raises if not PKCS#1 v1.5
    assert verify_envelope(envelope, key.public_key(), algorithm="rsa-pkcs1v15-2048-sha256").algorithm == (
        "rsa-pkcs1v15-2048-sha256"
    )
    with pytest.raises(VerificationError):
        verify_envelope(envelope, key.public_key())
    pss = sign_envelope(_signer(key), BODY, TYPE)
    for hint in ("ecdsa-p256-sha256", "rsa-pss-4096-sha512", "nonsense"):
        assert verify_envelope(pss, key.public_key(), algorithm=hint).algorithm == "rsa-pss-2048-sha256"


def test_ecdsa_key_ignores_an_rsa_hint(private_key: Callable[[str], PrivateKey]) -> None:
    key = private_key("ecdsa-p384")
    envelope = sign_envelope(_signer(key), BODY, TYPE)
    assert verify_envelope(envelope, key.public_key(), algorithm="rsa-pkcs1v15-2048-sha256").algorithm == (
        "ecdsa-p384-sha384"
    )


def test_no_trusted_keys_is_an_input_error(signed: tuple[PrivateKey, dict[str, object]]) -> None:
    _, document = signed
    with pytest.raises(InputError, match="no trusted public keys were given"):
        verify_envelope(json.dumps(document), [])


def test_envelope_round_trips_through_json(private_key: Callable[[str], PrivateKey]) -> None:
    envelope = sign_envelope(_signer(private_key("ed25519")), b"", "")
    assert Envelope.from_json(envelope.to_json()) == envelope
    assert Envelope.from_json(envelope.to_json(indent=None)) == envelope
    assert EnvelopeSignature(sig=b"\x01", keyid="k").to_dict() == {"keyid": "k", "sig": "AQ=="}
