"""The seed's import path for the PostgreSQL backend, served by whichever plugin registers ``postgresql``.

``from greenlang.auth.backends.postgresql import PostgreSQLBackend, DatabaseConfig``
works once ``greenlang-core[pg]`` is installed. The core names no plugin
module: the names come from the registration's ``exports``. Without the
plugin, the import fails with an ``ImportError`` that says what to install.
"""

from __future__ import annotations

from typing import Any

from greenlang.errors import MissingPluginError

__all__ = ["PostgreSQLBackend", "AsyncPostgreSQLBackend", "DatabaseConfig"]  # noqa: F822 - served by __getattr__


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from greenlang.plugins import registry

    try:
        registration = registry().backend("postgresql")
    except MissingPluginError as exc:
        raise ImportError(str(exc), name=__name__) from None
    exports = registration.extra.get("exports")
    names = exports() if callable(exports) else exports or {}
    if name not in names:
        raise ImportError(
            f"the 'postgresql' backend from {registration.plugin} does not provide {name}; "
            "install greenlang-pg with: pip install 'greenlang-core[pg]'",
            name=__name__,
        )
    return names[name]
