"""Forget the Key Vault SDK's cached authentication challenges between tests.

azure-keyvault-keys caches each vault's 401 challenge in a module-global dict keyed by host, shared by every
client in the process. A test that needs to see the challenge round-trip again, or that switches a host from
one local vault to another, must clear it first. ``http_challenge_cache.clear`` is the SDK's own function for
that; nothing is patched.
"""

from __future__ import annotations

from azure.keyvault.keys._shared import http_challenge_cache

__all__ = ["clear_challenge_cache"]


def clear_challenge_cache() -> None:
    """Drop every cached challenge, so each client's next request starts with the unauthenticated probe."""
    http_challenge_cache.clear()
