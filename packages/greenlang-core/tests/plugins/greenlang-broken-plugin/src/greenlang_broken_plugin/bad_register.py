"""Imports fine, then fails inside its registration hook."""

from collections.abc import Callable

from greenlang.hookspecs import hookimpl


@hookimpl
def register_auth_backends(register: Callable[..., None]) -> None:
    register("half-registered", object)
    raise RuntimeError("backend configuration is incomplete")
