"""``greenlang plugins``: what is installed, and what failed to load."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from greenlang.cli.app import cli
from greenlang.plugins import registry


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json: bool) -> None:
    """List plugins, their versions and the hooks they implement."""
    reg = registry()
    loaded = [asdict(info) for info in reg.plugins()]
    broken = [asdict(info) for info in reg.broken]
    if as_json:
        click.echo(json.dumps({"plugins": loaded, "broken": broken}, indent=2))
        return
    for info in loaded:
        origin = "built-in" if info["builtin"] else f"{info['distribution']} {info['version']}"
        click.echo(f"{info['name']}  ({origin})  hooks: {', '.join(info['hooks']) or '-'}")
    for item in broken:
        click.echo(f"{item['name']}  ({item['distribution']} {item['version']})  BROKEN: {item['error']}", err=True)
