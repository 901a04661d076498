"""A file signed by the local fallback key while the KMS is down: the bundle says so, and trust decides.

The bundle records ``fallback_for`` only when a fallback signed; a verifier that
trusts only the KMS key rejects such a file, one that trusts the fallback key
accepts it. Signatures are also checked by hand over the DSSE PAE.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from inprocess_kms import ALIAS_URI, FALLBACK_REF, KEY_A_REF, SIGNED_AT, InProcessProvider, fingerprint, verifies

from greenlang.errors import VerificationError
from greenlang.security.artifacts import Bundle, sign_artifact
from greenlang.security.signing import LocalSigner
from greenlang.security.verify import verify_artifact

PAYLOAD_TYPE = "application/vnd.in-toto+json"
CONTENT = b"site,scope,tCO2e\nRotterdam,1,812.4\n"


@pytest.fixture
def kms_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def local_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def provider(kms_key: ec.EllipticCurvePrivateKey, local_key: ec.EllipticCurvePrivateKey) -> InProcessProvider:
    fallback = LocalSigner(local_key, key_ref=FALLBACK_REF, clock=lambda: SIGNED_AT)
    return InProcessProvider(kms_key, offered=("ECDSA_SHA_256",), fallback=fallback, clock=lambda: SIGNED_AT)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.csv"
    path.write_bytes(CONTENT)
    return path


def _signed_message(envelope_path: Path) -> tuple[bytes, bytes, str]:
    """The PAE bytes, the signature and its keyid, read from the envelope by hand."""
    document = json.loads(envelope_path.read_text())
    body = base64.b64decode(document["payload"])
    message = b"DSSEv1 %d %s %d %s" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(body), body)
    (signature,) = document["signatures"]
    return message, base64.b64decode(signature["sig"]), signature["keyid"]


def test_fallback_bundle_records_what_it_stands_in_for(
    provider: InProcessProvider,
    report: Path,
    kms_key: ec.EllipticCurvePrivateKey,
    local_key: ec.EllipticCurvePrivateKey,
) -> None:
    provider.fault = "unavailable"
    envelope_path, bundle_path = sign_artifact(report, provider, clock=lambda: SIGNED_AT)
    assert json.loads(bundle_path.read_text()) == {
        "version": 1,
        "algorithm": "ecdsa-p256-sha256",
        "key_ref": FALLBACK_REF,
        "key_id": fingerprint(local_key),
        "timestamp": "2026-12-01T09:30:00.000000Z",
        "provider": "local",
        "fallback_for": ALIAS_URI,
        "payloadType": PAYLOAD_TYPE,
        "artifact": {"name": "report.csv", "sha256": hashlib.sha256(CONTENT).hexdigest()},
        "envelope": "report.csv.dsse.json",
    }
    assert Bundle.from_file(bundle_path).fallback_for == ALIAS_URI
    message, signature, keyid = _signed_message(envelope_path)
    assert keyid == fingerprint(local_key)
    assert verifies(local_key.public_key(), "ecdsa-p256-sha256", message, signature)
    assert not verifies(kms_key.public_key(), "ecdsa-p256-sha256", message, signature)


def test_kms_bundle_has_no_fallback_key(
    provider: InProcessProvider, report: Path, kms_key: ec.EllipticCurvePrivateKey
) -> None:
    envelope_path, bundle_path = sign_artifact(report, provider, clock=lambda: SIGNED_AT)
    document = json.loads(bundle_path.read_text())
    assert "fallback_for" not in document
    assert (document["key_ref"], document["key_id"], document["provider"]) == (KEY_A_REF, fingerprint(kms_key), "aws")
    assert Bundle.from_file(bundle_path).fallback_for is None
    message, signature, _ = _signed_message(envelope_path)
    assert verifies(kms_key.public_key(), "ecdsa-p256-sha256", message, signature)


def test_verifier_trusting_only_the_kms_key_rejects_the_fallback_file(
    provider: InProcessProvider,
    report: Path,
    kms_key: ec.EllipticCurvePrivateKey,
    local_key: ec.EllipticCurvePrivateKey,
) -> None:
    provider.fault = "unavailable"
    envelope_path, bundle_path = sign_artifact(report, provider, clock=lambda: SIGNED_AT)
    hint = Bundle.from_file(bundle_path).algorithm
    with pytest.raises(VerificationError, match="untrusted key"):
        verify_artifact(report, envelope_path, kms_key.public_key(), algorithm=hint)
    verified = verify_artifact(report, envelope_path, local_key.public_key(), algorithm=hint)
    assert verified.envelope.key_id == fingerprint(local_key)
    assert verified.sha256 == hashlib.sha256(CONTENT).hexdigest()
    both = verify_artifact(report, envelope_path, [kms_key.public_key(), local_key.public_key()])
    assert both.envelope.key_id == fingerprint(local_key)


def test_verifier_trusting_only_the_fallback_key_rejects_the_kms_file(
    provider: InProcessProvider,
    report: Path,
    kms_key: ec.EllipticCurvePrivateKey,
    local_key: ec.EllipticCurvePrivateKey,
) -> None:
    envelope_path, _ = sign_artifact(report, provider, clock=lambda: SIGNED_AT)
    with pytest.raises(VerificationError):
        verify_artifact(report, envelope_path, local_key.public_key())
    assert verify_artifact(report, envelope_path, kms_key.public_key()).envelope.key_id == fingerprint(kms_key)


def test_fallback_file_changed_after_signing_is_rejected(
    provider: InProcessProvider, report: Path, local_key: ec.EllipticCurvePrivateKey
) -> None:
    provider.fault = "unavailable"
    envelope_path, _ = sign_artifact(report, provider, clock=lambda: SIGNED_AT)
    report.write_bytes(CONTENT.replace(b"812.4", b"712.4"))
    with pytest.raises(VerificationError, match="changed after signing"):
        verify_artifact(report, envelope_path, local_key.public_key())
