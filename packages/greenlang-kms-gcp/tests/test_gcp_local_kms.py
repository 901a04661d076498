"""The local Cloud KMS against the real ``KeyManagementServiceClient``, over gRPC and over REST.

Every signature is verified here with ``cryptography`` (a few also with the ``openssl`` command) against the
server's private-key oracle, never against anything the server says about itself. Expected error classes
are written out per transport: the REST client picks its exception by HTTP status alone, so Google's
FAILED_PRECONDITION and INVALID_ARGUMENT (both HTTP 400) surface there as plain ``BadRequest``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import google_crc32c
import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from google.api_core import exceptions
from google.api_core import retry as retries
from google.cloud.kms_v1 import KeyManagementServiceClient
from greenlang_kms_gcp.testing import ALGORITHMS, LocalCloudKms

from greenlang.testing import openssl_verifies, require_openssl

MESSAGE = b"greenlang local Cloud KMS test message"
SIGNING_ALGORITHMS = [name for name, spec in ALGORITHMS.items() if spec.purpose == "ASYMMETRIC_SIGN"]
DIGEST_ALGORITHMS = [name for name in SIGNING_ALGORITHMS if name != "EC_SIGN_ED25519"]
HASHES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
CRYPTOGRAPHY_HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
RETRYABLE_BY_DEFAULT = ("UNAVAILABLE",)  # plus gRPC's DEADLINE_EXCEEDED; see test_deadline_exceeded_*

# gRPC status -> exception class the client raises, (over gRPC, over REST).
RAISED = {
    "FAILED_PRECONDITION": (exceptions.FailedPrecondition, exceptions.BadRequest),
    "INVALID_ARGUMENT": (exceptions.InvalidArgument, exceptions.BadRequest),
    "NOT_FOUND": (exceptions.NotFound, exceptions.NotFound),
    "ALREADY_EXISTS": (exceptions.AlreadyExists, exceptions.Conflict),
    "PERMISSION_DENIED": (exceptions.PermissionDenied, exceptions.Forbidden),
    "UNAVAILABLE": (exceptions.ServiceUnavailable, exceptions.ServiceUnavailable),
    "DEADLINE_EXCEEDED": (exceptions.DeadlineExceeded, exceptions.GatewayTimeout),
    "RESOURCE_EXHAUSTED": (exceptions.ResourceExhausted, exceptions.TooManyRequests),
    "INTERNAL": (exceptions.InternalServerError, exceptions.InternalServerError),
    "UNIMPLEMENTED": (exceptions.MethodNotImplemented, exceptions.MethodNotImplemented),
}
_ids = itertools.count(1)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def kms() -> Iterator[LocalCloudKms]:
    with pytest.MonkeyPatch.context() as env:
        for name in (
            "GOOGLE_API_USE_CLIENT_CERTIFICATE",
            "GOOGLE_API_USE_MTLS_ENDPOINT",
            "GOOGLE_CLOUD_UNIVERSE_DOMAIN",
        ):
            env.delenv(name, raising=False)
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        env.setenv("no_proxy", "127.0.0.1,localhost")
        with LocalCloudKms() as server:
            yield server


@pytest.fixture(autouse=True)
def clean(kms: LocalCloudKms) -> None:
    kms.reset()


@pytest.fixture(scope="module", params=["grpc", "rest"])
def client(request: pytest.FixtureRequest, kms: LocalCloudKms) -> Iterator[KeyManagementServiceClient]:
    built = kms.grpc_client() if request.param == "grpc" else kms.rest_client()
    yield built
    close(built)


@pytest.fixture(scope="module")
def shared_keys(kms: LocalCloudKms) -> dict[str, str]:
    """One two-version key per signing algorithm (never disabled), plus a symmetric key."""
    keys = {
        name: kms.create_key(f"shared-{name.lower().replace('_', '-')}", name, versions=2)
        for name in SIGNING_ALGORITHMS
    }
    keys["GOOGLE_SYMMETRIC_ENCRYPTION"] = kms.create_key(
        "shared-symmetric", "GOOGLE_SYMMETRIC_ENCRYPTION", purpose="ENCRYPT_DECRYPT"
    )
    return keys


@pytest.fixture
def new_key(kms: LocalCloudKms) -> Callable[..., str]:
    """A fresh key for tests that change versions' states."""

    def create(algorithm: str = "EC_SIGN_P256_SHA256", **options: Any) -> str:
        return kms.create_key(f"key-{next(_ids)}", algorithm, **options)

    return create


# ---------------------------------------------------------------- helpers


def kind(client: KeyManagementServiceClient) -> str:
    return str(client.transport.kind)


