"""An AWS KMS API server for tests: moto's server, corrected in-process where moto departs from AWS.

moto is the test server here, so its server-side code is what gets patched; boto3 and botocore, the SDK
under test, are never touched. The patches are installed while at least one `AwsKmsTestServer` runs and
removed when the last one stops. They are process-wide, so in-process `moto.mock_aws` code sees them too.

Corrections (moto 5.2.x), each because AWS documents otherwise and a provider tested against the
uncorrected behaviour would be wrong against real AWS:

1. ``MessageType=DIGEST`` (moto ``kms/responses.py`` ``KmsResponse.sign`` / ``KmsResponse.verify`` read
   it and drop it, so ``kms/utils.py`` hashes the digest again). AWS signs a DIGEST message as the
   precomputed hash. The handlers are wrapped to carry the message type to the key code, which then
   uses ``Prehashed``. They also enforce AWS's limits: a DIGEST must have the algorithm's digest length,
   a RAW message at most 4096 bytes (moto raises a server error or signs anything).
2. RSA-PSS salt length (``kms/utils.py`` ``RSAPrivateKey.__padding_and_hash_algorithm`` uses
   ``PSS.MAX_LENGTH``). AWS uses a salt as long as the digest; strict verifiers (and the greenlang
   provider) reject maximum-length salts.
3. Key state (``kms/models.py`` ``KmsBackend.sign`` / ``verify`` / ``get_public_key`` ignore it). AWS
   refuses a disabled key with ``DisabledException`` and a key pending deletion with
   ``KMSInvalidStateException``.
4. GetPublicKey response (``KmsResponse.get_public_key``) lacks ``KeySpec``, returns the bare key id and
   ``EncryptionAlgorithms: null`` for signing keys. AWS returns ``KeySpec`` (alongside the deprecated
   ``CustomerMasterKeySpec``), ``KeyUsage``, ``SigningAlgorithms`` and the key ARN as ``KeyId``, and omits
   absent fields.
5. Verify of an invalid signature (``KmsBackend.verify`` returns ``SignatureValid: false``). AWS never
   answers false: it fails with ``KMSInvalidSignatureException``.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import re
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Self

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from moto.core.exceptions import JsonRESTError
from moto.kms.exceptions import ValidationException
from moto.kms.models import KmsBackend, kms_backends
from moto.kms.responses import KmsResponse
from moto.kms.utils import ECDSAPrivateKey, RSAPrivateKey
from moto.server import ThreadedMotoServer

from greenlang.testing.loopback import StartStop

__all__ = ["AwsKmsTestServer"]

ACCOUNT_ID = "123456789012"
"""moto's default account, the one in the seed's example ARN."""
_RAW_MESSAGE_LIMIT = 4096
_DIGEST_SIZES = {
    "RSASSA_PSS_SHA_256": 32,
    "RSASSA_PSS_SHA_384": 48,
    "RSASSA_PSS_SHA_512": 64,
    "RSASSA_PKCS1_V1_5_SHA_256": 32,
    "RSASSA_PKCS1_V1_5_SHA_384": 48,
    "RSASSA_PKCS1_V1_5_SHA_512": 64,
    "ECDSA_SHA_256": 32,
    "ECDSA_SHA_384": 48,
    "ECDSA_SHA_512": 64,
}

# Set by the Sign/Verify handlers for the duration of one request (each request runs in its own thread).
_message_is_digest: ContextVar[bool] = ContextVar("greenlang_kms_aws_message_is_digest", default=False)


class DisabledException(JsonRESTError):
    """AWS's answer when the key is disabled."""

    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("DisabledException", message)


class KMSInvalidSignatureException(JsonRESTError):
    """AWS's answer when Verify finds the signature invalid."""

    code = 400

    def __init__(self) -> None:
        super().__init__("KMSInvalidSignatureException", "")


