"""`LocalCloudKms`: an in-process Cloud KMS for tests, over gRPC and REST at once, on 127.0.0.1 only.

The real ``KeyManagementServiceClient`` talks to it unmodified: over gRPC through an insecure channel
transport, over REST with ``client_options={"api_endpoint": rest_endpoint}`` and anonymous credentials.
Both front ends share one key store, one set of faults and one call log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Self

import grpc
import grpc.aio
from google.auth.credentials import AnonymousCredentials
from google.cloud.kms_v1 import KeyManagementServiceAsyncClient, KeyManagementServiceClient
from google.cloud.kms_v1.services.key_management_service.transports import (
    KeyManagementServiceGrpcAsyncIOTransport,
    KeyManagementServiceGrpcTransport,
)

from greenlang.testing.loopback import StartStop
from greenlang_kms_gcp.testing.algorithms import PrivateKey
from greenlang_kms_gcp.testing.dispatch import Call, Dispatcher
from greenlang_kms_gcp.testing.faults import Faults
from greenlang_kms_gcp.testing.grpc_server import GrpcFrontEnd
from greenlang_kms_gcp.testing.keystore import KeyStore, key_ring_name
from greenlang_kms_gcp.testing.rest import RestFrontEnd
from greenlang_kms_gcp.testing.service import KeyManagementService
from greenlang_kms_gcp.testing.status import ServiceError

__all__ = ["LocalCloudKms"]


@contextlib.contextmanager
def _as_python_errors() -> Iterator[None]:
    """The test-facing API raises KeyError for an unknown resource and ValueError for bad input."""
    try:
        yield
    except ServiceError as error:
        if error.code == "NOT_FOUND":
            raise KeyError(error.message) from None
        raise ValueError(error.message) from None


class LocalCloudKms(StartStop):
    """A local Cloud KMS; use as a context manager or call `start` and `stop`.

    Keys survive a restart; `reset` clears the faults, the latency and the call log, not the keys.
    """

    def __init__(self) -> None:
        self._store = KeyStore()
        self.faults = Faults()
        self._dispatcher = Dispatcher(KeyManagementService(self._store), self.faults)
        self._grpc = GrpcFrontEnd(self._dispatcher)
        self._rest = RestFrontEnd(self._dispatcher)
        self._running = False

    def start(self) -> Self:
        if self._running:
            return self
        self._dispatcher.stopping.clear()
        self._grpc.start()
        try:
            self._rest.start()
        except BaseException:
            self._grpc.stop()
            raise
        self._running = True
        return self

    def stop(self) -> None:
        """Stop both front ends; calls held by latency are answered UNAVAILABLE."""
        if not self._running:
            return
        self._running = False
        self._dispatcher.stopping.set()
        self._grpc.stop()
        self._rest.stop()

    @property
    def grpc_target(self) -> str:
        """``127.0.0.1:<port>``, for ``grpc.insecure_channel``."""
        self._require_running()
        return f"127.0.0.1:{self._grpc.port}"

    @property
    def rest_endpoint(self) -> str:
        """``http://127.0.0.1:<port>``, for ``client_options={"api_endpoint": ...}`` with ``transport="rest"``."""
        self._require_running()
        return f"http://127.0.0.1:{self._rest.port}"

    def grpc_client(self) -> KeyManagementServiceClient:
        """A real client over a plaintext channel to this server; close it with ``client.transport.close()``."""
        channel = grpc.insecure_channel(self.grpc_target, options=[("grpc.enable_http_proxy", 0)])
        return KeyManagementServiceClient(transport=KeyManagementServiceGrpcTransport(channel=channel))

    def async_client(self) -> KeyManagementServiceAsyncClient:
        """A real async client over a plaintext ``grpc.aio`` channel; make it inside the event loop that uses it."""
        channel = grpc.aio.insecure_channel(self.grpc_target, options=[("grpc.enable_http_proxy", 0)])
        return KeyManagementServiceAsyncClient(transport=KeyManagementServiceGrpcAsyncIOTransport(channel=channel))

    def rest_client(self) -> KeyManagementServiceClient:
        """A real client over the REST transport to this server, with anonymous credentials."""
        return KeyManagementServiceClient(
            transport="rest",
            client_options={"api_endpoint": self.rest_endpoint},
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )

    @property
    def calls(self) -> list[Call]:
        """Every call answered since start or the last `reset`, in the order answered."""
        return self._dispatcher.calls

    def count(self, method: str = "*", *, transport: str | None = None, code: str | None = None) -> int:
        """How many logged calls match ``method`` ("*" for any), and ``transport`` and ``code`` if given."""
        return sum(
            1
            for call in self._dispatcher.calls
            if method in ("*", call.method)
            and (transport is None or call.transport == transport)
            and (code is None or call.code == code)
        )

    def reset(self) -> None:
        """Clear queued faults, latency and the call log; keys stay."""
        self.faults.clear()
        self._dispatcher.clear_log()

    def create_key(
        self,
        key_id: str,
        algorithm: str,
        *,
        versions: int = 1,
        purpose: str = "ASYMMETRIC_SIGN",
        project: str = "greenlang-test",
        location: str = "global",
        key_ring: str = "ring",
        protection_level: str = "SOFTWARE",
        fresh: bool = False,
    ) -> str:
        """Create a crypto key with ``versions`` enabled versions; returns its resource name.

        RSA versions share one private key per size unless ``fresh``; EC and Ed25519 keys are always new.
        A ``GOOGLE_SYMMETRIC_ENCRYPTION`` key needs ``purpose="ENCRYPT_DECRYPT"``.
        """
        with _as_python_errors():
            ring = key_ring_name(project, location, key_ring)
            key = self._store.create_key(
                ring,
                key_id,
                algorithm,
                purpose=purpose,
                protection_level=protection_level,
                versions=versions,
                fresh=fresh,
            )
        return key.name

    def add_version(self, key_name: str, *, fresh: bool = False) -> str:
        """Add an enabled version to the key; returns its resource name (numbers go 1, 2, ..., 10, ...)."""
        with _as_python_errors():
            return self._store.add_version(key_name, fresh=fresh).name

    def versions(self, key_name: str) -> list[str]:
        """The key's version names, oldest first."""
        with _as_python_errors(), self._store.lock:
            return [version.name for version in self._store.key(key_name).versions.values()]

    def set_state(self, version_name: str, state: str) -> None:
        """Put a version in ``state`` (``ENABLED``, ``DISABLED``, ``DESTROY_SCHEDULED``, ``DESTROYED``, ...)."""
        with _as_python_errors():
            self._store.set_state(version_name, state)

    def private_key(self, version_name: str) -> PrivateKey:
        """The version's private key, as an oracle for tests; symmetric versions have none (ValueError)."""
        with _as_python_errors():
            version = self._store.version(version_name)
        if version.private_key is None:
            raise ValueError(f"{version_name} is a {version.algorithm.name} version; it has no private key.")
        return version.private_key

    def _require_running(self) -> None:
        if not self._running:
            raise RuntimeError("LocalCloudKms is not running; call start() or use it in a with block.")
