"""The ``greenlang`` command line.

Exit codes: 0 allowed / verified / done, 1 denied, failed verification, or a
store that could not do the work (unreachable, locked, damaged), 2 usage or
input error. Errors print one line; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import click
from pydantic import ValidationError

from greenlang.cli.app import App, cli
from greenlang.errors import GreenlangError, InputError, MissingPluginError, StoreError, VerificationError
from greenlang.validation import describe

__all__ = ["cli", "main", "App"]

EXIT_OK, EXIT_DENIED, EXIT_USAGE = 0, 1, 2


_builtin_commands: dict[str, click.Command] = {}


def _load_commands() -> None:
    """Attach the built-in commands, then those of the current plugins (never a stale plugin's)."""
    from greenlang.cli import audit, check, keys, plugins, policy, signing, store  # noqa: F401  (they attach to cli)
    from greenlang.plugins import registry

    if not _builtin_commands:
        _builtin_commands.update(cli.commands)
    cli.commands.clear()
    cli.commands.update(_builtin_commands)
    registry().add_commands(cli)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and turn every failure into an exit code and one line."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        _load_commands()
        result = cli.main(args=args, prog_name="greenlang", standalone_mode=False)
        code = result if isinstance(result, int) else EXIT_OK
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        code = EXIT_USAGE
    except click.UsageError as exc:
        if debug:
            traceback.print_exc()
        command = exc.ctx.command_path if exc.ctx else "greenlang"
        click.echo(f"error: {exc.format_message()} (see '{command} --help')", err=True)
        code = EXIT_USAGE
    except click.ClickException as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc.format_message()}", err=True)
        code = EXIT_USAGE
    except (VerificationError, StoreError) as exc:
        _report(exc, debug)
        code = EXIT_DENIED
    except (InputError, MissingPluginError, GreenlangError, OSError) as exc:
        _report(exc, debug)
        code = EXIT_USAGE
    except RecursionError:
        _report(InputError("the input is nested too deeply; flatten it"), debug)
        code = EXIT_USAGE
    except ValidationError as exc:
        _report(InputError(describe(exc)), debug)
        code = EXIT_USAGE
    except Exception as exc:  # the last line of defence: one line, and no message that could carry a secret
        if debug:
            traceback.print_exception(exc)
        click.echo(f"error: unexpected {type(exc).__name__}; rerun with --debug for details", err=True)
        code = EXIT_USAGE
    if argv is None:
        sys.exit(code)
    return code


def _report(exc: BaseException, debug: bool) -> None:
    if debug:
        traceback.print_exception(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, OSError) and exc.filename:
        text = f"{exc.strerror or text}: {exc.filename}"
    click.echo(f"error: {text}", err=True)
