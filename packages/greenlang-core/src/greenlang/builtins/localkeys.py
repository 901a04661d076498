"""Registers local PEM keys as key URI scheme ``file``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from greenlang.hookspecs import hookimpl


@hookimpl
def register_kms_providers(register: Callable[[str, Any], None]) -> None:
    from greenlang.security.local import LocalKeyProvider

    register("file", LocalKeyProvider)
