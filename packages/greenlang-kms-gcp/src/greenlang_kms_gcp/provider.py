"""``GcpKmsProvider``: the ``gcpkms`` key scheme, signing with Cloud KMS key versions, integrity checked end to end."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import Any, TypeVar

from cryptography.hazmat.primitives.serialization import load_pem_public_key

from greenlang.errors import GreenlangError, InputError, KeyUnusableError, KMSError, shown
from greenlang.security.algorithms import ALGORITHMS, Algorithm, Family, PublicKey, key_type
from greenlang.security.kms.provider import KMSProvider, RemoteKey, sdk_call
from greenlang.security.kms.uris import GcpKeyUri
from greenlang_kms_gcp.client import async_kms_client, call_options, kms_client
from greenlang_kms_gcp.errors import translate
from greenlang_kms_gcp.integrity import IntegrityError, check_public_key_response, check_signature_response, crc32c

__all__ = ["GcpKmsProvider", "SIGNING_ALGORITHMS", "MAX_DATA_BYTES"]

T = TypeVar("T")

SIGNING_ALGORITHMS: dict[str, Algorithm] = {
    row.provider_ids["gcp"]: row for row in ALGORITHMS.values() if "gcp" in row.provider_ids
}
"""Cloud KMS algorithm names (``EC_SIGN_P256_SHA256``...) and the core table's row for each."""


class GcpKmsProvider(KMSProvider):
    """Signs with the Cloud KMS key named by ``gcpkms://projects/.../cryptoKeys/<k>[/cryptoKeyVersions/<n>]``.

    A reference ending in a version is pinned to it. A reference to the crypto key
    resolves, once per cache period, to its highest ENABLED version (compared as
    numbers). The algorithm always comes from that version's own metadata.
    ``transport`` is ``grpc`` (default) or ``rest``; ``client`` injects a prepared
    ``KeyManagementServiceClient``. The async API uses ``KeyManagementServiceAsyncClient``
    over gRPC when the provider builds its own gRPC client, or when ``async_client``
    (a function returning one, called in the running event loop) is given; otherwise
    it runs the sync client in worker threads, so both APIs always reach the same service.
    """

    provider = "gcp"
    scheme = "gcpkms"

    def __init__(
        self,
        uri: str,
        *,
        client: Any = None,
        async_client: Callable[[], Any] | None = None,
        credentials: Any = None,
        transport: str = "grpc",
        api_endpoint: str | None = None,
        **options: Any,
    ) -> None:
        ref = GcpKeyUri.parse(uri)
        if "endpoint_url" in options:
            raise InputError("endpoint_url applies to AWS keys; pass api_endpoint= for a Cloud KMS endpoint.")
        if client is not None and not callable(getattr(client, "asymmetric_sign", None)):
            raise InputError(f"client must be a KeyManagementServiceClient, not {type(client).__name__}.")
        if async_client is not None and not callable(async_client):
            raise InputError("async_client must be a function returning a KeyManagementServiceAsyncClient.")
        super().__init__(ref.uri(), **options)
        self.key = ref
        self.client = client if client is not None else self._build(credentials, transport, api_endpoint)
        self._async_factory = async_client
        if async_client is None and client is None and transport == "grpc":
            self._async_factory = lambda: async_kms_client(credentials=credentials, api_endpoint=api_endpoint)
        self._async_client: tuple[weakref.ref[asyncio.AbstractEventLoop], Any, AsyncGenerator[None]] | None = None

    @property
    def _native_async(self) -> bool:
        return self._async_factory is not None

    def _build(self, credentials: Any, transport: str, api_endpoint: str | None) -> Any:
        try:
            return kms_client(credentials=credentials, transport=transport, api_endpoint=api_endpoint)
        except GreenlangError:
            raise
        except Exception as exc:
            raise translate(exc, self.uri) from None

    def _gcp(self, key: str, call: Callable[[], T]) -> T:
        return sdk_call(translate, key, call)

    def _fetch_key(self, ref: str) -> RemoteKey:
        asked = GcpKeyUri.parse(ref)
        if asked.key_name != self.key.key_name:
            raise InputError(f"key {ref} is another crypto key than {self.key.uri()}; open a provider for it.")
        version = self._version(asked)
        name = str(version.name)
        state = version.state.name
        if state != "ENABLED":
            raise KeyUnusableError(f"key version {name} is {state}; enable it or use another version.")
        gcp_algorithm = version.algorithm.name
        algorithm = SIGNING_ALGORITHMS.get(gcp_algorithm)
        if algorithm is None:
            raise KeyUnusableError(
                f"key version {name} uses {gcp_algorithm}, which greenlang-kms-gcp does not sign with; "
                f"use one of {', '.join(sorted(SIGNING_ALGORITHMS))}."
            )
        self.check_algorithm_fits(algorithm.key_type)  # before fetching the public key
        response = self._gcp(name, lambda: self.client.get_public_key(request={"name": name}, **self._options()))
        pem = check_public_key_response(response, name)
        if response.algorithm.name != gcp_algorithm:
            raise IntegrityError(
                f"Cloud KMS described {name} as {gcp_algorithm} but its public key as {response.algorithm.name}."
            )
        public_key = _public_key(pem, name)
        if key_type(public_key) != algorithm.key_type:
            raise KMSError(f"key version {name} is {gcp_algorithm} but its public key is {key_type(public_key)}.")
        return RemoteKey(
            public_key=public_key,
            key_ref=GcpKeyUri.from_resource_name(name).uri(),
            offered=(gcp_algorithm,),
            spec=gcp_algorithm,
            enabled=True,
            rotation_enabled=False,
        )

    def _options(self) -> dict[str, Any]:
        return call_options(self.retry)

    def _version(self, asked: GcpKeyUri) -> Any:
        """The pinned version, or the crypto key's highest ENABLED version."""
        if asked.version is not None:
            name = asked.resource_name
            version = self._gcp(
                name, lambda: self.client.get_crypto_key_version(request={"name": name}, **self._options())
            )
            if version.name != name:
                raise IntegrityError(f"Cloud KMS described {version.name} when asked for {name}; not signing.")
            return version
        key_name = asked.key_name
        crypto_key = self._gcp(
            key_name, lambda: self.client.get_crypto_key(request={"name": key_name}, **self._options())
        )
        purpose = crypto_key.purpose.name
        if purpose != "ASYMMETRIC_SIGN":
            raise KeyUnusableError(f"key {key_name} has purpose {purpose}, not ASYMMETRIC_SIGN; use a signing key.")
        request = {"parent": key_name, "filter": "state=ENABLED"}
        pages = self._gcp(
            key_name, lambda: list(self.client.list_crypto_key_versions(request=request, **self._options()))
        )
        enabled = [
            v for v in pages if v.state.name == "ENABLED" and v.name.startswith(f"{key_name}/cryptoKeyVersions/")
        ]
        if not enabled:
            raise KeyUnusableError(f"key {key_name} has no ENABLED version; enable or create one.")
        return max(enabled, key=lambda v: int(str(v.name).rsplit("/", 1)[1]))

    def _sign_digest(self, key: RemoteKey, algorithm: Algorithm, message: bytes) -> bytes:
        name, request = _sign_request(key, algorithm, message)
        response = self._gcp(name, lambda: self.client.asymmetric_sign(request=request, **self._options()))
        return check_signature_response(response, name, data=algorithm.family is Family.ED25519)

    async def _sign_digest_async(self, key: RemoteKey, algorithm: Algorithm, message: bytes) -> bytes:
        """The same request through the async client, or the sync one in a thread when there is none."""
        if self._async_factory is None:
            return await asyncio.to_thread(self._sign_digest, key, algorithm, message)
        name, request = _sign_request(key, algorithm, message)
        client = await self._client_for(asyncio.get_running_loop(), self._async_factory)
        try:
            response = await client.asymmetric_sign(request=request, **call_options(self.retry, asynchronous=True))
        except GreenlangError:
            raise
        except Exception as exc:
            raise translate(exc, name) from exc
        return check_signature_response(response, name, data=algorithm.family is Family.ED25519)

    async def _client_for(self, loop: asyncio.AbstractEventLoop, factory: Callable[[], Any]) -> Any:
        """One async client, for the newest event loop, closed in that loop when it shuts down.

        A gRPC asyncio channel must be closed in its own loop or it keeps that loop
        alive; an async generator is what ``asyncio.run`` closes at shutdown, so one
        holds the client and closes it then.
        """
        held = self._async_client
        if held is not None and held[0]() is loop:
            return held[1]
        client = self._gcp(self.uri, factory)
        guard = self._closed_at_shutdown(client)
        await anext(guard)
        self._async_client = (weakref.ref(loop), client, guard)
        return client

    async def _closed_at_shutdown(self, client: Any) -> AsyncGenerator[None]:
        try:
            yield
        finally:
            if self._async_client is not None and self._async_client[1] is client:
                self._async_client = None  # gRPC frees a finished loop only once no channel is left open
            with contextlib.suppress(Exception):
                await client.transport.close()

    async def aclose(self) -> None:
        """Close the async client now (``asyncio.run`` does it at shutdown; other loops should call this)."""
        held, self._async_client = self._async_client, None
        if held is not None:
            await held[2].aclose()


