"""The seed's GCP usage example runs against the local Cloud KMS, and its signature verifies locally.

The example is the seed's text, unchanged. It follows the seed's AWS example in the same script, which
defines ``config`` and ``data``; here ``config`` carries no key id, so the example's own ``GL_KMS_KEY_ID``
names the key. Only the environment differs from a real deployment: ``GL_KMS_ENDPOINT`` points the client
at the local KMS's plaintext gRPC port, as an emulator host would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from greenlang_kms_gcp.testing import LocalCloudKms

SEED_VERSION = "projects/my-project/locations/global/keyRings/my-ring/cryptoKeys/my-key/cryptoKeyVersions/1"

SETUP = """from greenlang.security.signing import ExternalKMSSigner, SigningConfig
import os

config = SigningConfig(algorithm="ecdsa")
data = b"Important emissions report data"
"""

# The seed's "KMS Signing Usage" section, GCP part, copied verbatim.
EXAMPLE = """# GCP Cloud KMS Example
os.environ['GL_KMS_PROVIDER'] = 'gcp'
os.environ['GL_KMS_KEY_ID'] = 'projects/my-project/locations/global/keyRings/my-ring/cryptoKeys/my-key/cryptoKeyVersions/1'

gcp_signer = ExternalKMSSigner(config)
gcp_result = gcp_signer.sign(data)
"""  # noqa: E501 - the seed's line, verbatim

REPORT = """
print(f"Signature: {gcp_result.signature.hex()}")
print(f"Algorithm: {gcp_result.algorithm}")
print(f"Timestamp: {gcp_result.timestamp}")
print(f"Key: {gcp_result.key_ref}")
"""


def test_the_seed_gcp_example_signs_with_the_named_version(
    cloud: LocalCloudKms,
    tmp_path: Path,
    oracle_pem: Callable[[str], bytes],
    verifies: Callable[[bytes, str, bytes, bytes], bool],
) -> None:
    key = cloud.create_key("my-key", "EC_SIGN_P256_SHA256", project="my-project", key_ring="my-ring", versions=2)
    assert f"{key}/cryptoKeyVersions/1" == SEED_VERSION
    env = dict(os.environ)
    env["GL_KMS_ENDPOINT"] = f"http://{cloud.grpc_target}"
    started = datetime.now(UTC)
    result = subprocess.run(
        [sys.executable, "-c", SETUP + EXAMPLE + REPORT],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert lines["Key"] == f"gcpkms://{SEED_VERSION}"  # version 1 as named, though 2 is newer
    assert lines["Algorithm"] == "ecdsa-p256-sha256"
    assert started <= datetime.fromisoformat(lines["Timestamp"]) <= datetime.now(UTC)
    signature = bytes.fromhex(lines["Signature"])
    assert verifies(oracle_pem(SEED_VERSION), "ecdsa-p256-sha256", b"Important emissions report data", signature)
    assert cloud.count("AsymmetricSign", transport="grpc") == 1