class KMSInvalidStateException(JsonRESTError):
    """AWS's answer when the key's state forbids the operation (e.g. pending deletion)."""

    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("KMSInvalidStateException", message)


def _maybe_prehashed(algorithm: hashes.HashAlgorithm) -> hashes.HashAlgorithm | Prehashed:
    return Prehashed(algorithm) if _message_is_digest.get() else algorithm


def _honour_message_type(original: Callable[[Any], str]) -> Callable[[Any], str]:
    @functools.wraps(original)
    def handler(self: Any) -> str:
        message_type = self._get_param("MessageType") or "RAW"
        message = self._get_param("Message")
        algorithm = self._get_param("SigningAlgorithm")
        if message_type not in ("RAW", "DIGEST"):
            raise ValidationException(f"MessageType must be RAW or DIGEST, not {message_type!r}.")
        if isinstance(message, bytes):
            expected = _DIGEST_SIZES.get(algorithm)
            if message_type == "DIGEST" and expected is not None and len(message) != expected:
                raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")
            if message_type == "RAW" and len(message) > _RAW_MESSAGE_LIMIT:
                raise ValidationException(
                    "1 validation error detected: Value at 'message' failed to satisfy constraint: "
                    f"Member must have length less than or equal to {_RAW_MESSAGE_LIMIT}"
                )
        token = _message_is_digest.set(message_type == "DIGEST")
        try:
            return original(self)
        finally:
            _message_is_digest.reset(token)

    return handler


def _aws_rsa_padding(original: Callable[[Any, str], tuple[Any, Any]]) -> Callable[[Any, str], tuple[Any, Any]]:
    @functools.wraps(original)
    def helper(self: Any, signing_algorithm: str) -> tuple[Any, Any]:
        pad, algorithm = original(self, signing_algorithm)
        if isinstance(pad, padding.PSS):
            pad = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
        return pad, _maybe_prehashed(algorithm)

    return helper


