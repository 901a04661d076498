"""Signing files: statement, envelope and bundle on disk, and offline verification of the file."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from signing_crosscheck import EXPECTED_SCHEME, KEY_KINDS, verify_independently

from greenlang.errors import InputError, VerificationError
from greenlang.security.algorithms import PrivateKey
from greenlang.security.artifacts import Bundle, sign_artifact
from greenlang.security.dsse import sign_envelope
from greenlang.security.keyref import open_signer
from greenlang.security.keys import generate_private_key, key_id, save_private_key, save_public_key
from greenlang.security.signing import LocalSigner
from greenlang.security.verify import verify_artifact

SIGNED_AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _report(tmp_path: Path, content: bytes = b"site,tCO2e\nA,12.5\n") -> Path:
    path = tmp_path / "report.csv"
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_sign_and_verify_a_file(tmp_path: Path, private_key: Callable[[str], PrivateKey], kind: str) -> None:
    key = private_key(kind)
    report = _report(tmp_path)
    signer = LocalSigner(key, key_ref="file:///keys/k.pem", clock=lambda: SIGNED_AT)
    envelope_path, bundle_path = sign_artifact(report, signer, clock=lambda: SIGNED_AT)
    assert (envelope_path.name, bundle_path.name) == ("report.csv.dsse.json", "report.csv.bundle.json")
    public = save_public_key(key, tmp_path / "pub.pem")
    verified = verify_artifact(report, envelope_path, public)
    expected_sha = hashlib.sha256(b"site,tCO2e\nA,12.5\n").hexdigest()
    assert (verified.sha256, verified.subject_name, verified.envelope.key_id) == (
        expected_sha,
        "report.csv",
        key_id(key),
    )
    assert verified.signed_at == "2026-12-01T09:30:00.000000Z"
    document = json.loads(envelope_path.read_text())
    message = b"DSSEv1 28 application/vnd.in-toto+json %d %s" % (
        len(base64.b64decode(document["payload"])),
        base64.b64decode(document["payload"]),
    )
    verify_independently(kind, key.public_key(), message, base64.b64decode(document["signatures"][0]["sig"]))


def test_statement_and_bundle_contents(tmp_path: Path, private_key: Callable[[str], PrivateKey]) -> None:
    key = private_key("ecdsa-p256")
    report = _report(tmp_path)
    signer = LocalSigner(key, key_ref="file:///keys/k.pem", clock=lambda: SIGNED_AT)
    envelope_path, bundle_path = sign_artifact(report, signer, clock=lambda: SIGNED_AT)
    envelope = json.loads(envelope_path.read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement == {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "report.csv", "digest": {"sha256": hashlib.sha256(report.read_bytes()).hexdigest()}}],
        "predicateType": "https://greenlang.dev/attestations/signed-artifact/v1",
        "predicate": {"timestamp": "2026-12-01T09:30:00.000000Z"},
    }
    bundle = json.loads(bundle_path.read_text())
    assert bundle == {
        "version": 1,
        "algorithm": "ecdsa-p256-sha256",
        "key_ref": "file:///keys/k.pem",
        "key_id": key_id(key),
        "timestamp": "2026-12-01T09:30:00.000000Z",
        "provider": "local",
        "payloadType": "application/vnd.in-toto+json",
        "artifact": {"name": "report.csv", "sha256": hashlib.sha256(report.read_bytes()).hexdigest()},
        "envelope": "report.csv.dsse.json",
    }
    assert Bundle.from_file(bundle_path).key_id == key_id(key)


def test_file_modified_after_signing(tmp_path: Path, private_key: Callable[[str], PrivateKey]) -> None:
    key = private_key("ed25519")
    report = _report(tmp_path)
    envelope_path, _ = sign_artifact(report, LocalSigner(key, key_ref="k"))
    report.write_bytes(b"site,tCO2e\nA,1.0\n")
    with pytest.raises(VerificationError, match="the file changed after signing"):
        verify_artifact(report, envelope_path, key.public_key())


def test_large_file_is_streamed_and_verifies(tmp_path: Path, private_key: Callable[[str], PrivateKey]) -> None:
    key = private_key("ecdsa-p384")
    big = tmp_path / "big.bin"
    block = bytes(range(256)) * 4096
    with big.open("wb") as handle:
        for _ in range(11):  # 11 MiB
            handle.write(block)
    envelope_path, _ = sign_artifact(big, LocalSigner(key, key_ref="k"))
    verified = verify_artifact(big, envelope_path, key.public_key())
    assert verified.sha256 == hashlib.sha256(block * 11).hexdigest()


def test_out_dir(tmp_path: Path, private_key: Callable[[str], PrivateKey]) -> None:
    report = _report(tmp_path)
    out = tmp_path / "sigs"
    with pytest.raises(InputError, match="output directory .* does not exist"):
        sign_artifact(report, LocalSigner(private_key("ed25519"), key_ref="k"), out_dir=out)
    out.mkdir()
    envelope_path, bundle_path = sign_artifact(report, LocalSigner(private_key("ed25519"), key_ref="k"), out_dir=out)
    assert envelope_path.parent == out
    assert bundle_path.parent == out
    assert sorted(p.name for p in out.iterdir()) == ["report.csv.bundle.json", "report.csv.dsse.json"]


def test_signed_envelope_of_another_type_is_not_a_file_signature(
    tmp_path: Path, private_key: Callable[[str], PrivateKey]
) -> None:
    key = private_key("ed25519")
    report = _report(tmp_path)
    envelope = sign_envelope(LocalSigner(key, key_ref="k"), report.read_bytes(), "text/csv")
    path = tmp_path / "other.dsse.json"
    path.write_text(envelope.to_json())
    with pytest.raises(VerificationError, match="payloadType is 'text/csv'.*does not describe a file"):
        verify_artifact(report, path, key.public_key())


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "not JSON"),
        (b'{"_type": "https://in-toto.io/Statement/v0.1", "subject": []}', "not an in-toto statement"),
        (b'{"_type": "https://in-toto.io/Statement/v1", "subject": []}', "has no subject"),
        (
            b'{"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "x", "digest": {"md5": "00"}}]}',
            "no sha256",
        ),
    ],
)
def test_signed_but_malformed_statements(
    tmp_path: Path, private_key: Callable[[str], PrivateKey], payload: bytes, message: str
) -> None:
    key = private_key("ed25519")
    report = _report(tmp_path)
    path = tmp_path / "bad.dsse.json"
    path.write_text(sign_envelope(LocalSigner(key, key_ref="k"), payload, "application/vnd.in-toto+json").to_json())
    with pytest.raises(VerificationError, match=message):
        verify_artifact(report, path, key.public_key())


def test_untrusted_key_and_missing_files(tmp_path: Path, private_key: Callable[[str], PrivateKey]) -> None:
    report = _report(tmp_path)
    envelope_path, _ = sign_artifact(report, LocalSigner(private_key("ed25519"), key_ref="k"))
    with pytest.raises(VerificationError, match="untrusted key"):
        verify_artifact(report, envelope_path, generate_private_key("ed25519").public_key())
    with pytest.raises(InputError, match="envelope .* does not exist"):
        verify_artifact(report, tmp_path / "none.dsse.json", private_key("ed25519").public_key())
    with pytest.raises(InputError, match="does not exist; check the path"):
        sign_artifact(tmp_path / "missing.csv", LocalSigner(private_key("ed25519"), key_ref="k"))


def test_truncated_envelope_file(tmp_path: Path, private_key: Callable[[str], PrivateKey]) -> None:
    key = private_key("ecdsa-p256")
    report = _report(tmp_path)
    envelope_path, _ = sign_artifact(report, LocalSigner(key, key_ref="k"))
    full = envelope_path.read_bytes()
    for cut in (1, len(full) // 3, len(full) // 2, len(full) - 3):
        envelope_path.write_bytes(full[:cut])
        with pytest.raises(VerificationError, match="damaged or truncated|malformed|incomplete"):
            verify_artifact(report, envelope_path, key.public_key())


def test_rsa_pkcs1_artifact_verifies_with_the_bundle_hint(
    tmp_path: Path, private_key: Callable[[str], PrivateKey]
) -> None:
    key = private_key("rsa-pss-3072")
    report = _report(tmp_path)
    signer = LocalSigner(key, key_ref="k", algorithm="rsa-pkcs1v15-3072-sha256")
    envelope_path, bundle_path = sign_artifact(report, signer)
    hint = Bundle.from_file(bundle_path).algorithm
    assert hint == "rsa-pkcs1v15-3072-sha256"
    assert verify_artifact(report, envelope_path, key.public_key(), algorithm=hint).envelope.algorithm == hint
    with pytest.raises(VerificationError):
        verify_artifact(report, envelope_path, key.public_key())


def test_end_to_end_with_key_uri_and_openssl(tmp_path: Path, openssl: str) -> None:
    """The documented offline check: rebuild the PAE, then let openssl verify it."""
    key = generate_private_key("ecdsa-p256")
    key_path = save_private_key(key, tmp_path / "signing.pem", passphrase="pw")
    public = save_public_key(key, tmp_path / "signing.pub.pem")
    report = _report(tmp_path)
    envelope_path, _ = sign_artifact(report, open_signer(f"file://{key_path}", passphrase="pw"))
    envelope = json.loads(envelope_path.read_text())
    payload = base64.b64decode(envelope["payload"])
    kind_hash = EXPECTED_SCHEME["ecdsa-p256"][0]
    (tmp_path / "pae.bin").write_bytes(b"DSSEv1 28 application/vnd.in-toto+json %d %b" % (len(payload), payload))
    (tmp_path / "sig.der").write_bytes(base64.b64decode(envelope["signatures"][0]["sig"]))
    done = subprocess.run(
        [
            openssl,
            "dgst",
            f"-{kind_hash}",
            "-verify",
            str(public),
            "-signature",
            str(tmp_path / "sig.der"),
            str(tmp_path / "pae.bin"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert "Verified OK" in done.stdout
    assert json.loads(payload)["subject"][0]["digest"]["sha256"] == hashlib.sha256(report.read_bytes()).hexdigest()
