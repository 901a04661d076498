"""The local Key Vault itself, driven by the real azure-keyvault-keys and azure-identity clients.

Every signature the vault returns is verified here with ``cryptography`` (and some with the ``openssl``
command) against the key the vault's store holds; the vault's own Verify is only tested, never trusted.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ODataV4Format,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.identity import ClientSecretCredential, DefaultAzureCredential
from azure.keyvault.keys import KeyClient, KeyVaultKey
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from greenlang_kms_azure.testing import (
    LocalKeyVault,
    LoggedRequest,
    TokenRequest,
    TunnelProxy,
    clear_challenge_cache,
)

from greenlang.security.encoding import raw_to_der

VAULT_HOST = "mykeyvault.vault.azure.net"
LOGIN_HOST = "login.microsoftonline.com"
APP_ID = "5d1c0b7a-local-test-app"
APP_SECRET = "gl-local-vault-secret-3f9a2c71-never-printed"
PAYLOAD = b"site lyon, 2026-Q3: scope 1 = 1,204.7 tCO2e"

# name -> (kty, curve or RSA size); created once per module, RSA-4096 keygen is slow
KEYS: dict[str, tuple[str, str | int]] = {
    "ec-p256": ("EC", "P-256"),
    "ec-p384": ("EC-HSM", "P-384"),
    "ec-p521": ("EC", "P-521"),
    "ec-p256k": ("EC", "P-256K"),
    "rsa-2048": ("RSA", 2048),
    "rsa-3072": ("RSA-HSM", 3072),
    "rsa-4096": ("RSA", 4096),
}
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "256K": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
EC_CASES = [("ec-p256", "ES256"), ("ec-p384", "ES384"), ("ec-p521", "ES512"), ("ec-p256k", "ES256K")]
RSA_CASES = [
    (name, f"{padding_name}{bits}")
    for name in ("rsa-2048", "rsa-3072", "rsa-4096")
    for padding_name in ("PS", "RS")
    for bits in ("256", "384", "512")
]


@pytest.fixture(scope="module")
def vault() -> Iterator[LocalKeyVault]:
    """This module's vault (overrides conftest's): its certificate also names the real hosts the proxy routes."""
    with LocalKeyVault(hostnames=[VAULT_HOST, LOGIN_HOST]) as running:
        for name, (kty, shape) in KEYS.items():
            if kty.startswith("EC"):
                running.create_key(name, kty, curve=str(shape))
            else:
                running.create_key(name, kty, size=int(shape))
        running.register_app(running.tenant_id, APP_ID, APP_SECRET)
        yield running


@pytest.fixture(autouse=True)
def _isolated(vault: LocalKeyVault, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No proxy from the machine, an empty challenge cache and a vault without faults, knobs or log."""
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "AZURE_AUTHORITY_HOST"):
        monkeypatch.delenv(name, raising=False)
    clear_challenge_cache()
    vault.reset()
    yield
    vault.reset()


@pytest.fixture
def credential(vault: LocalKeyVault) -> Any:
    return vault.credential()


@pytest.fixture
def keys(vault: LocalKeyVault, credential: Any) -> KeyClient:
    return KeyClient(vault.url, credential, connection_verify=vault.ca_path, verify_challenge_resource=False)


@pytest.fixture
def crypto(vault: LocalKeyVault, credential: Any) -> Callable[[str], CryptographyClient]:
    """``crypto(name)``: a CryptographyClient on the current version's kid."""

    def make(name: str) -> CryptographyClient:
        return CryptographyClient(
            vault.kid(name), credential, connection_verify=vault.ca_path, verify_challenge_resource=False
        )

    return make


def digest_of(alg: str, payload: bytes = PAYLOAD) -> bytes:
    return hashlib.new({"256": "sha256", "256K": "sha256", "384": "sha384", "512": "sha512"}[alg[2:]], payload).digest()


def verify_locally(public_key: Any, alg: str, digest: bytes, signature: bytes) -> None:
    """Raise InvalidSignature unless ``signature`` is Azure's ``alg`` signature of ``digest``."""
    hash_algorithm = HASHES[alg[2:]]()
    if alg.startswith("ES"):
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        der = raw_to_der(signature, public_key.curve)
        public_key.verify(der, digest, ec.ECDSA(Prehashed(hash_algorithm)))
    elif alg.startswith("PS"):
        assert isinstance(public_key, rsa.RSAPublicKey)
        pss = padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)
        public_key.verify(signature, digest, pss, Prehashed(hash_algorithm))
    else:
        assert isinstance(public_key, rsa.RSAPublicKey)
        public_key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hash_algorithm))


