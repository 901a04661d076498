"""The hooks a plugin implements. Each is documented in ``docs/plugins.md``.

Hooks are callback-shaped: the host passes a ``register`` function (or the CLI
group) and the plugin calls it, so adding an argument later breaks no plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import pluggy

__all__ = ["hookspec", "hookimpl", "register_auth_backends", "register_kms_providers", "register_commands"]

hookspec = pluggy.HookspecMarker("greenlang")
hookimpl = pluggy.HookimplMarker("greenlang")


@hookspec
def register_auth_backends(register: Callable[..., None]) -> None:
    """Register storage backends: ``register(name, factory, async_factory=None)``.

    ``factory(**options)`` returns an ``AuthBackend``; ``async_factory`` an
    ``AsyncAuthBackend``. ``name`` is what users pass, e.g. ``"sqlite"``.
    """


@hookspec
def register_kms_providers(register: Callable[[str, Any], None]) -> None:
    """Register signing providers: ``register(scheme, provider)``.

    ``scheme`` is a key URI scheme such as ``"file"`` or ``"awskms"``;
    ``provider.open(uri)`` returns a ``Signer`` for that key.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands or command groups to the ``greenlang`` CLI."""
