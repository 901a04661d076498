"""How greenlang-core finds this package: the ``gcpkms`` key URI scheme."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from greenlang.hookspecs import hookimpl

__all__ = ["register_kms_providers"]


@hookimpl
def register_kms_providers(register: Callable[[str, Any], None]) -> None:
    from greenlang_kms_gcp.provider import GcpKmsProvider

    register("gcpkms", GcpKmsProvider)
