"""The Cloud KMS client, and google-api-core retry settings made from the core ``RetryPolicy``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from google.api_core.client_options import ClientOptions
from google.api_core.retry import AsyncRetry, Retry
from google.auth.credentials import AnonymousCredentials
from google.cloud import kms
from google.cloud.kms_v1.services.key_management_service.transports import (
    KeyManagementServiceGrpcAsyncIOTransport,
    KeyManagementServiceGrpcTransport,
)

from greenlang.errors import InputError, shown
from greenlang.security.kms.retry import RetryPolicy, current_deadline
from greenlang_kms_gcp.errors import RETRYABLE

__all__ = ["TRANSPORTS", "kms_client", "async_kms_client", "call_options"]

TRANSPORTS = ("grpc", "rest")


def kms_client(*, credentials: Any = None, transport: str = "grpc", api_endpoint: str | None = None) -> Any:
    """A ``KeyManagementServiceClient`` with Application Default Credentials unless ``credentials`` is given.

    ADC reads ``GOOGLE_APPLICATION_CREDENTIALS`` (a service account file), the
    gcloud application-default login, or the attached service account. An
    ``http://`` endpoint is a local emulator on the loopback: plaintext, anonymous.
    """
    if transport not in TRANSPORTS:
        raise InputError(f"transport must be grpc or rest, not {shown(transport)}.")
    emulator = _emulator(api_endpoint)
    if emulator is None:
        options = {"api_endpoint": api_endpoint} if api_endpoint else None
        return kms.KeyManagementServiceClient(credentials=credentials, transport=transport, client_options=options)
    if credentials is not None:
        raise InputError("a local emulator (an http:// api_endpoint) takes no credentials; drop credentials=.")
    if transport == "rest":
        return kms.KeyManagementServiceClient(
            transport="rest",
            client_options={"api_endpoint": f"http://{emulator}"},
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )
    channel = grpc.insecure_channel(emulator, options=[("grpc.enable_http_proxy", 0)])
    return kms.KeyManagementServiceClient(transport=KeyManagementServiceGrpcTransport(channel=channel))


def async_kms_client(*, credentials: Any = None, api_endpoint: str | None = None) -> Any:
    """A ``KeyManagementServiceAsyncClient`` (gRPC asyncio) for the running event loop."""
    emulator = _emulator(api_endpoint)
    if emulator is not None:
        channel = grpc.aio.insecure_channel(emulator, options=[("grpc.enable_http_proxy", 0)])
        return kms.KeyManagementServiceAsyncClient(transport=KeyManagementServiceGrpcAsyncIOTransport(channel=channel))
    options = ClientOptions(api_endpoint=api_endpoint) if api_endpoint else None
    return kms.KeyManagementServiceAsyncClient(credentials=credentials, client_options=options)


_LOOPBACK = {"127.0.0.1", "localhost", "[::1]"}


_ENDPOINT = re.compile(r"(?:https://)?[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::(\d{1,5}))?/?")


def _emulator(api_endpoint: str | None) -> str | None:
    """``host:port`` of a plaintext ``http://`` endpoint on the loopback; ``None`` for a TLS endpoint."""
    if api_endpoint is None:
        return None
    text = api_endpoint.strip() if isinstance(api_endpoint, str) else ""
    if not text.lower().startswith("http://"):
        match = _ENDPOINT.fullmatch(text)
        if match is None or not _port_ok(match.group(1)):
            raise InputError(
                f"api_endpoint {shown(api_endpoint)} is not a host[:port] such as cloudkms.googleapis.com "
                "or europe-west1-cloudkms.googleapis.com."
            )
        return None
    target = text[len("http://") :].rstrip("/")
    host, _, port = target.rpartition(":")
    if host.lower() not in _LOOPBACK or not port.isdigit() or not _port_ok(port):
        raise InputError(
            f"api_endpoint {shown(api_endpoint)} is plain http, which is only for a local emulator "
            "(http://127.0.0.1:<port 1-65535>); use a host name, over TLS, for Cloud KMS."
        )
    return target


def _port_ok(port: str | None) -> bool:
    return port is None or 0 < int(port) < 65536


@dataclass
class _Attempts:
    """Retry predicate that allows ``max_attempts`` tries in all and stops once the core deadline has passed."""

    max_attempts: int
    failures: int = field(default=0)

    def __call__(self, exc: Exception) -> bool:
        if not isinstance(exc, RETRYABLE):
            return False
        self.failures += 1
        deadline = current_deadline().get()
        if deadline is not None and deadline.remaining() <= 0:
            return False
        return self.failures < self.max_attempts


def call_options(policy: RetryPolicy, *, asynchronous: bool = False) -> dict[str, Any]:
    """``retry`` and ``timeout`` for one call: exponential backoff with jitter, bounded attempts and deadline.

    ``timeout`` bounds each attempt (connect plus read), so a stalled attempt is
    abandoned and retried as DeadlineExceeded; ``Retry.timeout`` bounds them all.
    """
    kind = AsyncRetry if asynchronous else Retry
    retry = kind(
        predicate=_Attempts(policy.max_attempts),
        initial=0.1,
        maximum=min(10.0, policy.deadline_seconds),
        multiplier=2.0,
        timeout=policy.deadline_seconds,
    )
    return {"retry": retry, "timeout": min(policy.connect_timeout + policy.read_timeout, policy.deadline_seconds)}
