"""What the psycopg and asyncpg runners share: the transaction record, held connections and the connection limit.

Each runner holds up to ``keep`` idle connections between operations (a trip
through SQLAlchemy's pool costs more than a primary-key query) and lets at most
``capacity`` operations hold a connection at once. Callers beyond that wait
their turn, up to ``timeout`` seconds, instead of piling into the pool, where
a waiter would never see the connections this runner holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.pool import PoolProxiedConnection

from greenlang.errors import StoreError
from greenlang_pg.faults import classify, translate
from greenlang_pg.operations import Touched

__all__ = ["Transaction", "RunnerBase", "driver_of", "SNAPSHOT"]

SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


def driver_of(raw: PoolProxiedConnection) -> Any:
    """The psycopg or asyncpg connection inside a pooled one (typed ``Any``: the two drivers differ)."""
    return raw.driver_connection


@dataclass
class Transaction:
    """An open ``atomic()`` block: its connection, what it changed, and its savepoints, innermost last."""

    raw: PoolProxiedConnection
    touched: Touched = field(default_factory=set)
    savepoints: list[str] = field(default_factory=list)
    opened: int = 0
    open: bool = True
    lock: Any = None
    """The async runner's ``asyncio.Lock``: one statement at a time on the shared connection."""

    def push_savepoint(self) -> str:
        self.opened += 1
        name = f"greenlang_{self.opened}"
        self.savepoints.append(name)
        return name

    def pop_savepoint(self, name: str) -> None:
        """Forget ``name``, which must be the innermost savepoint: PostgreSQL savepoints nest strictly."""
        if not self.savepoints or self.savepoints[-1] != name:
            raise StoreError(
                "nested atomic() blocks opened by concurrent tasks overlapped, which savepoints cannot express; "
                "open nested blocks one after another"
            )
        self.savepoints.pop()


class RunnerBase:
    """State and rules both runners share; ``server`` (password masked) names the database in messages."""

    def __init__(
        self, server: str, *, keep: int = 0, recycle: float = -1, capacity: int = 30, timeout: float = 30.0
    ) -> None:
        self.server = server
        self._idle: list[PoolProxiedConnection] = []
        self._keep = keep
        self._recycle = recycle
        self._capacity = capacity
        self._timeout = timeout
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the PostgreSQL store at {self.server} is closed; open a new backend to use it")

    def _keepable(self, raw: PoolProxiedConnection) -> bool:
        """Whether ``raw`` may wait in the idle list rather than go back to the pool."""
        return not self._closed and raw.is_valid and len(self._idle) < self._keep and not self._due_for_recycling(raw)

    def _due_for_recycling(self, raw: PoolProxiedConnection) -> bool:
        if self._recycle < 0:
            return False
        born: float = raw.info.setdefault("greenlang_held_since", time.monotonic())
        return time.monotonic() - born > self._recycle

    def _busy(self) -> StoreError:
        return StoreError(
            f"all {self._capacity} connections to {self.server} (pool_size + max_overflow) stayed busy for "
            f"{self._timeout:g}s; raise pool_size or max_overflow, or lower the number of concurrent callers"
        )

    def _fail(self, exc: BaseException) -> BaseException:
        fault = classify(exc)
        return exc if fault is None else translate(fault, self.server)
