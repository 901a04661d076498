"""The bundle's algorithm hint is unsigned: it may add a second try, never replace the key's own algorithm."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from greenlang.errors import VerificationError
from greenlang.security.algorithms import PrivateKey
from greenlang.security.artifacts import Bundle, sign_artifact
from greenlang.security.dsse import sign_envelope
from greenlang.security.signing import LocalSigner
from greenlang.security.verify import verify_artifact, verify_envelope


def _signed(tmp_path: Path, key: PrivateKey, algorithm: str | None = None) -> tuple[Path, Path, Path]:
    report = tmp_path / "report.csv"
    report.write_bytes(b"site,tCO2e\nA,12.5\n")
    envelope_path, bundle_path = sign_artifact(report, LocalSigner(key, key_ref="k", algorithm=algorithm))
    return report, envelope_path, bundle_path


def _edit_hint(bundle_path: Path, algorithm: str) -> str:
    data = json.loads(bundle_path.read_text())
    data["algorithm"] = algorithm
    bundle_path.write_text(json.dumps(data))
    return Bundle.from_file(bundle_path).algorithm


def test_genuine_pss_signature_verifies_when_the_bundle_hint_is_edited_to_pkcs1(
    tmp_path: Path, private_key: Callable[[str], PrivateKey]
) -> None:
    key = private_key("rsa-pss-3072")
    report, envelope_path, bundle_path = _signed(tmp_path, key)
    assert Bundle.from_file(bundle_path).algorithm == "rsa-pss-3072-sha256"
    hint = _edit_hint(bundle_path, "rsa-pkcs1v15-3072-sha256")
    assert hint == "rsa-pkcs1v15-3072-sha256"
    verified = verify_artifact(report, envelope_path, key.public_key(), algorithm=hint)
    assert verified.envelope.algorithm == "rsa-pss-3072-sha256"


@pytest.mark.parametrize("hint", ["rsa-pkcs1v15", "RS256", "rsa-pss-3072-sha512", "ecdsa-p256-sha256", "nonsense"])
def test_any_hint_leaves_the_default_algorithm_in_play(
    tmp_path: Path, private_key: Callable[[str], PrivateKey], hint: str
) -> None:
    key = private_key("rsa-pss-3072")
    report, envelope_path, _ = _signed(tmp_path, key)
    verified = verify_artifact(report, envelope_path, key.public_key(), algorithm=hint)
    assert verified.envelope.algorithm == "rsa-pss-3072-sha256"


def test_genuine_pkcs1_signature_verifies_with_its_correct_hint(
    tmp_path: Path, private_key: Callable[[str], PrivateKey]
) -> None:
    key = private_key("rsa-pss-3072")
    report, envelope_path, bundle_path = _signed(tmp_path, key, "rsa-pkcs1v15-3072-sha256")
    hint = Bundle.from_file(bundle_path).algorithm
    assert hint == "rsa-pkcs1v15-3072-sha256"
    verified = verify_artifact(report, envelope_path, key.public_key(), algorithm=hint)
    assert verified.envelope.algorithm == "rsa-pkcs1v15-3072-sha256"


def test_pkcs1_signature_without_a_fitting_hint_fails(tmp_path: Path, private_key: Callable[[str], PrivateKey]) -> None:
    key = private_key("rsa-pss-3072")
    report, envelope_path, _ = _signed(tmp_path, key, "rsa-pkcs1v15-3072-sha256")
    for hint in (None, "rsa-pss", "rsa-pkcs1v15-3072-sha512"):
        with pytest.raises(VerificationError, match="does not verify"):
            verify_artifact(report, envelope_path, key.public_key(), algorithm=hint)


def test_a_key_the_verifier_does_not_trust_still_fails_whatever_the_hint(
    tmp_path: Path, private_key: Callable[[str], PrivateKey]
) -> None:
    signer_key = private_key("rsa-pss-3072")
    other_key = private_key("rsa-pss-2048")
    report, envelope_path, bundle_path = _signed(tmp_path, signer_key)
    for hint in ("rsa-pkcs1v15-3072-sha256", "rsa-pkcs1v15-2048-sha256", "rsa-pss-2048-sha256"):
        with pytest.raises(VerificationError, match="untrusted key"):
            verify_artifact(report, envelope_path, other_key.public_key(), algorithm=_edit_hint(bundle_path, hint))


def test_a_changed_payload_still_fails_under_both_algorithms(private_key: Callable[[str], PrivateKey]) -> None:
    key = private_key("rsa-pss-3072")
    envelope = sign_envelope(LocalSigner(key, key_ref="k"), b'{"a":1}', "application/vnd.in-toto+json")
    tampered = json.loads(envelope.to_json())
    tampered["payload"] = "eyJhIjoyfQ=="  # base64 of {"a":2}
    with pytest.raises(VerificationError, match="payload or payloadType was changed"):
        verify_envelope(json.dumps(tampered), key.public_key(), algorithm="rsa-pkcs1v15-3072-sha256")
