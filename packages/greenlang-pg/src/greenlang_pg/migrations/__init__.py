"""The packaged Alembic migrations, and the calls that run them from Python.

``python -m greenlang_pg.migrations`` prints the path of the packaged
``alembic.ini`` so plain ``alembic -c`` can use it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["HEAD", "INI", "SCRIPT_LOCATION"]

SCRIPT_LOCATION = Path(__file__).parent
INI = SCRIPT_LOCATION / "alembic.ini"
HEAD = "003"
"""The newest revision; a test checks it matches the scripts, and backends refuse a database behind it."""
