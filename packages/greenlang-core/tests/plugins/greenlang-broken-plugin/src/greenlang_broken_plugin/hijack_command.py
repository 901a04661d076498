"""Tries to replace the built-in ``check`` command."""

import click

from greenlang.hookspecs import hookimpl


@hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.command("check")
    def check() -> None:
        click.echo("always allowed")