def expected_error(client: KeyManagementServiceClient, status: str) -> type[Exception]:
    grpc_class, rest_class = RAISED[status]
    return grpc_class if kind(client) == "grpc" else rest_class


def raises_exactly(client: KeyManagementServiceClient, status: str, call: Callable[[], Any]) -> Exception:
    wanted = expected_error(client, status)
    with pytest.raises(wanted) as caught:
        call()
    assert type(caught.value) is wanted, f"{kind(client)}: {status} raised {type(caught.value).__name__}"
    return caught.value


def fast_retry(*retried: type[Exception], timeout: float = 5.0) -> retries.Retry:
    return retries.Retry(
        predicate=retries.if_exception_type(*retried), initial=0.01, maximum=0.05, multiplier=1.5, timeout=timeout
    )


def close(client: KeyManagementServiceClient) -> None:
    client.transport.close()  # type: ignore[no-untyped-call]


def crc(data: bytes) -> int:
    return int(google_crc32c.value(data))


def version(key: str, number: int) -> str:
    return f"{key}/cryptoKeyVersions/{number}"


def digest_field(algorithm: str) -> str:
    digest = ALGORITHMS[algorithm].digest
    assert digest is not None
    return digest


def verify(kms: LocalCloudKms, name: str, algorithm: str, signature: bytes, message: bytes = MESSAGE) -> None:
    """Raise InvalidSignature unless ``signature`` is ``algorithm``'s signature of ``message`` by ``name``."""
    public_key = kms.private_key(name).public_key()
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        public_key.verify(signature, message)
        return
    chosen = CRYPTOGRAPHY_HASHES[digest_field(algorithm)]
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        decode_dss_signature(signature)  # DER, or this raises
        public_key.verify(signature, message, ec.ECDSA(chosen))
    elif isinstance(public_key, rsa.RSAPublicKey) and "_PSS_" in algorithm:
        pss = padding.PSS(mgf=padding.MGF1(chosen), salt_length=chosen.digest_size)
        public_key.verify(signature, message, pss, chosen)
    elif isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, message, padding.PKCS1v15(), chosen)
    else:
        raise AssertionError(f"unexpected key type {type(public_key).__name__}")


def sign_digest(client: KeyManagementServiceClient, name: str, algorithm: str, **call_options: Any) -> Any:
    """AsymmetricSign of MESSAGE's digest, with its CRC32C; ``call_options`` are ``retry``, ``timeout``..."""
    field = digest_field(algorithm)
    digest = HASHES[field](MESSAGE).digest()
    request = {"name": name, "digest": {field: digest}, "digest_crc32c": crc(digest)}
    return client.asymmetric_sign(request=request, **call_options)


def wait_until(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# ---------------------------------------------------------------- public keys and signing


def test_google_crc32c_is_the_castagnoli_checksum() -> None:
    assert crc(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720, appendix B.4)


@pytest.mark.parametrize("algorithm", SIGNING_ALGORITHMS)
def test_get_public_key_returns_the_oracle_key_with_its_crc(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str], algorithm: str
) -> None:
    name = version(shared_keys[algorithm], 2)
    answer = client.get_public_key(name=name)
    oracle = kms.private_key(name).public_key()
    expected_pem = oracle.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert answer.pem.encode() == expected_pem
    assert answer.pem_crc32c == crc(answer.pem.encode())
    assert answer.name == name
    assert answer.algorithm.name == algorithm
    assert answer.protection_level.name == "SOFTWARE"
    assert serialization.load_pem_public_key(answer.pem.encode()) == oracle


@pytest.mark.parametrize("algorithm", DIGEST_ALGORITHMS)
def test_sign_digest_verifies_and_carries_integrity_fields(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str], algorithm: str
) -> None:
    name = version(shared_keys[algorithm], 1)
    answer = sign_digest(client, name, algorithm)
    verify(kms, name, algorithm, answer.signature)
    assert answer.signature_crc32c == crc(answer.signature)
    assert answer.verified_digest_crc32c is True
    assert answer.verified_data_crc32c is False
    assert answer.name == name
    assert answer.protection_level.name == "SOFTWARE"


def test_signatures_are_by_the_named_version(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str]
) -> None:
    key = shared_keys["EC_SIGN_P256_SHA256"]
    answer = sign_digest(client, version(key, 2), "EC_SIGN_P256_SHA256")
    verify(kms, version(key, 2), "EC_SIGN_P256_SHA256", answer.signature)
    with pytest.raises(InvalidSignature):
        verify(kms, version(key, 1), "EC_SIGN_P256_SHA256", answer.signature)


