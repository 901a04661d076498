"""How greenlang-core finds this package: the ``postgresql`` backend and the ``greenlang db`` commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from greenlang.hookspecs import hookimpl

__all__ = ["register_auth_backends", "register_commands"]


def _backend(**options: Any) -> Any:
    from greenlang_pg.backend import PostgreSQLBackend

    return PostgreSQLBackend(**options)


def _async_backend(**options: Any) -> Any:
    from greenlang_pg.backend_async import AsyncPostgreSQLBackend

    return AsyncPostgreSQLBackend(**options)


def _exports() -> dict[str, Any]:
    """What ``greenlang.auth.backends.postgresql`` re-exports (the seed's import path)."""
    import greenlang_pg

    return {name: getattr(greenlang_pg, name) for name in greenlang_pg.__all__}


@hookimpl
def register_auth_backends(register: Callable[..., None]) -> None:
    register("postgresql", _backend, async_factory=_async_backend, exports=_exports)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from greenlang_pg.commands import db

    cli.add_command(db)
