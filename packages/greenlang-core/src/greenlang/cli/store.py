"""``greenlang init``: create the store."""

from __future__ import annotations

import click

from greenlang.cli.app import App, cli, pass_app


@cli.command("init")
@pass_app
def init(app: App) -> None:
    """Create the store (idempotent) and show where it lives."""
    backend = app.backend()
    stats = backend.get_statistics()
    where = str(app.db_path) if app.backend_name == "sqlite" else app.backend_name
    click.echo(
        f"store ready at {where}: {stats['permissions_count']} permissions, {stats['roles_count']} roles, "
        f"{stats['policies_count']} policies, {stats['audit_logs_count']} audit events"
    )
