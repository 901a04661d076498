"""Every Key Vault key type signs through the real SDK clients, and each signature verifies locally (cases S3, S6)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from conftest import KEY_TYPES, create, pem_of
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from greenlang_kms_azure import AzureKeyVaultProvider
from greenlang_kms_azure.testing import LocalKeyVault

PAYLOAD = b"scope 1 emissions, Lyon site, 2026-Q3: 1,204.7 tCO2e"

# Core key type -> (the default algorithm for it, Key Vault's name for that algorithm), from the design table.
DEFAULTS = {
    "ecdsa-p256": ("ecdsa-p256-sha256", "ES256"),
    "ecdsa-p384": ("ecdsa-p384-sha384", "ES384"),
    "ecdsa-p521": ("ecdsa-p521-sha512", "ES512"),
    "ecdsa-secp256k1": ("ecdsa-secp256k1-sha256", "ES256K"),
    "rsa-2048": ("rsa-pss-2048-sha256", "PS256"),
    "rsa-3072": ("rsa-pss-3072-sha256", "PS256"),
    "rsa-4096": ("rsa-pss-4096-sha512", "PS512"),
}
RSA_ALGORITHMS = {
    "PS256": "rsa-pss-{bits}-sha256",
    "PS384": "rsa-pss-{bits}-sha384",
    "PS512": "rsa-pss-{bits}-sha512",
    "RS256": "rsa-pkcs1v15-{bits}-sha256",
    "RS384": "rsa-pkcs1v15-{bits}-sha384",
    "RS512": "rsa-pkcs1v15-{bits}-sha512",
}


@pytest.mark.parametrize("key_type", sorted(KEY_TYPES))
def test_every_key_type_signs_and_verifies_with_cryptography_and_openssl(
    key_type: str,
    vault: LocalKeyVault,
    typed_key: Callable[[str], str],
    open_key: Callable[..., AzureKeyVaultProvider],
    oracle_pem: Callable[..., bytes],
    verifies: Callable[[bytes, str, bytes, bytes], bool],
    openssl_verifies: Callable[[bytes, str, bytes, bytes], bool],
) -> None:
    name = typed_key(key_type)
    signer = open_key(name)
    result = signer.sign(PAYLOAD)
    algorithm, azure_name = DEFAULTS[key_type]
    assert result.algorithm == algorithm
    assert signer.algorithm.provider_id("azure") == azure_name
    pem = oracle_pem(name)
    assert signer.get_public_key() == pem
    assert verifies(pem, algorithm, PAYLOAD, result.signature)
    assert openssl_verifies(pem, algorithm, PAYLOAD, result.signature)
    assert not verifies(pem, algorithm, PAYLOAD + b".", result.signature)
    assert result.key_ref == f"azurekms://{vault.host}/keys/{name}/{vault.current_version(name)}"
    assert result.provider == "azure"


@pytest.mark.parametrize("azure_name", sorted(RSA_ALGORITHMS))
@pytest.mark.parametrize("bits", [2048, 3072, 4096])
def test_case_S3_every_rsa_algorithm_passes_through_unchanged(
    azure_name: str,
    bits: int,
    typed_key: Callable[[str], str],
    open_key: Callable[..., AzureKeyVaultProvider],
    vault: LocalKeyVault,
    verifies: Callable[[bytes, str, bytes, bytes], bool],
) -> None:
    name = typed_key(f"rsa-{bits}")
    algorithm = RSA_ALGORITHMS[azure_name].format(bits=bits)
    result = open_key(name, algorithm=azure_name).sign(PAYLOAD)
    assert result.algorithm == algorithm
    assert len(result.signature) == bits // 8
    private = vault.private_key(name)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert verifies(pem_of(private), algorithm, PAYLOAD, result.signature)
    if azure_name.startswith("RS"):  # PKCS#1 v1.5 is deterministic: the stored bytes are the vault's, unchanged
        hash_algorithm = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[azure_name[2:]]
        digest = hashlib.new(hash_algorithm.name, PAYLOAD).digest()
        assert result.signature == private.sign(digest, padding.PKCS1v15(), Prehashed(hash_algorithm))


@pytest.mark.parametrize("key_type", sorted(KEY_TYPES))
def test_case_S6_hsm_key_matches_its_software_twin(
    key_type: str,
    vault: LocalKeyVault,
    open_key: Callable[..., AzureKeyVaultProvider],
    verifies: Callable[[bytes, str, bytes, bytes], bool],
) -> None:
    software = f"twin-soft-{key_type}"
    hsm = f"twin-hsm-{key_type}"
    create(vault, key_type, software)
    vault.create_key(hsm, f"{KEY_TYPES[key_type][0]}-HSM", private_key=vault.private_key(software))
    soft_signer, hsm_signer = open_key(software), open_key(hsm)
    assert hsm_signer.get_public_key() == soft_signer.get_public_key()
    assert hsm_signer.algorithm == soft_signer.algorithm
    assert hsm_signer.key_info().spec.startswith(f"{KEY_TYPES[key_type][0]}-HSM ")
    assert soft_signer.key_info().spec.startswith(f"{KEY_TYPES[key_type][0]} ")
    result = hsm_signer.sign(PAYLOAD)
    assert verifies(soft_signer.get_public_key(), result.algorithm, PAYLOAD, result.signature)


@pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521"])
@pytest.mark.parametrize("which", ["r", "s"])
def test_case_S2_leading_zero_bytes_from_the_vault_survive(
    curve: str,
    which: str,
    vault: LocalKeyVault,
    open_key: Callable[..., AzureKeyVaultProvider],
    oracle_pem: Callable[..., bytes],
    verifies: Callable[[bytes, str, bytes, bytes], bool],
) -> None:
    name = f"zeros-{which}-{curve.lower()}"
    vault.create_key(name, "EC", curve=curve)
    vault.leading_zero = which
    result = open_key(name).sign(PAYLOAD)
    r, s = decode_dss_signature(result.signature)
    width = {"P-256": 32, "P-384": 48, "P-521": 66}[curve]
    value = r if which == "r" else s
    assert value < 256 ** (width - 1), "the vault's raw value began with a zero byte"
    assert verifies(oracle_pem(name), result.algorithm, PAYLOAD, result.signature)
