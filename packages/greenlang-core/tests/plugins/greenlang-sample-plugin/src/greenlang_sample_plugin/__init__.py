"""Registers one of each thing a plugin can register, the way a real plugin would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from greenlang.hookspecs import hookimpl


def _memory_backend(**options: Any) -> Any:
    from greenlang.auth.backends.sqlite import SQLiteBackend

    return SQLiteBackend(":memory:")


class SampleKeyProvider:
    """Opens ``sample:///<path>`` as a local key, to prove scheme dispatch goes through plugins."""

    @staticmethod
    def open(uri: str, **options: Any) -> Any:
        from greenlang.security.local import LocalKeyProvider

        return LocalKeyProvider.open("file://" + uri.removeprefix("sample://"), **options)


@hookimpl
def register_auth_backends(register: Callable[..., None]) -> None:
    register("sample-memory", _memory_backend)


@hookimpl
def register_kms_providers(register: Callable[[str, Any], None]) -> None:
    register("sample", SampleKeyProvider)


@hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.command("sample-hello")
    def hello() -> None:
        """Say hello from the sample plugin."""
        click.echo("hello from greenlang-sample-plugin")
