"""``greenlang policy apply``: converge the store to a policy file."""

from __future__ import annotations

from pathlib import Path

import click

from greenlang.auth.policyfile import apply_policy, load_policy_file
from greenlang.cli.app import App, cli, pass_app


@cli.group("policy")
def policy() -> None:
    """Manage roles, assignments and policies from files."""


@policy.command("apply")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--prune", is_flag=True, help="Also delete roles, policies and assignments the file does not name.")
@click.option("--dry-run", is_flag=True, help="Show what would change, and change nothing.")
@click.option("--actor", default=None, help="Who is applying, recorded in the audit trail.")
@pass_app
def apply(app: App, file: Path, prune: bool, dry_run: bool, actor: str | None) -> None:
    """Apply a YAML or JSON policy FILE; re-applying the same file changes nothing."""
    document = load_policy_file(file)
    report = apply_policy(app.backend(), document, actor=actor, prune=prune, dry_run=dry_run)
    for line in report.lines():
        click.echo(line)
    if dry_run and report.changed:
        click.echo("dry run: nothing was written", err=True)