def test_ed25519_signs_the_data_itself(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str]
) -> None:
    name = version(shared_keys["EC_SIGN_ED25519"], 1)
    answer = client.asymmetric_sign(request={"name": name, "data": MESSAGE, "data_crc32c": crc(MESSAGE)})
    verify(kms, name, "EC_SIGN_ED25519", answer.signature)
    assert len(answer.signature) == 64
    assert answer.signature_crc32c == crc(answer.signature)
    assert (answer.verified_data_crc32c, answer.verified_digest_crc32c) == (True, False)


@pytest.mark.parametrize("algorithm", ["EC_SIGN_P384_SHA384", "RSA_SIGN_PSS_2048_SHA256", "RSA_SIGN_PKCS1_4096_SHA512"])
def test_data_is_hashed_by_the_server_for_digest_algorithms(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str], algorithm: str
) -> None:
    name = version(shared_keys[algorithm], 1)
    answer = client.asymmetric_sign(request={"name": name, "data": MESSAGE})
    verify(kms, name, algorithm, answer.signature)
    assert (answer.verified_data_crc32c, answer.verified_digest_crc32c) == (False, False)


def test_without_checksums_nothing_is_verified(client: KeyManagementServiceClient, shared_keys: dict[str, str]) -> None:
    name = version(shared_keys["EC_SIGN_P256_SHA256"], 1)
    answer = client.asymmetric_sign(request={"name": name, "digest": {"sha256": hashlib.sha256(MESSAGE).digest()}})
    assert (answer.verified_digest_crc32c, answer.verified_data_crc32c) == (False, False)
    assert answer.signature_crc32c == crc(answer.signature)


@pytest.mark.parametrize(
    ("algorithm", "label"),
    [("EC_SIGN_P256_SHA256", "ecdsa-p256-sha256"), ("RSA_SIGN_PSS_3072_SHA256", "rsa-pss-3072-sha256"),
     ("RSA_SIGN_PKCS1_2048_SHA256", "rsa-pkcs1-2048-sha256"), ("RSA_SIGN_PSS_4096_SHA512", "rsa-pss-4096-sha512")],
)  # fmt: skip
def test_openssl_accepts_the_signatures(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str], algorithm: str, label: str
) -> None:
    require_openssl()
    name = version(shared_keys[algorithm], 1)
    answer = sign_digest(client, name, algorithm)
    pem = client.get_public_key(name=name).pem.encode()
    assert openssl_verifies(pem, label, MESSAGE, answer.signature)
    assert not openssl_verifies(pem, label, MESSAGE + b"!", answer.signature)


def test_rsa_material_is_shared_per_size_unless_fresh(kms: LocalCloudKms, new_key: Callable[..., str]) -> None:
    shared_a = kms.private_key(version(new_key("RSA_SIGN_PSS_2048_SHA256"), 1))
    shared_b = kms.private_key(version(new_key("RSA_SIGN_PKCS1_2048_SHA256"), 1))
    fresh = kms.private_key(version(new_key("RSA_SIGN_PSS_2048_SHA256", fresh=True), 1))
    assert isinstance(shared_a, rsa.RSAPrivateKey)
    assert isinstance(fresh, rsa.RSAPrivateKey)
    assert shared_a.public_key() == shared_b.public_key()
    assert fresh.public_key() != shared_a.public_key()
    assert fresh.key_size == 2048


# ---------------------------------------------------------------- refused requests


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"digest": {"sha256": hashlib.sha256(MESSAGE).digest()}, "digest_crc32c": 1}, "checksum"),
        ({"data": MESSAGE, "data_crc32c": crc(MESSAGE) ^ 1}, "checksum"),
        ({"digest": {"sha384": hashlib.sha384(MESSAGE).digest()}}, "sha384"),
        ({"digest": {"sha256": hashlib.sha256(MESSAGE).digest()[:31]}}, "32 bytes"),
        ({"digest": {"sha256": hashlib.sha256(MESSAGE).digest()}, "data": MESSAGE}, "Only one"),
        ({}, "must be set"),
    ],
    ids=["digest-crc", "data-crc", "digest-type", "digest-length", "digest-and-data", "neither"],
)
def test_bad_sign_requests_are_invalid_argument(
    client: KeyManagementServiceClient,
    kms: LocalCloudKms,
    shared_keys: dict[str, str],
    fields: dict[str, Any],
    fragment: str,
) -> None:
    name = version(shared_keys["EC_SIGN_P256_SHA256"], 1)
    error = raises_exactly(client, "INVALID_ARGUMENT", lambda: client.asymmetric_sign(request={"name": name, **fields}))
    assert fragment in str(error)
    assert [(call.method, call.name, call.code) for call in kms.calls] == [("AsymmetricSign", name, "INVALID_ARGUMENT")]


