"""Shared fixtures: one KMS test server per session, one key per spec, and verifiers independent of the provider.

Stable fixture names (other modules build on them): ``aws_env`` (autouse: dummy credentials, no profile),
``server``, ``proxy``, ``key_arn``, ``kms``, ``spec_key``, ``open_key``, ``public_der``, ``verifies``,
``openssl_verifies``, ``watch``.
Signatures are checked from the algorithm's stable name with ``cryptography`` or the ``openssl`` command,
never with the provider's own ``verify`` or the server's Verify.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from greenlang_kms_aws import AwsKmsProvider
from greenlang_kms_aws.testing import AwsKmsTestServer, FaultProxy

from greenlang.testing import openssl_verifies as openssl_check
from greenlang.testing import require_openssl, verify_independently

ACCESS_KEY_ID = "AKIAGREENLANGTESTKEY"
SECRET_ACCESS_KEY = "gl-conftest-secret-8d41f0c2-never-printed"
SESSION_TOKEN = "gl-conftest-session-token-5e7a"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    "AWS_SESSION_TOKEN": SESSION_TOKEN,
}
CLEARED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KMS",
    "GL_KMS_PROVIDER",
    "GL_KMS_KEY_ID",
    "GL_KMS_REGION",
    "GL_KMS_ENDPOINT",
)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Dummy credentials and no profile, region or endpoint from the machine; returns the credential variables."""
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return dict(CREDENTIALS)


@pytest.fixture(scope="session")
def server() -> Iterator[AwsKmsTestServer]:
    with AwsKmsTestServer() as running:
        yield running


@pytest.fixture
def proxy(server: AwsKmsTestServer) -> Iterator[FaultProxy]:
    """A ``FaultProxy`` in front of the session's server, fresh for each test."""
    with FaultProxy(server.endpoint_url) as running:
        yield running


@pytest.fixture(scope="module")
def key_arn(server: AwsKmsTestServer) -> str:
    """A P-256 key of the module's own, for tests that only need some signing key."""
    return server.create_key("ECC_NIST_P256")


@pytest.fixture(scope="session")
def kms(server: AwsKmsTestServer) -> Any:
    """The test's own boto3 client: the oracle side, never the provider's client."""
    return server.client()


@pytest.fixture(scope="session")
def spec_key(server: AwsKmsTestServer) -> Callable[[str], str]:
    """``spec_key("RSA_4096")`` -> the ARN of the session's one key of that spec (RSA keygen is slow in moto)."""
    made: dict[str, str] = {}

    def get(spec: str) -> str:
        if spec not in made:
            made[spec] = server.create_key(spec)
        return made[spec]

    return get


@pytest.fixture
def open_key(server: AwsKmsTestServer) -> Callable[..., AwsKmsProvider]:
    """``open_key(arn | alias/x | key id | awskms URI, **options)``: a provider on the test server.

    A reference without an ARN gets the server's region unless ``region=`` is given.
    """

    def open_(ref: str, **options: Any) -> AwsKmsProvider:
        uri = ref if ref.startswith("awskms:") else f"awskms:///{ref}"
        options.setdefault("endpoint_url", server.endpoint_url)
        if "arn:" not in ref and "region=" not in ref:
            options.setdefault("region", server.region)
        return AwsKmsProvider(uri, **options)

    return open_


@pytest.fixture(scope="session")
def public_der(kms: Any) -> Callable[[str], bytes]:
    """``public_der(arn)``: the key's DER SubjectPublicKeyInfo, as the server's GetPublicKey answers it."""

    def get(arn: str) -> bytes:
        der: bytes = kms.get_public_key(KeyId=arn)["PublicKey"]
        return der

    return get


def load_public_key(key: bytes | Any) -> Any:
    """A ``cryptography`` public key from DER, PEM or a key object."""
    if isinstance(key, bytes):
        if key.startswith(b"-----BEGIN"):
            return serialization.load_pem_public_key(key)
        return serialization.load_der_public_key(key)
    return key


def check_signature(key: bytes | Any, algorithm: str, payload: bytes, signature: bytes) -> bool:
    """Verify with ``cryptography`` alone (PSS salt exactly the digest length, as AWS signs)."""
    pem = load_public_key(key).public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return verify_independently(pem, algorithm, payload, signature)


@pytest.fixture(scope="session")
def verifies() -> Callable[[bytes | Any, str, bytes, bytes], bool]:
    """``verifies(DER | PEM | key, algorithm name, payload, signature)`` with ``cryptography`` alone."""
    return check_signature


@pytest.fixture
def openssl_verifies() -> Callable[[bytes | Any, str, bytes, bytes], bool]:
    """``openssl_verifies(...)``, same arguments as ``verifies``, via ``openssl dgst -verify``.

    Without the command: a failure under CI=true, else a skip that names the package.
    """
    require_openssl()

    def run(key: bytes | Any, algorithm: str, payload: bytes, signature: bytes) -> bool:
        pem = load_public_key(key).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return openssl_check(pem, algorithm, payload, signature)

    return run


@dataclass
class Watch:
    """What one provider's client sent: Sign parameters, Sign responses and a count of calls per operation."""

    sign_params: list[dict[str, Any]] = field(default_factory=list)
    sign_responses: list[dict[str, Any]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _params(self, params: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.sign_params.append(dict(params))

    def _call(self, event_name: str, **_: Any) -> None:
        with self._lock:
            self.calls[event_name.rsplit(".", 1)[1]] += 1

    def _response(self, parsed: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.sign_responses.append(dict(parsed))


@pytest.fixture
def watch() -> Callable[[AwsKmsProvider], Watch]:
    """``watch(provider)``: hooks on the provider's boto3 client through botocore's public event system."""

    def attach(provider: AwsKmsProvider) -> Watch:
        seen = Watch()
        events = provider.client.meta.events
        events.register("provide-client-params.kms.Sign", seen._params)
        events.register("before-call.kms", seen._call)
        events.register("after-call.kms.Sign", seen._response)
        return seen

    return attach
