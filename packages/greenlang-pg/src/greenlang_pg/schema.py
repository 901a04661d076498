"""The check every backend makes when it opens: is the database at the schema this code expects?"""

from __future__ import annotations

from greenlang.errors import StoreError
from greenlang_pg.migrations import HEAD
from greenlang_pg.protocol import Op, Rows

__all__ = ["check_schema"]


def check_schema(server: str) -> Op[None]:
    """Refuse a database without greenlang's tables, behind ``HEAD``, or written by a newer greenlang-pg."""
    rows = yield Rows("SELECT to_regclass('alembic_version') IS NOT NULL")
    version = None
    if rows[0][0]:
        found = yield Rows("SELECT version_num FROM alembic_version")
        version = str(found[0][0]) if found else None
    if version == HEAD:
        return
    if version is None:
        raise StoreError(
            f"the database at {server} has no greenlang schema yet; run `greenlang db upgrade` to create it"
        )
    from greenlang_pg.migrate import known_revisions

    if version in known_revisions():
        raise StoreError(
            f"the database at {server} is at schema revision {version}, behind {HEAD}; "
            "run `greenlang db upgrade` before using it"
        )
    raise StoreError(
        f"the database at {server} is at schema revision {version}, which this greenlang-pg does not know; "
        "upgrade greenlang-pg"
    )