def test_ed25519_refuses_a_digest(client: KeyManagementServiceClient, shared_keys: dict[str, str]) -> None:
    name = version(shared_keys["EC_SIGN_ED25519"], 1)
    request = {"name": name, "digest": {"sha256": hashlib.sha256(MESSAGE).digest()}}
    error = raises_exactly(client, "INVALID_ARGUMENT", lambda: client.asymmetric_sign(request=request))
    assert "set the data field" in str(error)


@pytest.mark.parametrize("state", ["DISABLED", "DESTROY_SCHEDULED", "DESTROYED"])
def test_unusable_versions_fail_precondition(
    client: KeyManagementServiceClient, kms: LocalCloudKms, new_key: Callable[..., str], state: str
) -> None:
    name = version(new_key(versions=2), 1)
    kms.set_state(name, state)
    wording = f"{name} is not enabled, current state is: {state}."
    error = raises_exactly(client, "FAILED_PRECONDITION", lambda: sign_digest(client, name, "EC_SIGN_P256_SHA256"))
    assert wording in str(error)
    error = raises_exactly(client, "FAILED_PRECONDITION", lambda: client.get_public_key(name=name))
    assert wording in str(error)
    assert client.get_crypto_key_version(name=name).state.name == state
    sibling = sign_digest(client, version(name.rsplit("/", 2)[0], 2), "EC_SIGN_P256_SHA256")
    assert sibling.name.endswith("/cryptoKeyVersions/2")


def test_a_reenabled_version_signs_again(
    client: KeyManagementServiceClient, kms: LocalCloudKms, new_key: Callable[..., str]
) -> None:
    name = version(new_key(), 1)
    kms.set_state(name, "DISABLED")
    raises_exactly(client, "FAILED_PRECONDITION", lambda: sign_digest(client, name, "EC_SIGN_P256_SHA256"))
    kms.set_state(name, "ENABLED")
    verify(kms, name, "EC_SIGN_P256_SHA256", sign_digest(client, name, "EC_SIGN_P256_SHA256").signature)


@pytest.mark.parametrize(
    "name",
    [
        "projects/greenlang-test/locations/global/keyRings/ring/cryptoKeys/shared-ec-sign-p256-sha256/cryptoKeyVersions/3",
        "projects/greenlang-test/locations/global/keyRings/ring/cryptoKeys/missing/cryptoKeyVersions/1",
        "projects/greenlang-test/locations/global/keyRings/ring/cryptoKeys/shared-ec-sign-p256-sha256/cryptoKeyVersions/01",
    ],
    ids=["version", "key", "leading-zero"],
)
def test_unknown_versions_are_not_found(
    client: KeyManagementServiceClient, shared_keys: dict[str, str], name: str
) -> None:
    error = raises_exactly(client, "NOT_FOUND", lambda: sign_digest(client, name, "EC_SIGN_P256_SHA256"))
    assert f"{name} not found." in str(error)
    raises_exactly(client, "NOT_FOUND", lambda: client.get_public_key(name=name))
    raises_exactly(client, "NOT_FOUND", lambda: client.get_crypto_key_version(name=name))


def test_a_symmetric_key_cannot_sign_or_give_a_public_key(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str]
) -> None:
    key = shared_keys["GOOGLE_SYMMETRIC_ENCRYPTION"]
    name = version(key, 1)
    wording = f"Operation requested for Key {name} has incorrect key purpose: ENCRYPT_DECRYPT"
    error = raises_exactly(client, "FAILED_PRECONDITION", lambda: sign_digest(client, name, "EC_SIGN_P256_SHA256"))
    assert wording in str(error)
    error = raises_exactly(client, "FAILED_PRECONDITION", lambda: client.get_public_key(name=name))
    assert wording in str(error)
    described = client.get_crypto_key(name=key)
    assert described.purpose.name == "ENCRYPT_DECRYPT"
    assert described.primary.name == name
    with pytest.raises(ValueError, match="no private key"):
        kms.private_key(name)


def test_unimplemented_methods_answer_unimplemented_and_are_logged(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str]
) -> None:
    key = shared_keys["GOOGLE_SYMMETRIC_ENCRYPTION"]
    raises_exactly(client, "UNIMPLEMENTED", lambda: client.encrypt(name=key, plaintext=b"x"))
    assert [(call.method, call.code, call.transport) for call in kms.calls] == [
        ("Encrypt", "UNIMPLEMENTED", kind(client))
    ]


# ---------------------------------------------------------------- keys and versions