def call(
    vault: LocalKeyVault, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, dict[str, str], Any]:
    """One raw HTTPS request to the vault, trusting only its CA; returns status, headers, decoded JSON."""
    context = ssl.create_default_context(cafile=vault.ca_path)
    connection = http.client.HTTPSConnection("127.0.0.1", vault.port, context=context, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, None if body is None else json.dumps(body), headers)
        response = connection.getresponse()
        payload = response.read()
        return response.status, dict(response.getheaders()), json.loads(payload) if payload else None
    finally:
        connection.close()


def jwk(key: KeyVaultKey) -> Any:
    """The key's JWK; its fields (x, y, crv, kty...) are set dynamically, so typed as Any."""
    return key.key


def service_error(raised: pytest.ExceptionInfo[HttpResponseError]) -> ODataV4Format:
    """The parsed ``{"error": {...}}`` body of the service error."""
    error = raised.value.error
    assert error is not None
    return error


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# keys and their JSON


def test_get_key_returns_the_newest_version_and_any_version_by_id(vault: LocalKeyVault, keys: KeyClient) -> None:
    first = vault.create_key("rotating", "EC", curve="P-256")
    second = vault.rotate("rotating")
    assert first != second

    current = keys.get_key("rotating")
    old = keys.get_key("rotating", first)

    assert current.properties.version == second
    assert current.id == vault.kid("rotating") == f"{vault.url}/keys/rotating/{second}"
    assert old.id == f"{vault.url}/keys/rotating/{first}"
    for key, version in ((current, second), (old, first)):
        expected = vault.private_key("rotating", version).public_key().public_numbers()
        assert isinstance(expected, ec.EllipticCurvePublicNumbers)
        assert int.from_bytes(jwk(key).x, "big") == expected.x
        assert int.from_bytes(jwk(key).y, "big") == expected.y
    assert jwk(current).x != jwk(old).x


def test_a_disabled_newest_version_is_still_the_current_one(vault: LocalKeyVault, keys: KeyClient) -> None:
    vault.create_key("disabled-head", "EC")
    newest = vault.rotate("disabled-head")
    vault.set_enabled("disabled-head", newest, enabled=False)

    current = keys.get_key("disabled-head")

    assert current.properties.version == newest
    assert current.properties.enabled is False


def test_key_json_has_the_service_shape(vault: LocalKeyVault) -> None:
    status, headers, body = call(vault, "GET", "/keys/ec-p521/?api-version=7.5", token=vault.static_token)

    assert status == 200
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert set(body) == {"key", "attributes"}
    key = body["key"]
    assert re.fullmatch(rf"{re.escape(vault.url)}/keys/ec-p521/[0-9a-f]{{32}}", key["kid"])
    assert key["kty"] == "EC"
    assert key["crv"] == "P-521"
    assert key["key_ops"] == ["sign", "verify"]
    assert "=" not in key["x"] + key["y"]
    assert len(unb64(key["x"])) == 66
    assert len(unb64(key["y"])) == 66  # P-521: fixed 66-byte coordinates
    attributes = body["attributes"]
    assert attributes["enabled"] is True
    assert attributes["recoveryLevel"] == "Recoverable+Purgeable"
    assert isinstance(attributes["created"], int)
    assert attributes["updated"] >= attributes["created"]
    assert vault.api_versions[-1] == "7.5"

    _, _, rsa_body = call(vault, "GET", "/keys/rsa-3072", token=vault.static_token)
    assert rsa_body["key"]["kty"] == "RSA-HSM"
    assert rsa_body["key"]["e"] == "AQAB"
    assert len(unb64(rsa_body["key"]["n"])) == 384


def test_the_api_version_the_client_sends_is_recorded(vault: LocalKeyVault, credential: Any) -> None:
    client = KeyClient(
        vault.url, credential, connection_verify=vault.ca_path, verify_challenge_resource=False, api_version="7.5"
    )
    client.get_key("ec-p256")
    assert vault.api_versions
    assert set(vault.api_versions) == {"7.5"}


