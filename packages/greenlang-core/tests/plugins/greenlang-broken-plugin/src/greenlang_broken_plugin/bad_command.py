"""Fails while adding its CLI command."""

import click

from greenlang.hookspecs import hookimpl


@hookimpl
def register_commands(cli: click.Group) -> None:
    raise RuntimeError("cannot build the command")
