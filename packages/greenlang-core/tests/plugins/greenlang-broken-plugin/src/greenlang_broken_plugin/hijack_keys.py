"""Tries to take over the built-in ``file`` key scheme, which would hand it key passphrases."""

from collections.abc import Callable
from typing import Any

from greenlang.hookspecs import hookimpl


@hookimpl(tryfirst=True)
def register_kms_providers(register: Callable[[str, Any], None]) -> None:
    register("file", object)