def test_the_python_api_refuses_what_the_service_would(vault: LocalKeyVault) -> None:
    with pytest.raises(KeyError, match=r"\(name/id\) never-created was not found"):
        vault.rotate("never-created")
    with pytest.raises(ValueError, match="crv"):
        vault.create_key("bad-curve", "EC", curve="P-192")
    with pytest.raises(ValueError, match="key_size"):
        vault.create_key("bad-size", "RSA", size=1024)
    with pytest.raises(ValueError, match="invalid name"):
        vault.create_key("under_score")
    with pytest.raises(ValueError, match="leading_zero"):
        vault.leading_zero = "x"


def test_rest_create_applies_the_service_defaults_and_refuses_unknown_types(vault: LocalKeyVault) -> None:
    status, _, body = call(vault, "POST", "/keys/rest-made/create", {"kty": "RSA"}, vault.static_token)
    assert status == 200
    assert body["key"]["key_ops"] == ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]
    assert len(unb64(body["key"]["n"])) == 256  # 2048 bits by default

    status, _, body = call(vault, "POST", "/keys/rest-made/create", {"kty": "oct"}, vault.static_token)
    assert status == 400
    assert body["error"]["code"] == "BadParameter"


# authentication


def test_the_first_request_is_an_unauthenticated_probe_then_a_token(
    vault: LocalKeyVault, keys: KeyClient, credential: Any
) -> None:
    keys.get_key("ec-p256")
    keys.get_key("ec-p256")

    assert vault.requests == [
        LoggedRequest("GET", "/keys/ec-p256/", False, 401),
        LoggedRequest("GET", "/keys/ec-p256/", True, 200),
        LoggedRequest("GET", "/keys/ec-p256/", True, 200),
    ]
    assert credential.calls == [TokenRequest(("https://vault.azure.net/.default",), vault.tenant_id, None, True)]


def test_the_probe_answer_carries_key_vaults_challenge(vault: LocalKeyVault) -> None:
    status, headers, body = call(vault, "GET", "/keys/ec-p256")

    assert status == 401
    assert headers["WWW-Authenticate"] == (
        f'Bearer authorization="https://login.microsoftonline.com/{vault.tenant_id}", '
        'resource="https://vault.azure.net"'
    )
    assert body["error"]["code"] == "Unauthorized"
    assert "Bearer" in body["error"]["message"]


def test_only_tokens_the_vault_knows_for_its_resource_and_tenant_are_accepted(vault: LocalKeyVault) -> None:
    credential = vault.credential()
    good = credential.get_token("https://vault.azure.net/.default").token
    wrong_audience = credential.get_token("https://management.azure.com/.default").token
    wrong_tenant = credential.get_token("https://vault.azure.net/.default", tenant_id="other-tenant").token

    assert call(vault, "GET", "/keys/ec-p256", token=good)[0] == 200
    assert call(vault, "GET", "/keys/ec-p256", token=vault.static_token)[0] == 200
    status, headers, body = call(vault, "GET", "/keys/ec-p256", token="not-a-token-this-vault-issued")
    assert status == 401
    assert "WWW-Authenticate" in headers
    status, _, body = call(vault, "GET", "/keys/ec-p256", token=wrong_audience)
    assert status == 401
    assert body["error"]["message"].startswith("AKV10022: Invalid audience")
    status, _, body = call(vault, "GET", "/keys/ec-p256", token=wrong_tenant)
    assert status == 401
    assert body["error"]["message"].startswith("AKV10032: Invalid issuer")
    assert [entry.authorized for entry in vault.requests] == [True, True, False, False, False]


def test_managed_hsm_challenges_for_the_managed_hsm_resource() -> None:
    with LocalKeyVault(managed_hsm=True) as hsm:
        hsm.create_key("hsm-key", "EC-HSM", curve="P-384")
        credential = hsm.credential()
        client = KeyClient(hsm.url, credential, connection_verify=hsm.ca_path, verify_challenge_resource=False)

        key = client.get_key("hsm-key")

        assert jwk(key).kty == "EC-HSM"
        assert credential.calls[0].scopes == ("https://managedhsm.azure.net/.default",)
        status, headers, _ = call(hsm, "GET", "/keys/hsm-key")
        assert status == 401
        assert headers["WWW-Authenticate"].endswith('resource="https://managedhsm.azure.net"')
        vault_token = credential.get_token("https://vault.azure.net/.default").token
        assert call(hsm, "GET", "/keys/hsm-key", token=vault_token)[0] == 401


