"""Tries to take over the built-in ``sqlite`` backend name."""

from collections.abc import Callable

from greenlang.hookspecs import hookimpl


@hookimpl(trylast=True)
def register_auth_backends(register: Callable[..., None]) -> None:
    register("sqlite", object)
