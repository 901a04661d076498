"""One authorizer per tenant, loaded the first time that tenant is asked about.

A store may hold many tenants; a process usually serves a few of them at a
time. ``Tenants`` keeps an authorizer per tenant, each loading only its
tenant's rows and the shared ones (``load_policy_state(tenant=...)``), and
forgets the least recently used when it would hold more than ``max_tenants``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from cachetools import LRUCache

from greenlang.auth.backends.arguments import check_tenant
from greenlang.auth.decision import Decision
from greenlang.auth.decision_cache import DEFAULT_MAX_ENTRIES
from greenlang.auth.engine import AsyncAuthorizer, Authorizer, check_backend, check_options
from greenlang.auth.snapshot import AsyncPolicySource, PolicySource
from greenlang.errors import InputError
from greenlang.timeutil import Clock, utcnow

__all__ = ["Tenants", "AsyncTenants"]

A = TypeVar("A", Authorizer, AsyncAuthorizer)

DEFAULT_MAX_TENANTS = 64


def _required(tenant: object) -> str:
    """A well-formed tenant id; ``None`` (the whole store) is not a tenant."""
    return cast(str, check_tenant(tenant, optional=False))


def _check_size(max_tenants: Any) -> int:
    if not isinstance(max_tenants, int) or isinstance(max_tenants, bool) or max_tenants < 1:
        raise InputError("max_tenants must be a whole number of at least 1, such as 64")
    return max_tenants


class _Held(Generic[A]):
    """The authorizers held by tenant, least recently used first, and the options each is made with."""

    def __init__(self, max_tenants: int, clock: Clock, cache_size: int, max_staleness: float) -> None:
        check_options(clock, cache_size, max_staleness)
        self._authorizers: LRUCache[str, A] = LRUCache(maxsize=_check_size(max_tenants))
        self._options: dict[str, Any] = {"clock": clock, "cache_size": cache_size, "max_staleness": max_staleness}

    def loaded(self) -> list[str]:
        """Tenants held now (the least recently used is the next to be dropped)."""
        return list(self._authorizers.keys())

    def get_statistics(self) -> dict[str, Any]:
        """Each held tenant's authorizer statistics."""
        held = list(self._authorizers.items())
        return {"max_tenants": self._authorizers.maxsize, "tenants": {t: a.get_statistics() for t, a in held}}


class Tenants(_Held[Authorizer]):
    """Authorizers by tenant over one store; ``check(tenant, ...)`` loads the tenant on first use.

    ``clock``, ``cache_size`` and ``max_staleness`` are passed to each tenant's ``Authorizer``.
    """

    def __init__(
        self,
        backend: PolicySource,
        *,
        max_tenants: int = DEFAULT_MAX_TENANTS,
        clock: Clock = utcnow,
        cache_size: int = DEFAULT_MAX_ENTRIES,
        max_staleness: float = 0.0,
    ) -> None:
        super().__init__(max_tenants, clock, cache_size, max_staleness)
        check_backend(backend)
        self._backend = backend
        self._lock = threading.Lock()

    def authorizer(self, tenant: str) -> Authorizer:
        """The tenant's authorizer, created (and its rows loaded on its first check) if it is not held."""
        with self._lock:
            found = self._authorizers.get(_required(tenant))
            if found is None:
                found = Authorizer(self._backend, tenant=tenant, **self._options)
                self._authorizers[tenant] = found
            return found

    def check(
        self,
        tenant: str,
        subject: str,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None = None,
        *,
        now: datetime | None = None,
    ) -> Decision:
        return self.authorizer(tenant).check(subject, action, resource, context, now=now)

    def loaded(self) -> list[str]:
        with self._lock:
            return super().loaded()

    def get_statistics(self) -> dict[str, Any]:
        with self._lock:
            return super().get_statistics()


class AsyncTenants(_Held[AsyncAuthorizer]):
    """``Tenants`` over an async store."""

    def __init__(
        self,
        backend: AsyncPolicySource,
        *,
        max_tenants: int = DEFAULT_MAX_TENANTS,
        clock: Clock = utcnow,
        cache_size: int = DEFAULT_MAX_ENTRIES,
        max_staleness: float = 0.0,
    ) -> None:
        super().__init__(max_tenants, clock, cache_size, max_staleness)
        check_backend(backend)
        self._backend = backend

    def authorizer(self, tenant: str) -> AsyncAuthorizer:
        """The tenant's authorizer; creating one awaits nothing, as it loads on its first check."""
        found = self._authorizers.get(_required(tenant))
        if found is None:
            found = AsyncAuthorizer(self._backend, tenant=tenant, **self._options)
            self._authorizers[tenant] = found
        return found

    async def check(
        self,
        tenant: str,
        subject: str,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None = None,
        *,
        now: datetime | None = None,
    ) -> Decision:
        return await self.authorizer(tenant).check(subject, action, resource, context, now=now)
