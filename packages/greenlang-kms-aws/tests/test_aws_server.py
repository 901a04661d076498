"""The test server signs as AWS KMS does: proven by local verification (cryptography, openssl), never its Verify."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from greenlang_kms_aws.testing import AwsKmsTestServer

MESSAGE = b"greenlang emissions record \x00\xff" * 9

HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
RSA_ALGORITHMS = [f"RSASSA_{scheme}_SHA_{bits}" for scheme in ("PSS", "PKCS1_V1_5") for bits in ("256", "384", "512")]
KEY_SPECS: dict[str, list[str]] = {
    "RSA_2048": RSA_ALGORITHMS,
    "RSA_3072": RSA_ALGORITHMS,
    "RSA_4096": RSA_ALGORITHMS,
    "ECC_NIST_P256": ["ECDSA_SHA_256"],
    "ECC_NIST_P384": ["ECDSA_SHA_384"],
    "ECC_NIST_P521": ["ECDSA_SHA_512"],
    "ECC_SECG_P256K1": ["ECDSA_SHA_256"],
}
CURVES = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
CASES = [(spec, algorithm) for spec, algorithms in KEY_SPECS.items() for algorithm in algorithms]
PSS_CASES = [case for case in CASES if "_PSS_" in case[1]]


def hash_of(algorithm: str) -> hashes.HashAlgorithm:
    return HASHES[algorithm.rsplit("_", 1)[1]]()


@pytest.fixture(scope="module")
def server() -> Iterator[AwsKmsTestServer]:
    with AwsKmsTestServer() as running:
        yield running


@pytest.fixture(scope="module")
def kms(server: AwsKmsTestServer) -> Any:
    return server.client()


@pytest.fixture(scope="module")
def keys(kms: Any) -> dict[str, str]:
    """One key per spec, created once: RSA 4096 generation is the slow part of this module."""
    return {spec: kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec=spec)["KeyMetadata"]["Arn"] for spec in KEY_SPECS}


def public_key(kms: Any, key_id: str) -> Any:
    return serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])


def sign(kms: Any, key_id: str, algorithm: str, message: bytes, message_type: str) -> bytes:
    response = kms.sign(KeyId=key_id, Message=message, MessageType=message_type, SigningAlgorithm=algorithm)
    assert response["SigningAlgorithm"] == algorithm
    assert response["KeyId"] == key_id
    signature: bytes = response["Signature"]
    return signature


def verify_locally(key: Any, algorithm: str, signature: bytes, data: bytes, chosen: Any) -> None:
    """Raise InvalidSignature unless `signature` is valid; PSS salt must be exactly the digest length."""
    digest = hash_of(algorithm)
    if isinstance(key, rsa.RSAPublicKey):
        pad: Any = (
            padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            if "_PSS_" in algorithm
            else padding.PKCS1v15()
        )
        key.verify(signature, data, pad, chosen)
    else:
        decode_dss_signature(signature)  # DER, or ValueError
        key.verify(signature, data, ec.ECDSA(chosen))


def pss_salt_length(key: rsa.RSAPublicKey, signature: bytes, digest: hashes.HashAlgorithm) -> int:
    """Recover the salt length from an RSA-PSS signature (RFC 8017 §9.1.2), independently of any library's check."""
    numbers = key.public_numbers()
    em_bits = key.key_size - 1
    em_len = (em_bits + 7) // 8
    em = pow(int.from_bytes(signature, "big"), numbers.e, numbers.n).to_bytes(em_len, "big")
    assert em[-1] == 0xBC
    h_len = digest.digest_size
    masked_db, seed = em[: em_len - h_len - 1], em[em_len - h_len - 1 : -1]
    blocks = (len(masked_db) + h_len - 1) // h_len
    mask = b"".join(hashlib.new(digest.name, seed + i.to_bytes(4, "big")).digest() for i in range(blocks))
    db = bytearray(a ^ b for a, b in zip(masked_db, mask, strict=False))
    db[0] &= 0xFF >> (8 * em_len - em_bits)
    separator = db.index(1)
    assert not any(db[:separator])
    return len(db) - separator - 1


