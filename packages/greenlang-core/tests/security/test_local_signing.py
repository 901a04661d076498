"""Local signing: every key type signs, and cryptography and openssl agree it verifies (cases S1, S3, S5)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from pydantic import SecretStr, ValidationError
from signing_crosscheck import EXPECTED_SCHEME, KEY_KINDS, openssl_verify, verify_independently

from greenlang.errors import InputError
from greenlang.security.algorithms import PrivateKey
from greenlang.security.keys import key_id, save_private_key
from greenlang.security.signing import LocalSigner, SigningConfig, SignResult
from greenlang.security.verify import verify_signature

FIXED = datetime(2026, 12, 31, 23, 0, 1, tzinfo=UTC)
_HASH: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_sign_and_verify_independently(
    tmp_path: Path, openssl: str, private_key: Callable[[str], PrivateKey], kind: str
) -> None:
    key = private_key(kind)
    signer = LocalSigner(key, key_ref="file:///k.pem", clock=lambda: FIXED)
    message = b"scope 1 emissions: 1234.5 tCO2e"
    result = signer.sign(message)
    verify_independently(kind, key.public_key(), message, result.signature)
    assert openssl_verify(openssl, kind, key.public_key(), message, result.signature, tmp_path)
    assert not openssl_verify(openssl, kind, key.public_key(), message + b"!", result.signature, tmp_path)
    assert verify_signature(key.public_key(), message, result.signature)
    assert result.key_id == key_id(key)
    assert (result.key_ref, result.provider, result.timestamp) == ("file:///k.pem", "local", FIXED)


@pytest.mark.parametrize("kind", ["ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "ecdsa-secp256k1"])
def test_ecdsa_signatures_are_der(private_key: Callable[[str], PrivateKey], kind: str) -> None:
    result = LocalSigner(private_key(kind), key_ref="k").sign(b"m")
    r, s = utils.decode_dss_signature(result.signature)
    assert utils.encode_dss_signature(r, s) == result.signature


@pytest.mark.parametrize("kind", ["rsa-pss-2048", "rsa-pss-3072", "rsa-pss-4096"])
def test_case_S3_rsa_pss_salt_is_digest_length_and_signature_is_modulus_size(
    private_key: Callable[[str], PrivateKey], kind: str
) -> None:
    key = private_key(kind)
    assert isinstance(key, rsa.RSAPrivateKey)
    hash_name, salt = EXPECTED_SCHEME[kind]
    assert hash_name is not None
    assert salt is not None
    signature = LocalSigner(key, key_ref="k").sign(b"m").signature
    assert len(signature) == key.key_size // 8
    public = key.public_key()
    wrong_salt = padding.PSS(mgf=padding.MGF1(_HASH[hash_name]()), salt_length=salt + 1)
    with pytest.raises(InvalidSignature):
        public.verify(signature, b"m", wrong_salt, _HASH[hash_name]())


def test_case_S3_pkcs1v15_when_the_key_asks_for_it(private_key: Callable[[str], PrivateKey]) -> None:
    key = private_key("rsa-pss-3072")
    assert isinstance(key, rsa.RSAPrivateKey)
    signer = LocalSigner(key, key_ref="k", algorithm="rsa-pkcs1v15-3072-sha384")
    result = signer.sign(b"report")
    assert result.algorithm == "rsa-pkcs1v15-3072-sha384"
    key.public_key().verify(result.signature, b"report", padding.PKCS1v15(), hashes.SHA384())
    assert verify_signature(key.public_key(), b"report", result.signature, "rsa-pkcs1v15-3072-sha384")
    assert not verify_signature(key.public_key(), b"report", result.signature)  # default PSS does not accept it


@pytest.mark.parametrize("kind", KEY_KINDS)
@pytest.mark.parametrize("size", [0, 4096, 4097, 10 * 1024 * 1024])
def test_case_S1_payload_sizes(private_key: Callable[[str], PrivateKey], kind: str, size: int) -> None:
    key = private_key(kind)
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert len(payload) == size
    signer = LocalSigner(key, key_ref="k")
    result = signer.sign(payload)
    verify_independently(kind, key.public_key(), payload, result.signature)
    assert verify_signature(key.public_key(), payload, result.signature)
    hash_name, _ = EXPECTED_SCHEME[kind]
    if hash_name is not None:
        digest = signer.algorithm.digest(payload)
        assert digest == hashlib.new(hash_name, payload).digest()
        assert len(digest) == {"sha256": 32, "sha384": 48, "sha512": 64}[hash_name]


@pytest.mark.parametrize("kind", ["ecdsa-p384", "rsa-pss-2048"])
def test_case_S1_a_digest_signed_elsewhere_verifies_over_the_payload(
    private_key: Callable[[str], PrivateKey], kind: str
) -> None:
    """What a KMS does: sign only the digest. Our verifier checks it against the whole payload."""
    key = private_key(kind)
    payload = b"x" * 4097
    hash_name, salt = EXPECTED_SCHEME[kind]
    assert hash_name is not None
    digest = hashlib.new(hash_name, payload).digest()
    prehashed = utils.Prehashed(_HASH[hash_name]())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(digest, ec.ECDSA(prehashed))
    else:
        assert isinstance(key, rsa.RSAPrivateKey)
        assert salt is not None
        signature = key.sign(digest, padding.PSS(mgf=padding.MGF1(_HASH[hash_name]()), salt_length=salt), prehashed)
    assert verify_signature(key.public_key(), payload, signature)


def test_case_S5_unfitting_algorithm_is_refused_before_signing(private_key: Callable[[str], PrivateKey]) -> None:
    with pytest.raises(InputError, match="algorithm 'ECDSA_SHA_256' does not fit a ecdsa-p521 key"):
        LocalSigner(private_key("ecdsa-p521"), key_ref="k", algorithm="ECDSA_SHA_256")
    signer = LocalSigner(private_key("ecdsa-p521"), key_ref="k", algorithm="ECDSA_SHA_512")
    assert signer.sign(b"m").algorithm == "ecdsa-p521-sha512"


def test_timestamp_is_utc_even_from_an_offset_clock(private_key: Callable[[str], PrivateKey]) -> None:
    plus_one = timezone(timedelta(hours=1))
    signer = LocalSigner(private_key("ed25519"), key_ref="k", clock=lambda: datetime(2027, 1, 1, 0, 0, tzinfo=plus_one))
    stamp = signer.sign(b"m").timestamp
    assert stamp == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert stamp.utcoffset() == timedelta(0)


def test_sign_async_gives_a_verifiable_result(private_key: Callable[[str], PrivateKey]) -> None:
    key = private_key("ecdsa-p256")
    result = asyncio.run(LocalSigner(key, key_ref="k").sign_async(b"async"))
    verify_independently("ecdsa-p256", key.public_key(), b"async", result.signature)


def test_from_file_sets_a_file_uri(tmp_path: Path) -> None:
    from greenlang.security.keys import generate_private_key

    path = save_private_key(generate_private_key("ed25519"), tmp_path / "my key.pem", passphrase="pw")
    signer = LocalSigner.from_file(path, "pw")
    assert signer.key_ref == "file://" + str(tmp_path).replace(" ", "%20") + "/my%20key.pem"
    assert signer.algorithm.name == "ed25519"


def test_reprs_hold_no_secrets(private_key: Callable[[str], PrivateKey]) -> None:
    signer = LocalSigner(private_key("ed25519"), key_ref="file:///k.pem")
    assert "PRIVATE" not in repr(signer)
    assert "file:///k.pem" in repr(signer)
    result = signer.sign(b"m")
    assert result.signature.hex() not in repr(result)
    config = SigningConfig(key_path="/k.pem", passphrase=SecretStr("hunter2"))
    assert "hunter2" not in repr(config)
    assert "hunter2" not in str(config.model_dump())


def test_sign_result_is_frozen(private_key: Callable[[str], PrivateKey]) -> None:
    result = LocalSigner(private_key("ed25519"), key_ref="k").sign(b"m")
    assert isinstance(result, SignResult)
    with pytest.raises(AttributeError):
        result.algorithm = "other"  # type: ignore[misc]


def test_signing_config_seed_usage_and_validation() -> None:
    config = SigningConfig(kms_key_id="awskms:///alias/reports", algorithm="ecdsa")
    assert (config.cache_ttl_seconds, config.max_retries) == (3600, 3)
    assert config.key_uri() == "awskms:///alias/reports"
    with pytest.raises(ValidationError, match="kms_keyid"):
        SigningConfig(kms_keyid="typo")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="max_retries"):
        SigningConfig(max_retries=-1)
    with pytest.raises(InputError, match="needs kms_key_id .* or key_path"):
        SigningConfig().key_uri()