def test_get_crypto_key_describes_an_asymmetric_key(
    client: KeyManagementServiceClient, shared_keys: dict[str, str]
) -> None:
    key = shared_keys["RSA_SIGN_PSS_4096_SHA512"]
    described = client.get_crypto_key(name=key)
    assert described.name == key
    assert described.purpose.name == "ASYMMETRIC_SIGN"
    assert described.version_template.algorithm.name == "RSA_SIGN_PSS_4096_SHA512"
    assert described.version_template.protection_level.name == "SOFTWARE"
    assert "primary" not in described  # Cloud KMS sets no primary on asymmetric keys


def test_version_numbers_go_past_nine_and_list_in_numeric_order(
    client: KeyManagementServiceClient, kms: LocalCloudKms, new_key: Callable[..., str]
) -> None:
    key = new_key(versions=9)
    assert kms.add_version(key) == version(key, 10)
    assert kms.add_version(key) == version(key, 11)
    pager = client.list_crypto_key_versions(request={"parent": key, "page_size": 4})
    pages = list(pager.pages)
    assert [len(page.crypto_key_versions) for page in pages] == [4, 4, 3]
    assert pages[0].total_size == 11
    listed = [listed.name for page in pages for listed in page.crypto_key_versions]
    assert listed == [version(key, number) for number in range(1, 12)]
    assert kms.count("ListCryptoKeyVersions") == 3
    tenth = client.get_crypto_key_version(name=version(key, 10))
    assert (tenth.name, tenth.state.name, tenth.algorithm.name) == (version(key, 10), "ENABLED", "EC_SIGN_P256_SHA256")
    verify(
        kms,
        version(key, 10),
        "EC_SIGN_P256_SHA256",
        sign_digest(client, version(key, 10), "EC_SIGN_P256_SHA256").signature,
    )


def test_list_filters_by_state(
    client: KeyManagementServiceClient, kms: LocalCloudKms, new_key: Callable[..., str]
) -> None:
    key = new_key(versions=3)
    kms.set_state(version(key, 2), "DISABLED")
    enabled = [
        item.name for item in client.list_crypto_key_versions(request={"parent": key, "filter": "state=ENABLED"})
    ]
    assert enabled == [version(key, 1), version(key, 3)]
    raises_exactly(
        client,
        "INVALID_ARGUMENT",
        lambda: list(client.list_crypto_key_versions(request={"parent": key, "filter": "x>1"})),
    )


def test_keys_and_versions_can_be_managed_through_the_api(
    client: KeyManagementServiceClient, kms: LocalCloudKms
) -> None:
    ring = "projects/greenlang-test/locations/us-east1/keyRings/api"
    key_id = f"made-{kind(client)}"
    request = {
        "parent": ring,
        "crypto_key_id": key_id,
        "crypto_key": {"purpose": "ASYMMETRIC_SIGN", "version_template": {"algorithm": "EC_SIGN_P384_SHA384"}},
    }
    created = client.create_crypto_key(request=request)
    key = f"{ring}/cryptoKeys/{key_id}"
    assert (created.name, created.version_template.algorithm.name) == (key, "EC_SIGN_P384_SHA384")
    raises_exactly(client, "ALREADY_EXISTS", lambda: client.create_crypto_key(request=request))

    second = client.create_crypto_key_version(request={"parent": key, "crypto_key_version": {}})
    assert (second.name, second.state.name) == (version(key, 2), "ENABLED")
    disabled = client.update_crypto_key_version(
        request={"crypto_key_version": {"name": second.name, "state": "DISABLED"}, "update_mask": {"paths": ["state"]}}
    )
    assert disabled.state.name == "DISABLED"
    raises_exactly(client, "FAILED_PRECONDITION", lambda: sign_digest(client, second.name, "EC_SIGN_P384_SHA384"))

    scheduled = client.destroy_crypto_key_version(name=second.name)
    assert scheduled.state.name == "DESTROY_SCHEDULED"
    assert scheduled.destroy_time.timestamp() > time.time() + 29 * 86400
    assert client.restore_crypto_key_version(name=second.name).state.name == "DISABLED"
    enabled = client.update_crypto_key_version(
        request={"crypto_key_version": {"name": second.name, "state": "ENABLED"}, "update_mask": {"paths": ["state"]}}
    )
    assert enabled.state.name == "ENABLED"
    verify(kms, second.name, "EC_SIGN_P384_SHA384", sign_digest(client, second.name, "EC_SIGN_P384_SHA384").signature)
    assert [call.method for call in kms.calls if call.code == "OK"][:2] == ["CreateCryptoKey", "CreateCryptoKeyVersion"]


