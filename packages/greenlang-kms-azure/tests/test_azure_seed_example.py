"""The seed's Azure Key Vault usage example runs against the local vault, and its signature verifies locally.

The example is the seed's text, unchanged. It follows the seed's AWS example in the same script, which defines
``config`` and ``data``; here they are defined the same way, with ``kms_key_id`` naming a key in the vault that
the example's ``AZURE_KEY_VAULT_URL`` points at. The example names the real hosts mykeyvault.vault.azure.net and
login.microsoftonline.com; only the environment differs from a real deployment: ``HTTPS_PROXY`` routes those
hosts to the local vault (which also serves the token endpoint), and ``REQUESTS_CA_BUNDLE`` trusts its
certificate. ``DefaultAzureCredential`` gets a real client-credentials token, and the SDK checks the vault's
challenge against the vault's domain as it does in production.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import pem_of
from greenlang_kms_azure.testing import LocalKeyVault, TunnelProxy

from greenlang.testing import verify_independently

VAULT_HOST = "mykeyvault.vault.azure.net"
LOGIN_HOST = "login.microsoftonline.com"
CLIENT_ID = "5d0c7a52-greenlang-seed-app"
CLIENT_SECRET = "seed-example-secret-7f3e-never-printed"

SETUP = """from greenlang.security.signing import ExternalKMSSigner, SigningConfig
import os

config = SigningConfig(kms_key_id="greenlang-signing", algorithm="ecdsa")
data = b"Important emissions report data"
"""

# The seed's "KMS Signing Usage" section, Azure part, copied verbatim.
EXAMPLE = """# Azure Key Vault Example
os.environ['GL_KMS_PROVIDER'] = 'azure'
os.environ['AZURE_KEY_VAULT_URL'] = 'https://mykeyvault.vault.azure.net'
os.environ['AZURE_TENANT_ID'] = 'tenant-id'

azure_signer = ExternalKMSSigner(config)
azure_result = azure_signer.sign(data)
"""

REPORT = """
print(f"Signature: {azure_result.signature.hex()}")
print(f"Algorithm: {azure_result.algorithm}")
print(f"Timestamp: {azure_result.timestamp}")
print(f"Key: {azure_result.key_ref}")
"""


@pytest.fixture(scope="module")
def seed_vault() -> Iterator[LocalKeyVault]:
    with LocalKeyVault(hostnames=[VAULT_HOST, LOGIN_HOST], tenant_id="tenant-id") as vault:
        vault.register_app("tenant-id", CLIENT_ID, CLIENT_SECRET)
        vault.create_key("greenlang-signing", "EC", curve="P-256")
        yield vault


def run_example(vault: LocalKeyVault, code: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``code`` in a fresh interpreter through a CONNECT proxy; returns the result and the hosts it asked for."""
    with TunnelProxy(vault.port) as proxy:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update(proxy.environment(vault.ca_path))
        env.update(AZURE_CLIENT_ID=CLIENT_ID, AZURE_CLIENT_SECRET=CLIENT_SECRET)
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=120, check=False
        )
        return result, set(proxy.hosts)


def test_the_seed_azure_example_signs_with_the_vault_key(seed_vault: LocalKeyVault, tmp_path: Path) -> None:
    started = datetime.now(UTC)
    result, hosts = run_example(seed_vault, SETUP + EXAMPLE + REPORT, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    version = seed_vault.kid("greenlang-signing").rsplit("/", 1)[1]
    assert lines["Key"] == f"azurekms://{VAULT_HOST}/keys/greenlang-signing/{version}"
    assert lines["Algorithm"] == "ecdsa-p256-sha256"
    assert started <= datetime.fromisoformat(lines["Timestamp"]) <= datetime.now(UTC)
    pem = pem_of(seed_vault.private_key("greenlang-signing"))
    signature = bytes.fromhex(lines["Signature"])
    assert verify_independently(pem, "ecdsa-p256-sha256", b"Important emissions report data", signature)
    assert hosts == {f"{VAULT_HOST}:443", f"{LOGIN_HOST}:443"}
    assert CLIENT_SECRET not in result.stdout + result.stderr


def test_the_seed_script_as_one_piece_names_the_key_id_to_change(seed_vault: LocalKeyVault, tmp_path: Path) -> None:
    """Run after the AWS part, the config still holds the AWS ARN: a clear error, not a guess and no traceback."""
    setup = SETUP.replace(
        '"greenlang-signing"', '"arn:aws:kms:us-west-2:123456789012:key/12345678-1234-1234-1234-123456789012"'
    )
    code = (
        setup
        + "from greenlang.errors import InputError\ntry:\n"
        + "".join(f"    {line}\n" for line in EXAMPLE.splitlines())
        + "except InputError as exc:\n    print(exc)\n"
    )
    result, _ = run_example(seed_vault, code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "is not a Key Vault key but the provider is azure" in result.stdout
    assert "AZURE_KEY_VAULT_URL" in result.stdout
