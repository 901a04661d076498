"""Storage backends, found by name through the plugin registry.

``open_backend("sqlite", path=...)`` works the same for the built-in store and
for any plugin's (``"postgresql"`` from ``greenlang-core[pg]``): the core never
imports a backend module by name.
"""

from __future__ import annotations

from typing import Any

from greenlang.auth.backends.base import AsyncAuthBackend, AuthBackend, PolicyState
from greenlang.errors import MissingPluginError

__all__ = ["AuthBackend", "AsyncAuthBackend", "PolicyState", "open_backend", "open_async_backend"]


def open_backend(name: str = "sqlite", **options: Any) -> AuthBackend:
    """A synchronous store from the backend registered as ``name``, built with ``options``."""
    from greenlang.plugins import registry

    factory = registry().backend(name).value
    backend: AuthBackend = factory(**options)
    return backend


def open_async_backend(name: str = "sqlite", **options: Any) -> AsyncAuthBackend:
    """An asyncio store from the backend registered as ``name``, built with ``options``."""
    from greenlang.plugins import registry

    registration = registry().backend(name)
    factory = registration.extra.get("async_factory")
    if factory is None:
        raise MissingPluginError(
            f"the storage backend {name!r} (from {registration.plugin}) has no asyncio flavour; "
            "use open_backend() or install a plugin that registers async_factory"
        )
    backend: AsyncAuthBackend = factory(**options)
    return backend
