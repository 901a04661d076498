"""Signing with keys held in a key-management service.

``provider`` holds ``KMSProvider``, the base every cloud plugin extends;
``uris`` parses key references; ``cache``, ``retry`` and ``breaker`` are the
parts every provider shares; ``external`` keeps the seed's API
(``ExternalKMSSigner``, ``KMSConfig``, ``create_kms_provider``).
"""

from greenlang.security.kms.breaker import BreakerState, CircuitBreaker
from greenlang.security.kms.cache import CacheStats
from greenlang.security.kms.external import ExternalKMSSigner, KMSConfig, create_kms_provider
from greenlang.security.kms.provider import BatchItem, KeyInfo, KMSProvider, RemoteKey, ResolvedKey
from greenlang.security.kms.retry import RetryPolicy
from greenlang.security.signing import SignResult

BaseKMSProvider = KMSProvider
"""The seed's name for ``KMSProvider``."""
KMSSignResult = SignResult
"""The seed's name for a KMS provider's result; every signer returns ``SignResult``."""

__all__ = [
    "BaseKMSProvider",
    "BatchItem",
    "BreakerState",
    "CacheStats",
    "CircuitBreaker",
    "ExternalKMSSigner",
    "KeyInfo",
    "KMSConfig",
    "KMSProvider",
    "KMSSignResult",
    "RemoteKey",
    "ResolvedKey",
    "RetryPolicy",
    "create_kms_provider",
]
