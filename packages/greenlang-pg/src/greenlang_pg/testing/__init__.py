"""Helpers for testing against a real PostgreSQL: throwaway servers started from installed binaries.

``open_server()`` is what test suites and benchmarks call: it uses
``GREENLANG_TEST_PG_DSN`` when set and otherwise starts a server with
``start_server()``. See ``greenlang_pg.testing.server`` for where binaries come
from and how root is handled.
"""

from __future__ import annotations

from greenlang_pg.testing.server import (
    APP_USER,
    BIN_VARIABLE,
    DSN_VARIABLE,
    INSTALL_HINT,
    SUPERUSER,
    ServerStartError,
    ServerUnavailable,
    TestServer,
    find_bin_dir,
    open_server,
    start_server,
)

__all__ = [
    "APP_USER",
    "BIN_VARIABLE",
    "DSN_VARIABLE",
    "INSTALL_HINT",
    "SUPERUSER",
    "ServerStartError",
    "ServerUnavailable",
    "TestServer",
    "find_bin_dir",
    "open_server",
    "start_server",
]