def test_the_python_api_refuses_bad_input(kms: LocalCloudKms, new_key: Callable[..., str]) -> None:
    key = new_key()
    with pytest.raises(ValueError, match="already exists"):
        kms.create_key(key.rsplit("/", 1)[1], "EC_SIGN_P256_SHA256")
    with pytest.raises(ValueError, match="not supported"):
        new_key("EC_SIGN_P521_SHA512")
    with pytest.raises(ValueError, match="ENCRYPT_DECRYPT"):
        new_key("GOOGLE_SYMMETRIC_ENCRYPTION")
    with pytest.raises(KeyError):
        kms.add_version(key.replace("/cryptoKeys/", "/cryptoKeys/no-"))
    with pytest.raises(ValueError, match="state must be one of"):
        kms.set_state(version(key, 1), "ASLEEP")
    with pytest.raises(KeyError):
        kms.private_key(version(key, 2))
    assert kms.versions(key) == [version(key, 1)]


# ---------------------------------------------------------------- faults


def test_corrupted_signature_crc_is_off_by_one_once(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str]
) -> None:
    name = version(shared_keys["EC_SIGN_P256_SHA256"], 1)
    kms.faults.corrupt_signature_crc()
    damaged = sign_digest(client, name, "EC_SIGN_P256_SHA256")
    assert damaged.signature_crc32c == (crc(damaged.signature) + 1) % 2**32
    verify(kms, name, "EC_SIGN_P256_SHA256", damaged.signature)  # only the checksum is wrong
    healthy = sign_digest(client, name, "EC_SIGN_P256_SHA256")
    assert healthy.signature_crc32c == crc(healthy.signature)


def test_cleared_verified_flag_hides_the_digest_check(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str]
) -> None:
    name = version(shared_keys["EC_SIGN_ED25519"], 1)
    kms.faults.clear_verified_flags(times=2)
    for _ in range(2):
        answer = client.asymmetric_sign(request={"name": name, "data": MESSAGE, "data_crc32c": crc(MESSAGE)})
        assert answer.verified_data_crc32c is False
    assert sign_digest(
        client, version(shared_keys["EC_SIGN_P256_SHA256"], 1), "EC_SIGN_P256_SHA256"
    ).verified_digest_crc32c


@pytest.mark.parametrize("method", ["AsymmetricSign", "GetPublicKey"])
def test_swapped_name_names_the_next_version(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str], method: str
) -> None:
    key = shared_keys["EC_SIGN_P256_SHA256"]
    kms.faults.swap_name(method)
    answer = (
        sign_digest(client, version(key, 1), "EC_SIGN_P256_SHA256")
        if method == "AsymmetricSign"
        else (client.get_public_key(name=version(key, 1)))
    )
    assert answer.name == version(key, 2)
    assert kms.calls[-1].name == version(key, 1)


def test_corrupted_pem_crc(client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str]) -> None:
    name = version(shared_keys["EC_SIGN_P384_SHA384"], 1)
    kms.faults.corrupt_pem_crc()
    damaged = client.get_public_key(name=name)
    assert damaged.pem_crc32c == (crc(damaged.pem.encode()) + 1) % 2**32
    healthy = client.get_public_key(name=name)
    assert healthy.pem_crc32c == crc(healthy.pem.encode())


def test_unavailable_is_retried_by_the_default_retry(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str]
) -> None:
    name = version(shared_keys["EC_SIGN_P256_SHA256"], 1)
    kms.faults.fail("AsymmetricSign", "UNAVAILABLE", times=2)
    answer = sign_digest(client, name, "EC_SIGN_P256_SHA256")
    verify(kms, name, "EC_SIGN_P256_SHA256", answer.signature)
    assert [call.code for call in kms.calls] == ["UNAVAILABLE", "UNAVAILABLE", "OK"]
    assert {call.transport for call in kms.calls} == {kind(client)}


def test_without_retry_the_transient_error_surfaces(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str]
) -> None:
    name = version(shared_keys["EC_SIGN_P256_SHA256"], 1)
    kms.faults.fail("AsymmetricSign", "UNAVAILABLE")
    raises_exactly(client, "UNAVAILABLE", lambda: sign_digest(client, name, "EC_SIGN_P256_SHA256", retry=None))
    assert kms.count("AsymmetricSign") == 1


def test_deadline_exceeded_from_the_server_is_retried_on_grpc_only(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str]
) -> None:
    name = version(shared_keys["EC_SIGN_P256_SHA256"], 1)
    kms.faults.fail("AsymmetricSign", "DEADLINE_EXCEEDED")
    if kind(client) == "grpc":
        sign_digest(client, name, "EC_SIGN_P256_SHA256")
        assert [call.code for call in kms.calls] == ["DEADLINE_EXCEEDED", "OK"]
    else:  # HTTP 504 becomes GatewayTimeout, which the default predicate (DeadlineExceeded) does not match
        raises_exactly(client, "DEADLINE_EXCEEDED", lambda: sign_digest(client, name, "EC_SIGN_P256_SHA256"))
        assert [call.code for call in kms.calls] == ["DEADLINE_EXCEEDED"]