def openssl_verifies(
    tmp_path: Path, key: Any, algorithm: str, signature: bytes, data: bytes, message_type: str, salt: str = "digest"
) -> bool:
    pem = tmp_path / "public.pem"
    pem.write_bytes(key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (tmp_path / "signature.bin").write_bytes(signature)
    (tmp_path / "data.bin").write_bytes(data)
    md = hash_of(algorithm).name
    options = []
    if "_PSS_" in algorithm:
        options = ["rsa_padding_mode:pss", f"rsa_pss_saltlen:{salt}", f"rsa_mgf1_md:{md}"]
    elif "_PKCS1_" in algorithm:
        options = ["rsa_padding_mode:pkcs1"]
    if message_type == "DIGEST":
        command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(pem), "-sigfile", "signature.bin"]
        command += ["-in", "data.bin", "-pkeyopt", f"digest:{md}"]
        command += [arg for option in options for arg in ("-pkeyopt", option)]
    else:
        command = ["openssl", "dgst", f"-{md}", "-verify", str(pem), "-signature", "signature.bin"]
        command += [arg for option in options for arg in ("-sigopt", option)] + ["data.bin"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    return result.returncode == 0


def error_code(info: pytest.ExceptionInfo[ClientError]) -> str:
    code: str = info.value.response["Error"]["Code"]
    return code


@pytest.mark.parametrize(("spec", "algorithm"), CASES)
def test_digest_and_raw_signatures_verify_locally(kms: Any, keys: dict[str, str], spec: str, algorithm: str) -> None:
    key = public_key(kms, keys[spec])
    digest = hash_of(algorithm)
    precomputed = hashlib.new(digest.name, MESSAGE).digest()

    digest_signature = sign(kms, keys[spec], algorithm, precomputed, "DIGEST")
    raw_signature = sign(kms, keys[spec], algorithm, MESSAGE, "RAW")

    verify_locally(key, algorithm, digest_signature, precomputed, Prehashed(digest))
    verify_locally(key, algorithm, digest_signature, MESSAGE, digest)
    verify_locally(key, algorithm, raw_signature, MESSAGE, digest)
    verify_locally(key, algorithm, raw_signature, precomputed, Prehashed(digest))
    with pytest.raises(InvalidSignature):
        verify_locally(key, algorithm, digest_signature, MESSAGE + b"!", digest)


@pytest.mark.parametrize(("spec", "algorithm"), CASES)
def test_openssl_verifies_signatures(kms: Any, keys: dict[str, str], tmp_path: Path, spec: str, algorithm: str) -> None:
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command-line tool is required for these tests; install it (apt-get install openssl).")
    key = public_key(kms, keys[spec])
    precomputed = hashlib.new(hash_of(algorithm).name, MESSAGE).digest()

    digest_signature = sign(kms, keys[spec], algorithm, precomputed, "DIGEST")
    raw_signature = sign(kms, keys[spec], algorithm, MESSAGE, "RAW")

    assert openssl_verifies(tmp_path, key, algorithm, digest_signature, precomputed, "DIGEST")
    assert openssl_verifies(tmp_path, key, algorithm, raw_signature, MESSAGE, "RAW")
    assert not openssl_verifies(tmp_path, key, algorithm, raw_signature, MESSAGE + b"!", "RAW")


@pytest.mark.parametrize("spec", ["RSA_2048", "ECC_NIST_P256"])
def test_digest_message_is_not_hashed_again(kms: Any, keys: dict[str, str], spec: str) -> None:
    algorithm = KEY_SPECS[spec][0]
    digest = hash_of(algorithm)
    precomputed = hashlib.new(digest.name, MESSAGE).digest()
    signature = sign(kms, keys[spec], algorithm, precomputed, "DIGEST")
    key = public_key(kms, keys[spec])

    verify_locally(key, algorithm, signature, MESSAGE, digest)
    with pytest.raises(InvalidSignature):  # what uncorrected moto signs: hash(digest)
        verify_locally(key, algorithm, signature, precomputed, digest)


@pytest.mark.parametrize(("spec", "algorithm"), PSS_CASES)
def test_pss_salt_length_equals_digest_length(
    kms: Any, keys: dict[str, str], tmp_path: Path, spec: str, algorithm: str
) -> None:
    key = public_key(kms, keys[spec])
    digest = hash_of(algorithm)
    signature = sign(kms, keys[spec], algorithm, MESSAGE, "RAW")

    assert pss_salt_length(key, signature, digest) == digest.digest_size
    max_salt = (key.key_size + 7) // 8 - digest.digest_size - 2
    assert max_salt != digest.digest_size
    assert not openssl_verifies(tmp_path, key, algorithm, signature, MESSAGE, "RAW", salt="max")
    with pytest.raises(InvalidSignature):
        key.verify(signature, MESSAGE, padding.PSS(mgf=padding.MGF1(digest), salt_length=max_salt), digest)


def test_disabled_key_is_refused(kms: Any) -> None:
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    precomputed = hashlib.sha256(MESSAGE).digest()
    signature = sign(kms, kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"], "ECDSA_SHA_256", precomputed, "DIGEST")
    kms.disable_key(KeyId=key_id)

    with pytest.raises(kms.exceptions.DisabledException):
        kms.sign(KeyId=key_id, Message=precomputed, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
    with pytest.raises(kms.exceptions.DisabledException):
        kms.verify(
            KeyId=key_id,
            Message=precomputed,
            MessageType="DIGEST",
            Signature=signature,
            SigningAlgorithm="ECDSA_SHA_256",
        )
    with pytest.raises(kms.exceptions.DisabledException):
        kms.get_public_key(KeyId=key_id)

    kms.enable_key(KeyId=key_id)
    assert kms.sign(KeyId=key_id, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256")["Signature"]


def test_key_pending_deletion_is_refused(kms: Any) -> None:
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)

    with pytest.raises(kms.exceptions.KMSInvalidStateException):
        kms.sign(KeyId=key_id, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256")


@pytest.mark.parametrize("spec", list(KEY_SPECS))
def test_get_public_key_describes_the_key(kms: Any, keys: dict[str, str], spec: str) -> None:
    response = kms.get_public_key(KeyId=keys[spec])

    assert response["KeySpec"] == spec
    assert response["KeyUsage"] == "SIGN_VERIFY"
    assert sorted(response["SigningAlgorithms"]) == sorted(KEY_SPECS[spec])
    assert response["KeyId"] == keys[spec]
    assert "EncryptionAlgorithms" not in response
    key = serialization.load_der_public_key(response["PublicKey"])
    if spec.startswith("RSA_"):
        assert isinstance(key, rsa.RSAPublicKey)
        assert key.key_size == int(spec.removeprefix("RSA_"))
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert isinstance(key.curve, CURVES[spec])


def test_get_public_key_accepts_an_alias(kms: Any, keys: dict[str, str]) -> None:
    kms.create_alias(AliasName="alias/greenlang/p384", TargetKeyId=keys["ECC_NIST_P384"])

    response = kms.get_public_key(KeyId="alias/greenlang/p384")

    assert response["KeyId"] == keys["ECC_NIST_P384"]
    assert response["KeySpec"] == "ECC_NIST_P384"


def test_digest_of_the_wrong_length_is_rejected(kms: Any, keys: dict[str, str]) -> None:
    with pytest.raises(ClientError) as info:
        kms.sign(
            KeyId=keys["ECC_NIST_P256"],
            Message=hashlib.sha384(MESSAGE).digest(),
            MessageType="DIGEST",
            SigningAlgorithm="ECDSA_SHA_256",
        )
    assert error_code(info) == "ValidationException"


def test_raw_message_over_4096_bytes_is_rejected(kms: Any, keys: dict[str, str]) -> None:
    with pytest.raises(ClientError) as info:
        kms.sign(KeyId=keys["ECC_NIST_P256"], Message=b"x" * 4097, SigningAlgorithm="ECDSA_SHA_256")
    assert error_code(info) == "ValidationException"
    assert kms.sign(KeyId=keys["ECC_NIST_P256"], Message=b"x" * 4096, SigningAlgorithm="ECDSA_SHA_256")["Signature"]


def test_server_verify_honours_digest(kms: Any, keys: dict[str, str]) -> None:
    """Secondary check only: the server's Verify agrees with the local proofs above."""
    precomputed = hashlib.sha512(MESSAGE).digest()
    signature = sign(kms, keys["RSA_3072"], "RSASSA_PSS_SHA_512", precomputed, "DIGEST")
    common = {"KeyId": keys["RSA_3072"], "SigningAlgorithm": "RSASSA_PSS_SHA_512", "Signature": signature}

    assert kms.verify(Message=precomputed, MessageType="DIGEST", **common)["SignatureValid"] is True
    assert kms.verify(Message=MESSAGE, MessageType="RAW", **common)["SignatureValid"] is True
    with pytest.raises(kms.exceptions.KMSInvalidSignatureException):
        kms.verify(Message=hashlib.sha512(b"other").digest(), MessageType="DIGEST", **common)


def test_endpoint_is_local_http(server: AwsKmsTestServer) -> None:
    assert server.endpoint_url.startswith("http://127.0.0.1:")
    assert server.client().meta.endpoint_url == server.endpoint_url
    assert server.client().meta.region_name == server.region


def test_patches_are_undone_on_stop() -> None:
    script = """
from moto.kms.models import KmsBackend
from moto.kms.responses import KmsResponse
from moto.kms.utils import RSAPrivateKey
from greenlang_kms_aws.testing import AwsKmsTestServer

before = (KmsResponse.sign, KmsBackend.sign, RSAPrivateKey._RSAPrivateKey__padding_and_hash_algorithm)
with AwsKmsTestServer():
    with AwsKmsTestServer() as inner:
        inner.client().list_keys()
    during = (KmsResponse.sign, KmsBackend.sign, RSAPrivateKey._RSAPrivateKey__padding_and_hash_algorithm)
    assert all(a is not b for a, b in zip(before, during)), "patches missing while a server runs"
after = (KmsResponse.sign, KmsBackend.sign, RSAPrivateKey._RSAPrivateKey__padding_and_hash_algorithm)
assert all(a is b for a, b in zip(before, after)), "patches left behind after stop"
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
