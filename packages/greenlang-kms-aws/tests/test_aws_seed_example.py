"""The seed's AWS KMS usage example runs as written, against the test server, and its signature verifies locally.

Only the environment differs from a real deployment: ``AWS_ENDPOINT_URL_KMS`` (honoured by boto3 itself)
points at the test server, and the credentials are dummies.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from greenlang_kms_aws.testing import AwsKmsTestServer

SEED_ARN = "arn:aws:kms:us-west-2:123456789012:key/12345678-1234-1234-1234-123456789012"

# The seed's "KMS Signing Usage" section, AWS part, copied verbatim up to its three print lines.
EXAMPLE = """from greenlang.security.signing import ExternalKMSSigner, SigningConfig

# AWS KMS Example
import os
os.environ['GL_KMS_PROVIDER'] = 'aws'
os.environ['GL_KMS_REGION'] = 'us-west-2'
os.environ['GL_KMS_KEY_ID'] = 'arn:aws:kms:us-west-2:123456789012:key/12345678-1234-1234-1234-123456789012'

config = SigningConfig(
    kms_key_id=os.environ['GL_KMS_KEY_ID'],
    algorithm="ecdsa"
)

signer = ExternalKMSSigner(config)

# Sign data
data = b"Important emissions report data"
result = signer.sign(data)

print(f"Signature: {result.signature.hex()}")
print(f"Algorithm: {result.algorithm}")
print(f"Timestamp: {result.timestamp}")
"""


@pytest.fixture(scope="module")
def seed_key(server: AwsKmsTestServer) -> str:
    arn = server.create_key("ECC_NIST_P256", region="us-west-2", key_id="12345678-1234-1234-1234-123456789012")
    assert arn == SEED_ARN
    return arn


@pytest.fixture
def printed(server: AwsKmsTestServer, seed_key: str, tmp_path: Path) -> tuple[dict[str, str], datetime, datetime]:
    """Run the example in a fresh interpreter; returns what it printed and the time window it ran in."""
    env = dict(os.environ)  # the autouse aws_env fixture already holds dummy credentials and no profile
    env["AWS_ENDPOINT_URL_KMS"] = server.endpoint_url
    started = datetime.now(UTC)
    result = subprocess.run(
        [sys.executable, "-c", EXAMPLE], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False
    )
    finished = datetime.now(UTC)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert set(lines) == {"Signature", "Algorithm", "Timestamp"}, result.stdout
    return lines, started, finished


def test_the_seed_example_signature_verifies_against_the_seed_key(
    server: AwsKmsTestServer,
    seed_key: str,
    printed: tuple[dict[str, str], datetime, datetime],
    verifies: Callable[..., bool],
) -> None:
    lines, started, finished = printed
    der = server.client(region_name="us-west-2").get_public_key(KeyId=seed_key)["PublicKey"]
    oracle = server.private_key(seed_key).public_key()
    signature = bytes.fromhex(lines["Signature"])

    assert lines["Algorithm"] == "ecdsa-p256-sha256"
    assert verifies(der, lines["Algorithm"], b"Important emissions report data", signature)
    assert verifies(oracle, lines["Algorithm"], b"Important emissions report data", signature)
    assert not verifies(der, lines["Algorithm"], b"Important emissions report data!", signature)
    assert der == oracle.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    timestamp = datetime.fromisoformat(lines["Timestamp"])
    assert timestamp.utcoffset() == timedelta(0)
    assert started - timedelta(seconds=1) <= timestamp <= finished + timedelta(seconds=1)


def test_gl_kms_endpoint_points_the_seed_signer_at_another_endpoint(
    server: AwsKmsTestServer, seed_key: str, monkeypatch: pytest.MonkeyPatch, verifies: Callable[..., bool]
) -> None:
    from greenlang.security.signing import ExternalKMSSigner, SigningConfig

    monkeypatch.setenv("GL_KMS_ENDPOINT", server.endpoint_url)
    signer = ExternalKMSSigner(SigningConfig(kms_key_id=seed_key, algorithm="ecdsa"))
    result = signer.sign(b"Important emissions report data")
    der = server.client(region_name="us-west-2").get_public_key(KeyId=seed_key)["PublicKey"]
    assert verifies(der, result.algorithm, b"Important emissions report data", result.signature)
