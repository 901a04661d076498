"""The Key Vault clients: one shared HTTPS transport, azure-core's own retries, and a deadline over all attempts."""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

import requests
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.keyvault.keys import KeyClient, KeyVaultKey
from azure.keyvault.keys.crypto import CryptographyClient

from greenlang.errors import KeyUnusableError
from greenlang.security.kms.retry import RetryPolicy, current_deadline

__all__ = ["VaultClients", "MAX_POOL_CONNECTIONS", "SIGN_RETRY_METHODS", "default_credential"]

SIGN_RETRY_METHODS = frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE", "POST"})
"""azure-core retries a read timeout only for idempotent methods; Sign is a POST that changes nothing, so it too."""

MAX_POOL_CONNECTIONS = 32
"""Kept-alive connections: requests' default of 10 would make ``sign_many`` with more workers reconnect per call."""


class _AttemptGuard(HTTPPolicy[Any, Any]):
    """Runs around every attempt (it sits after the retry policy).

    A retry sequence out of time stops before its next attempt, and a vault whose
    certificate is not trusted is refused at once: retrying cannot fix it, and it
    must never pass for an outage that a fallback key would then cover.
    """

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        deadline = current_deadline().get()
        if deadline is not None:
            deadline.check("the Azure Key Vault call")
        try:
            return self.next.send(request)
        except ServiceRequestError as exc:
            if _untrusted_certificate(exc):
                raise KeyUnusableError(
                    f"the certificate of {urlsplit(request.http_request.url).netloc} is not trusted, so nothing "
                    "was sent; pass connection_verify= with the CA bundle (PEM) that issued it."
                ) from None
            raise


def _untrusted_certificate(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = getattr(seen, "inner_exception", None) or seen.__cause__ or seen.__context__
    return False


def default_credential() -> Any:
    """``DefaultAzureCredential``: environment (secret or certificate), workload and managed identity, Azure CLI."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


class VaultClients:
    """A ``KeyClient`` for one vault and a ``CryptographyClient`` per pinned key version, sharing one transport.

    ``policy`` becomes azure-core's retry settings: ``retry_total`` from
    ``max_attempts`` (connection, read and status retries bounded alike), the
    per-attempt timeouts, and ``timeout`` for the whole sequence.
    """

    def __init__(
        self,
        vault_url: str,
        credential: Any,
        policy: RetryPolicy,
        *,
        connection_verify: bool | str = True,
        verify_challenge_resource: bool = True,
    ) -> None:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=MAX_POOL_CONNECTIONS)
        session.mount("https://", adapter)
        self._transport = RequestsTransport(
            session=session,
            session_owner=False,
            connection_verify=connection_verify,
            connection_timeout=policy.connect_timeout,
            read_timeout=policy.read_timeout,
        )
        retries = policy.max_attempts - 1
        self._options: dict[str, Any] = {
            "transport": self._transport,
            "verify_challenge_resource": verify_challenge_resource,
            "retry_total": retries,
            "retry_connect": retries,
            "retry_read": retries,
            "retry_status": retries,
            "timeout": policy.deadline_seconds,
            "per_retry_policies": [_AttemptGuard()],
            "user_agent": "greenlang-kms-azure",
        }
        self.credential = credential
        self.keys = KeyClient(vault_url, credential, **self._options)
        self._crypto: dict[str, CryptographyClient] = {}

    def crypto(self, key: KeyVaultKey) -> CryptographyClient:
        """The client for exactly ``key.id`` (a versioned id); built from the key, so it never re-fetches it."""
        kid = str(key.id)
        client = self._crypto.get(kid)
        if client is None:
            client = self._crypto.setdefault(kid, CryptographyClient(key, self.credential, **self._options))
        return client