def test_resource_exhausted_needs_a_retry_that_names_it(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str]
) -> None:
    name = version(shared_keys["EC_SIGN_P256_SHA256"], 1)
    kms.faults.fail("AsymmetricSign", "RESOURCE_EXHAUSTED")
    raises_exactly(client, "RESOURCE_EXHAUSTED", lambda: sign_digest(client, name, "EC_SIGN_P256_SHA256"))
    assert kms.count("AsymmetricSign") == 1

    kms.faults.fail("AsymmetricSign", "RESOURCE_EXHAUSTED", times=3)
    throttled = fast_retry(exceptions.TooManyRequests)
    verify(
        kms, name, "EC_SIGN_P256_SHA256", sign_digest(client, name, "EC_SIGN_P256_SHA256", retry=throttled).signature
    )
    assert [call.code for call in kms.calls] == ["RESOURCE_EXHAUSTED"] * 4 + ["OK"]


def test_a_permanent_error_fails_every_call_until_reset(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str]
) -> None:
    name = version(shared_keys["EC_SIGN_P256_SHA256"], 1)
    kms.faults.fail("AsymmetricSign", "PERMISSION_DENIED", times=None)
    for _ in range(3):
        error = raises_exactly(client, "PERMISSION_DENIED", lambda: sign_digest(client, name, "EC_SIGN_P256_SHA256"))
        assert "cloudkms.cryptoKeyVersions.useToSign" in str(error)
    assert client.get_public_key(name=name).name == name  # other methods are untouched
    assert kms.count("AsymmetricSign", code="PERMISSION_DENIED") == 3
    kms.reset()
    assert kms.calls == []
    assert kms.faults.pending() == 0
    sign_digest(client, name, "EC_SIGN_P256_SHA256")


def test_a_wildcard_fault_hits_the_next_call_of_any_method(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str]
) -> None:
    key = shared_keys["EC_SIGN_P256_SHA256"]
    kms.faults.fail("*", "INTERNAL", message="boom")
    error = raises_exactly(client, "INTERNAL", lambda: client.get_crypto_key(name=key))
    assert "boom" in str(error)
    assert client.get_crypto_key(name=key).name == key


def test_latency_delays_every_call(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str]
) -> None:
    kms.faults.latency = 0.15
    started = time.monotonic()
    client.get_crypto_key(name=shared_keys["EC_SIGN_P256_SHA256"])
    client.get_public_key(name=version(shared_keys["EC_SIGN_P256_SHA256"], 1))
    assert time.monotonic() - started >= 0.3


def test_a_call_timeout_leaves_the_call_in_flight_on_the_server(
    client: KeyManagementServiceClient, kms: LocalCloudKms, shared_keys: dict[str, str]
) -> None:
    name = version(shared_keys["EC_SIGN_P256_SHA256"], 1)
    kms.faults.latency = 0.5
    if kind(client) == "grpc":
        raises_exactly(client, "DEADLINE_EXCEEDED", lambda: client.get_public_key(name=name, timeout=0.1, retry=None))
    else:  # the REST transport lets requests' own timeout escape, not a GoogleAPICallError
        with pytest.raises(requests.exceptions.ReadTimeout):
            client.get_public_key(name=name, timeout=0.1, retry=None)
    assert [(call.method, call.code) for call in kms.calls] == [("GetPublicKey", None)]
    wait_until(lambda: kms.calls[0].code == "OK")


