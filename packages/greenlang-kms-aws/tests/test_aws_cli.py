"""The `greenlang` CLI with an AWS KMS key: sign a report, export the key's public half, verify offline."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from greenlang_kms_aws.testing import AwsKmsTestServer

from greenlang.cli import main


def test_sign_export_and_verify_with_a_kms_key(
    server: AwsKmsTestServer,
    spec_key: Callable[[str], str],
    public_der: Callable[[str], bytes],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    arn = spec_key("ECC_NIST_P384")
    uri = f"awskms:///{arn}?endpoint={server.endpoint_url}"
    report = tmp_path / "report.csv"
    report.write_text("site,scope,tco2e\nlyon,1,1204.7\n")

    assert main(["--db", str(tmp_path / "g.db"), "sign", str(report), "--key", uri]) == 0
    bundle = json.loads((tmp_path / "report.csv.bundle.json").read_text())
    assert (bundle["provider"], bundle["algorithm"], bundle["key_ref"]) == (
        "aws",
        "ecdsa-p384-sha384",
        f"awskms:///{arn}",
    )

    capsys.readouterr()
    assert main(["keys", "pubkey", uri]) == 0
    pem = capsys.readouterr().out
    exported = serialization.load_pem_public_key(pem.encode())
    assert exported.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == public_der(arn)
    public = tmp_path / "kms.pub.pem"
    public.write_text(pem)

    envelope = tmp_path / "report.csv.dsse.json"
    dsse = json.loads(envelope.read_text())
    payload, payload_type = base64.b64decode(dsse["payload"]), dsse["payloadType"].encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)
    exported.verify(base64.b64decode(dsse["signatures"][0]["sig"]), pae, ec.ECDSA(hashes.SHA384()))  # type: ignore[union-attr,call-arg]
    assert main(["verify", str(report), "--signature", str(envelope), "--key", str(public)]) == 0
    report.write_text("site,scope,tco2e\nlyon,1,12.7\n")
    assert main(["verify", str(report), "--signature", str(envelope), "--key", str(public)]) == 1


def test_cli_reports_an_unusable_kms_key_in_one_line(
    server: AwsKmsTestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.csv"
    report.write_text("x\n")
    uri = f"awskms:///alias/does-not-exist?region={server.region}&endpoint={server.endpoint_url}"
    assert main(["--db", str(tmp_path / "g.db"), "sign", str(report), "--key", uri]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: key alias/does-not-exist was not found in region us-east-1")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert not (tmp_path / "report.csv.dsse.json").exists()
