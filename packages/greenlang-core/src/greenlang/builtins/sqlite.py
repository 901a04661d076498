"""Registers the embedded SQLite store as backend ``sqlite``."""

from __future__ import annotations

from collections.abc import Callable

from greenlang.hookspecs import hookimpl


@hookimpl
def register_auth_backends(register: Callable[..., None]) -> None:
    from greenlang.auth.backends.sqlite import AsyncSQLiteBackend, SQLiteBackend

    register("sqlite", SQLiteBackend, async_factory=AsyncSQLiteBackend)
