"""Implements a hook name that does not exist."""

from collections.abc import Callable

from greenlang.hookspecs import hookimpl


@hookimpl
def register_auth_backendz(register: Callable[..., None]) -> None:
    register("never-seen", object)