MAX_DATA_BYTES = 64 * 1024
"""Ed25519 signs the payload itself, which Cloud KMS takes as request data; larger payloads are refused up front."""


def _sign_request(key: RemoteKey, algorithm: Algorithm, message: bytes) -> tuple[str, dict[str, Any]]:
    """The AsymmetricSign request for ``message``: the digest (or Ed25519's data) with its CRC32C."""
    name = GcpKeyUri.parse(key.key_ref).resource_name
    if algorithm.family is Family.ED25519:
        if len(message) > MAX_DATA_BYTES:
            raise InputError(
                f"key {name} is Ed25519, which signs the payload itself, and Cloud KMS takes at most "
                f"{MAX_DATA_BYTES // 1024} KiB of data; sign a smaller statement of the report's digest "
                "(greenlang sign does this for artifacts) or use an EC or RSA key."
            )
        return name, {"name": name, "data": message, "data_crc32c": crc32c(message)}
    assert algorithm.hash_name is not None
    return name, {"name": name, "digest": {algorithm.hash_name: message}, "digest_crc32c": crc32c(message)}


def _public_key(pem: bytes, name: str) -> PublicKey:
    try:
        loaded = load_pem_public_key(pem)
    except ValueError:
        raise KMSError(f"Cloud KMS returned a public key for {shown(name)} that is not valid PEM.") from None
    key_type(loaded)
    return loaded  # type: ignore[return-value]
