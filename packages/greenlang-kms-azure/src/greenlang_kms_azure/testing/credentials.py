"""Token credentials that get real tokens from the local vault's directory and record what they were asked.

The Key Vault SDK chooses the scope and tenant from the vault's 401 challenge; a test proves it did so by
reading ``calls``. Tokens are issued for the scope actually requested, so a client that asked for the wrong
resource or tenant is refused by the vault just as the service would refuse it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from azure.core.credentials import AccessToken

__all__ = ["AsyncRecordingCredential", "RecordingCredential", "TokenRequest"]

Issuer = Callable[[str, str | None], tuple[str, float]]
"""(scope, tenant_id) -> (token, expires_at)."""


@dataclass(frozen=True)
class TokenRequest:
    """One ``get_token`` call: the scopes, and the tenant, claims and CAE flag it carried."""

    scopes: tuple[str, ...]
    tenant_id: str | None
    claims: str | None
    enable_cae: bool


class RecordingCredential:
    """A ``TokenCredential`` for the local vault; ``calls`` lists every request in order."""

    def __init__(self, issuer: Issuer) -> None:
        self._issuer = issuer
        self._lock = threading.Lock()
        self.calls: list[TokenRequest] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(calls={len(self.calls)})"

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        if not scopes:
            raise ValueError("get_token needs at least one scope, such as 'https://vault.azure.net/.default'.")
        with self._lock:
            self.calls.append(TokenRequest(tuple(scopes), tenant_id, claims, enable_cae))
        token, expires_at = self._issuer(scopes[0], tenant_id)
        return AccessToken(token, int(expires_at))

    def close(self) -> None:
        """Nothing to release; present because SDK code may close credentials."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncRecordingCredential:
    """The ``AsyncTokenCredential`` twin of `RecordingCredential`, for the SDK's ``aio`` clients."""

    def __init__(self, issuer: Issuer) -> None:
        self._sync = RecordingCredential(issuer)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(calls={len(self.calls)})"

    @property
    def calls(self) -> list[TokenRequest]:
        return self._sync.calls

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return self._sync.get_token(*scopes, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae)

    async def close(self) -> None:
        """Nothing to release."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
