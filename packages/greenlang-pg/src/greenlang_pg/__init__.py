"""PostgreSQL storage for greenlang-core: ``PostgreSQLBackend`` (psycopg 3) and ``AsyncPostgreSQLBackend`` (asyncpg).

Importing this package is cheap; the backends load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from greenlang_pg.backend import PostgreSQLBackend
    from greenlang_pg.backend_async import AsyncPostgreSQLBackend
    from greenlang_pg.config import DatabaseConfig

__all__ = ["PostgreSQLBackend", "AsyncPostgreSQLBackend", "DatabaseConfig"]
__version__ = "0.1.0"

_HOMES = {
    "PostgreSQLBackend": "greenlang_pg.backend",
    "AsyncPostgreSQLBackend": "greenlang_pg.backend_async",
    "DatabaseConfig": "greenlang_pg.config",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'greenlang_pg' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
