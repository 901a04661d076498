"""The requests store logic makes of a database, so one implementation serves psycopg and asyncpg.

Store operations are generators: they ``yield`` a request and receive its
result, and never touch a driver. ``SyncRunner`` answers them with psycopg and
``AsyncRunner`` with asyncpg, so the sync and async backends run the very same
logic and cannot drift apart. SQL uses ``$1``-style parameters; psycopg's
runner rewrites them once per statement.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeAlias, TypeVar

__all__ = ["Rows", "Run", "Copy", "Request", "Op", "psycopg_sql", "statement_log", "log_request"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Rows:
    """Run ``sql``; the result is every row, as a sequence of column values."""

    sql: str
    args: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Run:
    """Run ``sql``; the result is the number of rows it affected."""

    sql: str
    args: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Copy:
    """Bulk-load ``rows`` into ``table`` with ``COPY ... FROM STDIN``; the result is ``None``."""

    table: str
    columns: tuple[str, ...]
    rows: Iterable[tuple[Any, ...]] = field(repr=False)
    """Consumed once, while the server loads: a generator lets rows be made as they are sent."""


Request: TypeAlias = Rows | Run | Copy
Op: TypeAlias = Generator[Request, Any, T]

_PARAMETER = re.compile(r"\$(\d+)")

statement_log = logging.getLogger("greenlang_pg.sql")
"""Each statement's SQL at INFO (never its parameters, which may hold policy data); ``echo=True`` turns it on."""


def log_request(request: Request) -> None:
    if statement_log.isEnabledFor(logging.INFO):
        if isinstance(request, Copy):
            statement_log.info("COPY %s (%s) FROM STDIN", request.table, ", ".join(request.columns))
        else:
            statement_log.info("%s", request.sql)


@lru_cache(maxsize=512)
def psycopg_sql(sql: str) -> tuple[str, tuple[int, ...]]:
    """``sql`` with ``$n`` rewritten to psycopg's ``%s``, and the argument index for each placeholder."""
    order: list[int] = []

    def placeholder(match: re.Match[str]) -> str:
        order.append(int(match.group(1)) - 1)
        return "%s"

    return _PARAMETER.sub(placeholder, sql.replace("%", "%%")), tuple(order)
