"""``greenlang db``: apply, undo and inspect the schema migrations of the PostgreSQL store."""

from __future__ import annotations

import click

from greenlang_pg.config import DatabaseConfig

__all__ = ["db"]


def _database(url: str | None) -> DatabaseConfig:
    return DatabaseConfig(url=url) if url else DatabaseConfig.from_env()


_URL = click.option(
    "--url",
    envvar="GL_DB_URL",
    show_envvar=True,
    help="postgresql://user@host:port/db; else GL_DB_HOST, GL_DB_PORT, GL_DB_NAME, GL_DB_USER, GL_DB_PASSWORD.",
)


@click.group()
def db() -> None:
    """Manage the PostgreSQL schema (greenlang-pg's Alembic migrations)."""


@db.command()
@click.argument("revision", default="head")
@_URL
def upgrade(revision: str, url: str | None) -> None:
    """Upgrade the schema to REVISION (default: head)."""
    from greenlang_pg import migrate

    database = _database(url)
    click.echo(migrate.upgrade(database, revision), nl=False)
    click.echo(f"{database.describe()} is at {migrate.current(database).strip() or 'base'}")


@db.command()
@click.argument("revision")
@_URL
def downgrade(revision: str, url: str | None) -> None:
    """Downgrade the schema to REVISION ('base' removes every greenlang table and its data)."""
    from greenlang_pg import migrate

    database = _database(url)
    click.echo(migrate.downgrade(database, revision), nl=False)
    click.echo(f"{database.describe()} is at {migrate.current(database).strip() or 'base'}")


@db.command()
@_URL
def current(url: str | None) -> None:
    """Show the revision the database is at."""
    from greenlang_pg import migrate

    click.echo(migrate.current(_database(url)).strip() or "base (no greenlang schema)")


@db.command()
def history() -> None:
    """List the packaged revisions."""
    from greenlang_pg import migrate

    click.echo(migrate.history(), nl=False)
