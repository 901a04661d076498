"""Conformance suites that backend and KMS provider authors run against their code, and the helpers they need.

Imports are lazy so that loading the pytest plugin never imports the suite
before pytest has registered it for assertion rewriting.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from greenlang.testing.facade import SyncFacade
    from greenlang.testing.hooks import ConformanceHooks
    from greenlang.testing.openssl import openssl_verifies, require_openssl
    from greenlang.testing.suite import BackendConformance
    from greenlang.testing.suite_audit import expected_hash
    from greenlang.testing.suite_kms import KMSProviderConformance, verify_independently
    from greenlang.testing.suite_records import store_contents

__all__ = [
    "BackendConformance",
    "ConformanceHooks",
    "KMSProviderConformance",
    "SyncFacade",
    "expected_hash",
    "openssl_verifies",
    "require_openssl",
    "store_contents",
    "verify_independently",
]

_HOMES = {
    "BackendConformance": "greenlang.testing.suite",
    "ConformanceHooks": "greenlang.testing.hooks",
    "SyncFacade": "greenlang.testing.facade",
    "expected_hash": "greenlang.testing.suite_audit",
    "store_contents": "greenlang.testing.suite_records",
    "KMSProviderConformance": "greenlang.testing.suite_kms",
    "verify_independently": "greenlang.testing.suite_kms",
    "openssl_verifies": "greenlang.testing.openssl",
    "require_openssl": "greenlang.testing.openssl",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'greenlang.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