def _aws_ecdsa_hash(original: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    @functools.wraps(original)
    def helper(self: Any, signing_algorithm: str) -> Any:
        return _maybe_prehashed(original(self, signing_algorithm))

    return helper


def _require_usable_key(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        key_id = kwargs["key_id"] if "key_id" in kwargs else args[0]
        key = self.describe_key(key_id)
        if key.key_state == "Disabled":
            raise DisabledException(f"{key.arn} is disabled.")
        if key.key_state != "Enabled":
            state = re.sub(r"(?<!^)(?=[A-Z])", " ", key.key_state).lower()  # PendingDeletion -> pending deletion
            raise KMSInvalidStateException(f"{key.arn} is {state}.")
        return original(self, *args, **kwargs)

    return method


def _raise_on_invalid_signature(original: Callable[..., tuple[str, bool, str]]) -> Callable[..., tuple[str, bool, str]]:
    @functools.wraps(original)
    def method(self: Any, *args: Any, **kwargs: Any) -> tuple[str, bool, str]:
        result = original(self, *args, **kwargs)
        if not result[1]:
            raise KMSInvalidSignatureException()
        return result

    return method


def _aws_public_key_response(original: Callable[[Any], str]) -> Callable[[Any], str]:
    @functools.wraps(original)
    def handler(self: Any) -> str:
        body = json.loads(original(self))
        key = self.kms_backend.describe_key(self._get_param("KeyId"))
        body.update(KeyId=key.arn, KeySpec=key.key_spec, KeyUsage=key.key_usage)
        return json.dumps({name: value for name, value in body.items() if value is not None})

    return handler


_PATCHES: tuple[tuple[type, str, Callable[[Any], Any]], ...] = (
    (KmsResponse, "sign", _honour_message_type),
    (KmsResponse, "verify", _honour_message_type),
    (KmsResponse, "get_public_key", _aws_public_key_response),
    (RSAPrivateKey, "_RSAPrivateKey__padding_and_hash_algorithm", _aws_rsa_padding),
    (ECDSAPrivateKey, "_ECDSAPrivateKey__hash_algorithm", _aws_ecdsa_hash),
    (KmsBackend, "sign", _require_usable_key),
    (KmsBackend, "verify", lambda original: _require_usable_key(_raise_on_invalid_signature(original))),
    (KmsBackend, "get_public_key", _require_usable_key),
)

_lock = threading.Lock()
_installed = 0
_originals: list[tuple[type, str, Any]] = []


def _install() -> None:
    global _installed
    with _lock:
        if _installed == 0:
            missing = [f"{owner.__name__}.{name}" for owner, name, _ in _PATCHES if name not in vars(owner)]
            if missing:
                raise RuntimeError(
                    f"moto no longer defines {', '.join(missing)}; update greenlang_kms_aws.testing.server "
                    "for this moto version."
                )
            for owner, name, wrap in _PATCHES:
                original = vars(owner)[name]
                _originals.append((owner, name, original))
                setattr(owner, name, wrap(original))
        _installed += 1


def _uninstall() -> None:
    global _installed
    with _lock:
        _installed -= 1
        if _installed == 0:
            while _originals:
                owner, name, original = _originals.pop()
                setattr(owner, name, original)


class AwsKmsTestServer(StartStop):
    """moto's KMS API on 127.0.0.1 (free port), behaving as AWS documents; use as a context manager."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region
        self._server: Any = None
        self._endpoint_url: str | None = None

    def start(self) -> Self:
        if self._server is not None:
            return self
        _install()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one request line per call drowns test output
        try:
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
        except BaseException:
            _uninstall()
            raise
        host, port = server.get_host_and_port()
        self._server = server
        self._endpoint_url = f"http://{host}:{port}"
        return self

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            raise RuntimeError("AwsKmsTestServer is not running; call start() or use it in a with block.")
        return self._endpoint_url

    def client(self, **kwargs: Any) -> Any:
        """A real boto3 KMS client for this server, with dummy credentials; kwargs go to `Session.client`."""
        boto3 = importlib.import_module("boto3")  # untyped; imported this way so plain `mypy --strict` passes
        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - a dummy; the test server checks no credentials
            aws_session_token="testing",  # noqa: S106
            region_name=self.region,
        )
        return session.client("kms", endpoint_url=self.endpoint_url, **kwargs)

    def create_key(
        self,
        key_spec: str,
        *,
        usage: str = "SIGN_VERIFY",
        region: str | None = None,
        key_id: str | None = None,
        account_id: str = ACCOUNT_ID,
    ) -> str:
        """Create a key and return its ARN; ``key_id`` gives it a fixed id, as the seed's example key has.

        AWS assigns key ids itself and has no API for choosing one, so a fixed id
        is set here, on the server side.
        """
        backend = kms_backends[account_id][region or self.region]
        key = backend.create_key(policy=None, key_usage=usage, key_spec=key_spec, description="", tags=None)
        if key_id is not None:
            if key_id in backend.keys:
                raise ValueError(f"key id {key_id} already exists in {region or self.region}")
            del backend.keys[key.id]
            key.id = key_id
            key.arn = key.arn.rsplit("/", 1)[0] + "/" + key_id
            backend.keys[key_id] = key
        return str(key.arn)

    def private_key(self, arn: str) -> Any:
        """The ``cryptography`` private key behind ``arn``: a test oracle, since AWS never reveals one."""
        _, _, _, region, account_id, resource = arn.split(":", 5)
        material: Any = kms_backends[account_id][region].keys[resource.removeprefix("key/")].private_key
        return material.private_key  # moto's wrapper around the cryptography key

    def stop(self) -> None:
        if self._server is None:
            return
        server, self._server, self._endpoint_url = self._server, None, None
        try:
            server.stop()
            wsgi_server = getattr(server, "_server", None)  # moto's stop() leaves the listening socket open
            if wsgi_server is not None:
                wsgi_server.server_close()
        finally:
            _uninstall()