def test_plain_http_is_refused_by_the_sdk_before_anything_is_sent(vault: LocalKeyVault, credential: Any) -> None:
    client = KeyClient(f"http://{vault.host}", credential, verify_challenge_resource=False, retry_total=0)

    with pytest.raises(ServiceRequestError, match="non-TLS"):
        client.get_key("ec-p256")
    assert vault.requests == []


def test_a_client_that_does_not_trust_the_local_ca_fails_the_handshake(vault: LocalKeyVault, credential: Any) -> None:
    client = KeyClient(vault.url, credential, verify_challenge_resource=False, retry_total=0)

    with pytest.raises(ServiceRequestError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get_key("ec-p256")
    assert vault.requests == []


def test_the_async_credential_records_and_issues_like_the_sync_one(vault: LocalKeyVault) -> None:
    credential = vault.async_credential()

    async def fetch() -> str:
        async with credential:
            return (await credential.get_token("https://vault.azure.net/.default", tenant_id=vault.tenant_id)).token

    token = asyncio.run(fetch())

    assert credential.calls == [TokenRequest(("https://vault.azure.net/.default",), vault.tenant_id, None, False)]
    assert call(vault, "GET", "/keys/ec-p256", token=token)[0] == 200


# signing


@pytest.mark.parametrize(("name", "alg"), EC_CASES + RSA_CASES)
def test_sign_answers_what_azure_answers(
    vault: LocalKeyVault, crypto: Callable[[str], CryptographyClient], name: str, alg: str
) -> None:
    digest = digest_of(alg)

    result = crypto(name).sign(SignatureAlgorithm(alg), digest)

    assert result.key_id == vault.kid(name)
    public_key = vault.private_key(name).public_key()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        assert len(result.signature) == 2 * ((public_key.curve.key_size + 7) // 8)
    else:
        assert len(result.signature) == public_key.key_size // 8
    verify_locally(public_key, alg, digest, result.signature)
    with pytest.raises(InvalidSignature):
        verify_locally(public_key, alg, digest_of(alg, PAYLOAD + b"!"), result.signature)


@pytest.mark.parametrize(
    ("name", "alg", "stable_name"),
    [("ec-p256", "ES256", "ecdsa-p256-sha256"), ("rsa-2048", "PS256", "rsa-pss-2048-sha256")],
)
def test_openssl_verifies_vault_signatures(
    vault: LocalKeyVault,
    crypto: Callable[[str], CryptographyClient],
    openssl_verifies: Callable[[bytes, str, bytes, bytes], bool],
    name: str,
    alg: str,
    stable_name: str,
) -> None:
    public_key = vault.private_key(name).public_key()
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    signature = crypto(name).sign(SignatureAlgorithm(alg), digest_of(alg)).signature
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        signature = raw_to_der(signature, public_key.curve)

    assert openssl_verifies(pem, stable_name, PAYLOAD, signature)
    assert not openssl_verifies(pem, stable_name, PAYLOAD + b"!", signature)


@pytest.mark.parametrize(("half", "name", "alg"), [("r", "ec-p256", "ES256"), ("s", "ec-p384", "ES384")])
def test_leading_zero_knob_forces_a_zero_first_byte_that_still_verifies(
    vault: LocalKeyVault, crypto: Callable[[str], CryptographyClient], half: str, name: str, alg: str
) -> None:
    vault.leading_zero = half
    digest = digest_of(alg)

    raw = crypto(name).sign(SignatureAlgorithm(alg), digest).signature

    width = len(raw) // 2
    assert width == {"ES256": 32, "ES384": 48}[alg]
    assert raw[0 if half == "r" else width] == 0
    public_key = vault.private_key(name).public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    der = raw_to_der(raw, public_key.curve)
    public_key.verify(der, digest, ec.ECDSA(Prehashed(HASHES[alg[2:]]())))


def test_the_vaults_verify_accepts_good_and_rejects_tampered_signatures(vault: LocalKeyVault) -> None:
    digest = digest_of("ES256")
    path = f"/keys/ec-p256/{vault.kid('ec-p256').rsplit('/', 1)[1]}"
    status, _, signed = call(vault, "POST", f"{path}/sign", {"alg": "ES256", "value": b64(digest)}, vault.static_token)
    assert status == 200
    signature = unb64(signed["value"])
    tampered = bytes([signature[0] ^ 1]) + signature[1:]
    padded = b64(digest) + "=" * (-len(b64(digest)) % 4)

    def verdict(value: bytes, digest_text: str) -> Any:
        body = {"alg": "ES256", "digest": digest_text, "value": b64(value)}
        return call(vault, "POST", f"{path}/verify", body, vault.static_token)[2]

    assert verdict(signature, b64(digest)) == {"value": True}
    assert verdict(signature, padded) == {"value": True}  # padding accepted on input
    assert verdict(tampered, b64(digest)) == {"value": False}


# errors


def test_a_missing_key_is_resource_not_found_with_keynotfound(keys: KeyClient) -> None:
    with pytest.raises(ResourceNotFoundError) as raised:
        keys.get_key("no-such-key")

    assert raised.value.status_code == 404
    error = service_error(raised)
    assert error.code == "KeyNotFound"
    assert "A key with (name/id) no-such-key was not found in this key vault" in str(error.message)


def test_a_forbidden_key_answers_403_access_denied(
    vault: LocalKeyVault, keys: KeyClient, crypto: Callable[[str], CryptographyClient]
) -> None:
    vault.create_key("denied", "EC")
    vault.forbid("denied")

    with pytest.raises(HttpResponseError) as get_error:
        keys.get_key("denied")
    with pytest.raises(HttpResponseError) as sign_error:
        crypto("denied").sign(SignatureAlgorithm.es256, digest_of("ES256"))

    for raised, permission in ((get_error, "get"), (sign_error, "sign")):
        assert raised.value.status_code == 403
        error = service_error(raised)
        assert error.code == "Forbidden"
        assert error.innererror == {"code": "AccessDenied"}
        assert f"does not have keys {permission} permission" in str(error.message)


def test_signing_with_a_disabled_key_is_403_key_disabled(
    vault: LocalKeyVault, crypto: Callable[[str], CryptographyClient]
) -> None:
    vault.create_key("switched-off", "EC")
    vault.set_enabled("switched-off", enabled=False)

    with pytest.raises(HttpResponseError) as raised:
        crypto("switched-off").sign(SignatureAlgorithm.es256, digest_of("ES256"))

    assert raised.value.status_code == 403
    error = service_error(raised)
    assert error.innererror == {"code": "KeyDisabled"}
    assert error.message == "Operation sign is not allowed on a disabled key."


def test_signing_outside_the_keys_operations_is_403_key_operation_forbidden(
    vault: LocalKeyVault, crypto: Callable[[str], CryptographyClient]
) -> None:
    vault.create_key("verify-only", "EC", key_ops=("verify",))

    with pytest.raises(HttpResponseError) as raised:
        crypto("verify-only").sign(SignatureAlgorithm.es256, digest_of("ES256"))

    assert raised.value.status_code == 403
    error = service_error(raised)
    assert error.innererror == {"code": "KeyOperationForbidden"}
    assert error.message == "Operation sign is not permitted on this key."


@pytest.mark.parametrize(
    ("name", "alg", "digest", "message"),
    [
        ("ec-p256", "ES256", b"\x01" * 31, "Invalid length of 'value': 31 bytes. ES256 requires 32 bytes"),
        ("rsa-2048", "PS512", b"\x01" * 32, "Invalid length of 'value': 32 bytes. PS512 requires 64 bytes"),
        ("ec-p256", "ES384", b"\x01" * 48, "can only be used with curve 'P-384'"),
        ("ec-p256", "RS256", b"\x01" * 32, "can only be used with key type 'RSA'"),
        ("rsa-2048", "ES256", b"\x01" * 32, "can only be used with key type 'EC'"),
    ],
)
def test_a_digest_or_algorithm_that_does_not_fit_is_400_bad_parameter(
    crypto: Callable[[str], CryptographyClient], name: str, alg: str, digest: bytes, message: str
) -> None:
    with pytest.raises(HttpResponseError) as raised:
        crypto(name).sign(SignatureAlgorithm(alg), digest)

    assert raised.value.status_code == 400
    error = service_error(raised)
    assert error.code == "BadParameter"
    assert message in str(error.message)


# faults


def test_429_with_retry_after_is_retried_by_the_sdk_until_it_succeeds(
    vault: LocalKeyVault, crypto: Callable[[str], CryptographyClient]
) -> None:
    client = crypto("ec-p256")
    client.sign(SignatureAlgorithm.es256, digest_of("ES256"))  # challenge and key fetch out of the way
    vault.reset()
    vault.fail_next(2, status=429, retry_after=0.3, path_contains="/sign")
    digest = digest_of("ES256")

    started = time.monotonic()
    result = client.sign(SignatureAlgorithm.es256, digest)
    elapsed = time.monotonic() - started

    assert [(e.path.endswith("/sign"), e.status) for e in vault.requests] == [(True, 429), (True, 429), (True, 200)]
    assert vault.count("/sign", authorized=True) == 3
    assert elapsed >= 0.6  # two Retry-After waits of 0.3 s were honoured
    verify_locally(vault.private_key("ec-p256").public_key(), "ES256", digest, result.signature)


def test_an_injected_fault_has_the_service_shape_and_retry_after(vault: LocalKeyVault) -> None:
    vault.fail_next(1, status=503, retry_after=7, path_contains="/keys/ec-p256")

    status, headers, body = call(vault, "GET", "/keys/ec-p256", token=vault.static_token)

    assert status == 503
    assert headers["Retry-After"] == "7"
    assert body["error"]["code"] == "ServiceUnavailable"
    assert call(vault, "GET", "/keys/ec-p256", token=vault.static_token)[0] == 200


def test_a_challenge_round_trip_never_uses_up_a_fault(vault: LocalKeyVault) -> None:
    vault.fail_next(1, status=500)

    assert call(vault, "GET", "/keys/ec-p256")[0] == 401
    assert call(vault, "GET", "/keys/ec-p256", token=vault.static_token)[0] == 500
    assert call(vault, "GET", "/keys/ec-p256", token=vault.static_token)[0] == 200


def test_latency_delays_each_answer(vault: LocalKeyVault) -> None:
    vault.latency = 0.25

    started = time.monotonic()
    call(vault, "GET", "/keys/ec-p256", token=vault.static_token)

    assert time.monotonic() - started >= 0.25


def test_a_request_in_flight_across_reset_neither_logs_nor_takes_a_fault(vault: LocalKeyVault) -> None:
    vault.latency = 0.4
    answers: list[int] = []
    stale = threading.Thread(
        target=lambda: answers.append(call(vault, "GET", "/keys/ec-p256", token=vault.static_token)[0])
    )
    stale.start()
    time.sleep(0.15)  # it has arrived and is held by the latency
    vault.reset()
    vault.fail_next(1, status=503)
    stale.join()

    assert answers == [200]
    assert vault.requests == []
    assert call(vault, "GET", "/keys/ec-p256", token=vault.static_token)[0] == 503


# KeyClient drives the vault


def test_key_client_can_create_rotate_and_disable_keys(
    vault: LocalKeyVault, keys: KeyClient, crypto: Callable[[str], CryptographyClient]
) -> None:
    created = keys.create_ec_key("made-by-sdk", curve="P-384", tags={"site": "lyon"})
    rotated = keys.rotate_key("made-by-sdk")
    keys.update_key_properties("made-by-sdk", rotated.properties.version, enabled=False)

    assert jwk(created).crv == "P-384"
    assert created.properties.tags == {"site": "lyon"}
    assert rotated.properties.version != created.properties.version
    assert vault.kid("made-by-sdk") == rotated.id
    private_key = vault.private_key("made-by-sdk")
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    assert isinstance(private_key.curve, ec.SECP384R1)
    assert [key.version for key in keys.list_properties_of_key_versions("made-by-sdk")] == [
        created.properties.version,
        rotated.properties.version,
    ]
    with pytest.raises(HttpResponseError) as raised:
        crypto("made-by-sdk").sign(SignatureAlgorithm.es384, digest_of("ES384"))
    error = service_error(raised)
    assert error.innererror == {"code": "KeyDisabled"}


# the local Entra ID endpoint


def test_client_secret_credential_gets_a_token_from_the_local_aad(vault: LocalKeyVault) -> None:
    # authority=127.0.0.1 is not a host MSAL knows, so it would ask login.microsoftonline.com to validate it
    # (instance discovery) unless told not to.
    credential = ClientSecretCredential(
        vault.tenant_id,
        APP_ID,
        APP_SECRET,
        authority=vault.url,
        disable_instance_discovery=True,
        connection_verify=vault.ca_path,
    )
    client = KeyClient(vault.url, credential, connection_verify=vault.ca_path, verify_challenge_resource=False)

    key = client.get_key("ec-p256")

    assert key.id == vault.kid("ec-p256")
    tenant = vault.tenant_id
    assert [(e.method, e.path, e.authorized, e.status) for e in vault.requests] == [
        ("GET", "/keys/ec-p256/", False, 401),
        ("GET", f"/{tenant}/v2.0/.well-known/openid-configuration", False, 200),
        ("POST", f"/{tenant}/oauth2/v2.0/token", False, 200),
        ("GET", "/keys/ec-p256/", True, 200),
    ]


def test_a_wrong_client_secret_gets_aads_invalid_client_and_is_never_echoed(vault: LocalKeyVault) -> None:
    wrong = "gl-wrong-secret-do-not-print-91c2"
    credential = ClientSecretCredential(
        vault.tenant_id,
        APP_ID,
        wrong,
        authority=vault.url,
        disable_instance_discovery=True,
        connection_verify=vault.ca_path,
    )

    with pytest.raises(ClientAuthenticationError) as raised:
        credential.get_token("https://vault.azure.net/.default")

    assert "AADSTS7000215" in str(raised.value)
    assert wrong not in str(raised.value)
    assert APP_SECRET not in str(raised.value)
    assert vault.requests[-1] == LoggedRequest("POST", f"/{vault.tenant_id}/oauth2/v2.0/token", False, 401)


# real host names through the CONNECT proxy


@pytest.fixture
def proxied_env(vault: LocalKeyVault, monkeypatch: pytest.MonkeyPatch) -> Iterator[TunnelProxy]:
    """A TunnelProxy in HTTPS_PROXY, the vault's CA in REQUESTS_CA_BUNDLE, no NO_PROXY, app credentials set."""
    with TunnelProxy(vault.port) as proxy:
        for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        for name, value in proxy.environment(vault.ca_path).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AZURE_TENANT_ID", vault.tenant_id)
        monkeypatch.setenv("AZURE_CLIENT_ID", APP_ID)
        monkeypatch.setenv("AZURE_CLIENT_SECRET", APP_SECRET)
        yield proxy


def test_unmodified_code_naming_real_hosts_runs_against_the_vault_through_the_proxy(
    vault: LocalKeyVault, proxied_env: TunnelProxy
) -> None:
    credential = DefaultAzureCredential()
    client = KeyClient(f"https://{VAULT_HOST}", credential)  # default verify_challenge_resource=True
    digest = digest_of("ES256")

    key = client.get_key("ec-p256")
    signed = CryptographyClient(key.id, credential).sign(SignatureAlgorithm.es256, digest)

    version = vault.kid("ec-p256").rsplit("/", 1)[1]
    assert key.id == f"https://{VAULT_HOST}/keys/ec-p256/{version}"
    assert signed.key_id == key.id
    verify_locally(vault.private_key("ec-p256").public_key(), "ES256", digest, signed.signature)
    assert set(proxied_env.hosts) == {f"{VAULT_HOST}:443", f"{LOGIN_HOST}:443"}
    assert LoggedRequest("POST", f"/{vault.tenant_id}/oauth2/v2.0/token", False, 200) in vault.requests


def test_azure_authority_host_on_127_0_0_1_works_when_instance_discovery_can_reach_the_vault(
    vault: LocalKeyVault, proxied_env: TunnelProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", vault.url)
    client = KeyClient(f"https://{VAULT_HOST}", DefaultAzureCredential())

    client.get_key("ec-p256")

    paths = [entry.path for entry in vault.requests]
    assert "/common/discovery/instance" in paths  # MSAL validated 127.0.0.1 with "login.microsoftonline.com"
    assert f"{LOGIN_HOST}:443" in proxied_env.hosts
    assert vault.host in proxied_env.hosts


def test_the_proxy_refuses_targets_other_than_port_443(vault: LocalKeyVault) -> None:
    with TunnelProxy(vault.port) as proxy:
        host, port = proxy.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"CONNECT example.com:25 HTTP/1.1\r\nHost: example.com:25\r\n\r\n")
            answer = sock.recv(1024)

        assert answer.startswith(b"HTTP/1.1 403")
        assert proxy.hosts == ["example.com:25"]
