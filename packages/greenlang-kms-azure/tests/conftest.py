"""Shared fixtures: one local Key Vault per session, one key per type, and verifiers independent of the provider.

Stable fixture names: ``azure_env`` (autouse: no Azure or GL_KMS settings from the machine), ``vault``,
``key_name``, ``typed_key``, ``open_key``, ``oracle_pem``, ``verifies``, ``openssl_verifies``.
Signatures are checked with ``cryptography`` or the ``openssl`` command against the public key the vault's
own key store holds, never with the provider's ``verify`` or the vault's Verify.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from greenlang_kms_azure import AzureKeyVaultProvider
from greenlang_kms_azure.testing import LocalKeyVault, clear_challenge_cache

from greenlang.testing import openssl_verifies as openssl_check
from greenlang.testing import require_openssl, verify_independently

CLEARED = (
    "AZURE_KEY_VAULT_URL",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_AUTHORITY_HOST",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "IDENTITY_ENDPOINT",
    "MSI_ENDPOINT",
    "HTTPS_PROXY",
    "https_proxy",
    "REQUESTS_CA_BUNDLE",
    "GL_KMS_PROVIDER",
    "GL_KMS_KEY_ID",
    "GL_KMS_REGION",
    "GL_KMS_ENDPOINT",
)

KEY_TYPES = {
    # key type name in the core table -> (Key Vault kty, curve or size)
    "ecdsa-p256": ("EC", "P-256"),
    "ecdsa-p384": ("EC", "P-384"),
    "ecdsa-p521": ("EC", "P-521"),
    "ecdsa-secp256k1": ("EC", "P-256K"),
    "rsa-2048": ("RSA", 2048),
    "rsa-3072": ("RSA", 3072),
    "rsa-4096": ("RSA", 4096),
}


@pytest.fixture(autouse=True)
def azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials, vault, proxy or KMS settings leak in from the machine; the challenge cache starts empty."""
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    clear_challenge_cache()


@pytest.fixture(scope="session")
def vault() -> Iterator[LocalKeyVault]:
    with LocalKeyVault() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_vault_faults(vault: LocalKeyVault) -> Iterator[None]:
    vault.reset()
    yield
    vault.reset()


def create(vault: LocalKeyVault, key_type: str, name: str, *, hsm: bool = False, **options: Any) -> str:
    """Create key ``name`` of core key type ``key_type`` (``ecdsa-p384``, ``rsa-3072``...); returns its version."""
    kty, shape = KEY_TYPES[key_type]
    kty = f"{kty}-HSM" if hsm else kty
    if kty.startswith("EC"):
        return vault.create_key(name, kty, curve=str(shape), **options)
    return vault.create_key(name, kty, size=int(shape), **options)


@pytest.fixture(scope="session")
def typed_key(vault: LocalKeyVault) -> Callable[[str], str]:
    """``typed_key("rsa-4096")`` -> the name of the session's one key of that type (RSA keygen is slow)."""
    made: dict[str, str] = {}

    def get(key_type: str) -> str:
        if key_type not in made:
            name = f"typed-{key_type}"
            create(vault, key_type, name)
            made[key_type] = name
        return made[key_type]

    return get


@pytest.fixture(scope="module")
def key_name(vault: LocalKeyVault, request: pytest.FixtureRequest) -> str:
    """A P-256 key of the module's own, for tests that only need some signing key."""
    name = "module-" + request.module.__name__.rsplit(".", 1)[-1].replace("_", "-")
    create(vault, "ecdsa-p256", name)
    return name


@pytest.fixture
def open_key(vault: LocalKeyVault) -> Callable[..., AzureKeyVaultProvider]:
    """``open_key(name | name/version | azurekms URI, **options)``: a provider on the local vault.

    It trusts the vault's certificate through ``connection_verify`` and authenticates with the
    vault's test credential; the challenge names vault.azure.net, which is not 127.0.0.1's domain,
    so ``verify_challenge_resource`` is off here (and only here).
    """

    def open_(ref: str, **options: Any) -> AzureKeyVaultProvider:
        uri = ref if ref.startswith("azurekms:") else f"azurekms://{vault.host}/keys/{ref}"
        options.setdefault("credential", vault.credential())
        options.setdefault("connection_verify", vault.ca_path)
        options.setdefault("verify_challenge_resource", False)
        return AzureKeyVaultProvider(uri, **options)

    return open_


def pem_of(key: Any) -> bytes:
    public = key.public_key() if hasattr(key, "private_bytes") else key
    return bytes(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


@pytest.fixture(scope="session")
def oracle_pem(vault: LocalKeyVault) -> Callable[..., bytes]:
    """``oracle_pem(name, version=None)``: the public half of the key the vault holds, from its key store."""

    def get(name: str, version: str | None = None) -> bytes:
        return pem_of(vault.private_key(name, version))

    return get


@pytest.fixture(scope="session")
def verifies() -> Callable[[bytes, str, bytes, bytes], bool]:
    """``verifies(PEM, algorithm name, payload, signature)`` with ``cryptography`` alone."""
    return verify_independently


@pytest.fixture
def openssl_verifies() -> Callable[[bytes, str, bytes, bytes], bool]:
    """``openssl_verifies(PEM, algorithm, payload, signature)`` via ``openssl dgst -verify``; CI=true needs it."""
    require_openssl()
    return openssl_check