def test_grpc_deadlines_are_retried_until_the_retry_gives_up(kms: LocalCloudKms, shared_keys: dict[str, str]) -> None:
    """A per-call timeout bounds each attempt, not the call: the retry's own timeout is what ends it."""
    grpc_client = kms.grpc_client()
    try:
        kms.faults.latency = 0.2
        bounded = fast_retry(exceptions.DeadlineExceeded, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(exceptions.RetryError) as caught:
            grpc_client.get_public_key(name=version(shared_keys["EC_SIGN_P256_SHA256"], 1), timeout=0.05, retry=bounded)
        assert 0.3 <= time.monotonic() - started < 2.0
        assert isinstance(caught.value.cause, exceptions.DeadlineExceeded)
        assert kms.count("GetPublicKey") >= 3
    finally:
        close(grpc_client)


def test_fault_arguments_are_checked(kms: LocalCloudKms) -> None:
    with pytest.raises(ValueError, match="not a gRPC error code"):
        kms.faults.fail("AsymmetricSign", "OK")
    with pytest.raises(ValueError, match="times must be at least 1"):
        kms.faults.corrupt_signature_crc(times=0)
    with pytest.raises(ValueError, match="swap_name applies to"):
        kms.faults.swap_name("GetCryptoKey")
    with pytest.raises(ValueError, match="zero or more"):
        kms.faults.latency = -1
    assert kms.faults.pending() == 0


# ---------------------------------------------------------------- the server itself


def test_both_front_ends_listen_on_loopback_only(kms: LocalCloudKms) -> None:
    assert kms.grpc_target.startswith("127.0.0.1:")
    assert kms.rest_endpoint.startswith("http://127.0.0.1:")
    assert kms.grpc_target.rsplit(":", 1)[1] != kms.rest_endpoint.rsplit(":", 1)[1]


def test_rest_wire_format_is_protobuf_json(kms: LocalCloudKms, shared_keys: dict[str, str]) -> None:
    name = version(shared_keys["EC_SIGN_P256_SHA256"], 1)
    digest = hashlib.sha256(MESSAGE).digest()
    body = {"digest": {"sha256": base64.b64encode(digest).decode()}, "digestCrc32c": str(crc(digest))}
    signed = requests.post(f"{kms.rest_endpoint}/v1/{name}:asymmetricSign", json=body, timeout=5)
    assert signed.status_code == 200
    payload = signed.json()
    signature = base64.b64decode(payload["signature"])
    verify(kms, name, "EC_SIGN_P256_SHA256", signature)
    assert payload["signatureCrc32c"] == str(crc(signature))  # int64 travels as a string
    assert payload["verifiedDigestCrc32c"] is True
    assert "verifiedDataCrc32c" not in payload  # proto3 JSON omits false
    assert (payload["name"], payload["protectionLevel"]) == (name, "SOFTWARE")

    named = requests.get(f"{kms.rest_endpoint}/v1/{name}/publicKey", timeout=5).json()
    numbered = requests.get(f"{kms.rest_endpoint}/v1/{name}/publicKey?$alt=json;enum-encoding=int", timeout=5).json()
    assert (named["algorithm"], named["protectionLevel"]) == ("EC_SIGN_P256_SHA256", "SOFTWARE")
    assert (numbered["algorithm"], numbered["protectionLevel"]) == (12, 1)
    assert named["pemCrc32c"] == str(crc(named["pem"].encode()))


def test_rest_errors_use_googles_json_error_body(kms: LocalCloudKms, new_key: Callable[..., str]) -> None:
    name = version(new_key(), 1)
    kms.set_state(name, "DISABLED")
    refused = requests.get(f"{kms.rest_endpoint}/v1/{name}/publicKey", timeout=5)
    assert refused.status_code == 400
    assert refused.json() == {
        "error": {
            "code": 400,
            "message": f"{name} is not enabled, current state is: DISABLED.",
            "status": "FAILED_PRECONDITION",
        }
    }
    unknown_field = requests.post(f"{kms.rest_endpoint}/v1/{name}:asymmetricSign", json={"digets": {}}, timeout=5)
    assert (unknown_field.status_code, unknown_field.json()["error"]["status"]) == (400, "INVALID_ARGUMENT")
    unknown_query = requests.get(f"{kms.rest_endpoint}/v1/{name}/publicKey?colour=red", timeout=5)
    assert "Cannot bind query parameter" in unknown_query.json()["error"]["message"]
    nowhere = requests.get(f"{kms.rest_endpoint}/v2/elsewhere", timeout=5)
    assert (nowhere.status_code, nowhere.json()["error"]["status"]) == (404, "NOT_FOUND")
    assert [call.code for call in kms.calls] == [
        "FAILED_PRECONDITION",
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
        "NOT_FOUND",
    ]


def test_stop_releases_calls_held_by_latency(new_key: Callable[..., str]) -> None:
    with LocalCloudKms() as server:
        name = version(server.create_key("held", "EC_SIGN_P256_SHA256"), 1)
        grpc_client = server.grpc_client()
        outcome: list[BaseException] = []

        def call() -> None:
            try:
                grpc_client.get_public_key(name=name, retry=None, timeout=10)
            except exceptions.GoogleAPICallError as error:
                outcome.append(error)

        server.faults.latency = 10
        caller = threading.Thread(target=call)
        caller.start()
        wait_until(lambda: server.count("GetPublicKey") == 1)
        started = time.monotonic()
        server.stop()
        caller.join(5)
        close(grpc_client)
    assert time.monotonic() - started < 2
    assert not caller.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], exceptions.ServiceUnavailable | exceptions.Cancelled)
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.grpc_target
