"""The root command group and the state its subcommands share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click

from greenlang import __version__
from greenlang.auth.backends.base import AuthBackend
from greenlang.config import Settings

__all__ = ["App", "cli", "pass_app"]


@dataclass
class App:
    """Lazily opened resources for one CLI invocation."""

    backend_name: str
    db_path: Path
    debug: bool = False
    _backend: AuthBackend | None = field(default=None, repr=False)

    def backend(self) -> AuthBackend:
        if self._backend is None:
            from greenlang.auth.backends import open_backend

            if self.backend_name == "sqlite":
                self._backend = open_backend("sqlite", path=self.db_path)
            else:
                self._backend = open_backend(self.backend_name)
        return self._backend

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


pass_app = click.make_pass_decorator(App)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="greenlang")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite store path [env GREENLANG_DB; default: the user data directory].",
)
@click.option(
    "--backend",
    "backend_name",
    default="sqlite",
    envvar="GREENLANG_BACKEND",
    show_default=True,
    help="Storage backend name, as registered by a plugin [env GREENLANG_BACKEND].",
)
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, db_path: Path | None, backend_name: str, debug: bool) -> None:
    """Authorize, audit and sign for emissions data platforms."""
    app = App(backend_name=backend_name, db_path=db_path or Settings().db, debug=debug)
    ctx.obj = app
    ctx.call_on_close(app.close)
