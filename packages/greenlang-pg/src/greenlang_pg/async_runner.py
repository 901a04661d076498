"""Answers store operations with asyncpg through SQLAlchemy's asyncio connection pool.

The same rules as ``sync_runner``: autocommit reads, explicit transactions,
savepoints inside ``atomic()``. The open transaction follows the context, so a
task started inside the block joins it; a lock keeps two tasks from using its
one connection at the same moment, which asyncpg does not allow.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from greenlang.errors import GreenlangError, StoreError
from greenlang_pg.cache import CHANNEL, ReadCache, decode_changes, encode_changes
from greenlang_pg.faults import cannot_connect, classify, commit_outcome_unknown, translate
from greenlang_pg.operations import Touched
from greenlang_pg.protocol import Copy, Op, Request, Rows, log_request

__all__ = ["AsyncRunner", "AsyncListener"]

T = TypeVar("T")


def _driver(raw: PoolProxiedConnection) -> Any:
    """The psycopg or asyncpg connection inside a pooled one (typed ``Any``: the two drivers differ)."""
    return raw.driver_connection


_SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


@dataclass
class _Transaction:
    raw: PoolProxiedConnection
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    depth: int = 0
    open: bool = True
    touched: Touched = field(default_factory=set)


async def _execute(driver: Any, request: Request) -> Any:
    if isinstance(request, Copy):
        await driver.copy_records_to_table(request.table, records=request.rows, columns=list(request.columns))
        return None
    if isinstance(request, Rows):
        return await driver.fetch(request.sql, *request.args)
    status = await driver.execute(request.sql, *request.args)
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


async def _drive(driver: Any, op: Op[T]) -> T:
    try:
        request = next(op)
        while True:
            log_request(request)
            request = op.send(await _execute(driver, request))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        op.close()


class AsyncRunner:
    """Runs operations on the event loop; ``server`` (password masked) names the database in messages."""

    def __init__(
        self, engine: AsyncEngine, server: str, cache: ReadCache, *, keep: int = 0, recycle: float = -1
    ) -> None:
        """``keep``: idle connections to hold between operations (0 returns each to the pool).

        ``recycle``: seconds after which a held connection goes back to the pool, which renews it.
        """
        self.engine = engine
        self.server = server
        self.cache = cache
        self._transaction: ContextVar[_Transaction | None] = ContextVar(f"greenlang_pg_atx_{id(self)}", default=None)
        self._closed = False
        self._idle: list[PoolProxiedConnection] = []
        self._keep = keep
        self._recycle = recycle

    def _due_for_recycling(self, raw: PoolProxiedConnection) -> bool:
        if self._recycle < 0:
            return False
        born: float = raw.info.setdefault("greenlang_held_since", time.monotonic())
        return time.monotonic() - born > self._recycle

    def _fail(self, exc: BaseException) -> BaseException:
        fault = classify(exc)
        return exc if fault is None else translate(fault, self.server)

    def _current(self) -> _Transaction | None:
        transaction = self._transaction.get()
        return transaction if transaction is not None and transaction.open else None

    async def _checkout(self) -> PoolProxiedConnection:
        if self._closed:
            raise StoreError(f"the PostgreSQL store at {self.server} is closed; open a new backend to use it")
        if self._idle:
            return self._idle.pop()
        try:
            return await self.engine.raw_connection()
        except Exception as exc:
            raise cannot_connect(exc, self.server) from exc

    async def _release(self, raw: PoolProxiedConnection) -> None:
        """Keep a healthy connection for the next operation; SQLAlchemy's asyncio pool costs ~100 µs a round."""
        if (
            not self._closed
            and raw.is_valid
            and len(self._idle) < self._keep
            and not self._due_for_recycling(raw)
            and not _driver(raw).is_in_transaction()
        ):
            self._idle.append(raw)
            return
        await greenlet_spawn(raw.close)

    @staticmethod
    async def _invalidate(raw: PoolProxiedConnection) -> None:
        if raw.is_valid:  # not thrown away already by an earlier failure on this connection
            await greenlet_spawn(raw.invalidate)

    async def _begin(self) -> PoolProxiedConnection:
        """A connection inside ``BEGIN``; one found dead before anything ran is replaced once."""
        for attempt in (1, 2):
            raw = await self._checkout()
            try:
                await _driver(raw).execute("BEGIN")
                return raw
            except Exception as exc:
                fault = classify(exc)
                await self._invalidate(raw)
                await self._release(raw)
                if fault is None or not fault.connection_lost or attempt == 2:
                    raise self._fail(exc) from exc
        raise AssertionError("unreachable")

    @property
    def in_transaction(self) -> bool:
        return self._current() is not None

    async def read(self, make_op: Callable[[], Op[T]], *, snapshot: bool = False, retry: bool = True) -> T:
        transaction = self._current()
        if transaction is not None:
            try:
                async with transaction.lock:
                    return await _drive(_driver(transaction.raw), make_op())
            except GreenlangError:
                raise
            except Exception as exc:
                raise self._fail(exc) from exc
        for attempt in (1, 2):
            raw = await self._checkout()
            driver = _driver(raw)
            try:
                if not snapshot:
                    return await _drive(driver, make_op())
                await driver.execute(_SNAPSHOT)
                try:
                    return await _drive(driver, make_op())
                finally:
                    await self._finish(raw, "COMMIT")
            except GreenlangError:
                raise
            except Exception as exc:
                fault = classify(exc)
                if fault is not None and fault.connection_lost and not retry:
                    unknown = commit_outcome_unknown(exc, self.server)
                    if unknown is not None:
                        raise unknown from exc
                if fault is not None and fault.connection_lost:
                    await self._invalidate(raw)
                    if attempt == 1:
                        continue
                raise self._fail(exc) from exc
            finally:
                await self._release(raw)
        raise AssertionError("unreachable")

    async def write(self, make_op: Callable[[Touched], Op[T]]) -> T:
        async with self.atomic() as transaction, transaction.lock:
            return await _drive(_driver(transaction.raw), make_op(transaction.touched))

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[_Transaction]:
        transaction = self._current()
        if transaction is not None:
            async with self._savepoint(transaction):
                yield transaction
            return
        raw = await self._begin()
        transaction = _Transaction(raw)
        driver = _driver(raw)
        token = self._transaction.set(transaction)
        try:
            yield transaction
            async with transaction.lock:
                transaction.open = False
                if transaction.touched:
                    await driver.execute("SELECT pg_notify($1, $2)", CHANNEL, encode_changes(transaction.touched))
                try:
                    await driver.execute("COMMIT")
                except Exception as exc:
                    unknown = commit_outcome_unknown(exc, self.server)
                    if unknown is None:
                        raise
                    raise unknown from exc
        except BaseException as exc:
            async with transaction.lock:
                transaction.open = False
                await self._finish(raw, "ROLLBACK")
            if isinstance(exc, GreenlangError) or classify(exc) is None:
                raise
            raise self._fail(exc) from exc
        finally:
            self._transaction.reset(token)
            await self._release(raw)
        if transaction.touched:
            self.cache.invalidate(transaction.touched)

    @asynccontextmanager
    async def _savepoint(self, transaction: _Transaction) -> AsyncIterator[None]:
        driver = _driver(transaction.raw)
        transaction.depth += 1
        name = f"greenlang_{transaction.depth}"
        try:
            async with transaction.lock:
                await driver.execute(f"SAVEPOINT {name}")
            yield
            async with transaction.lock:
                await driver.execute(f"RELEASE SAVEPOINT {name}")
        except BaseException as exc:
            async with transaction.lock:
                await self._finish(transaction.raw, f"ROLLBACK TO SAVEPOINT {name}")
            if isinstance(exc, GreenlangError) or classify(exc) is None:
                raise
            raise self._fail(exc) from exc
        finally:
            transaction.depth -= 1

    async def _finish(self, raw: PoolProxiedConnection, statement: str) -> None:
        if not raw.is_valid:
            return
        try:
            await _driver(raw).execute(statement)
        except Exception:
            await self._invalidate(raw)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for raw in idle:
            await greenlet_spawn(raw.close)


class AsyncListener:
    """A task that LISTENs on its own asyncpg connection and applies invalidations to ``cache``."""

    def __init__(self, engine: AsyncEngine, cache: ReadCache) -> None:
        self._engine = engine
        self._cache = cache
        self._driver: Any = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._closed = False

    async def start(self) -> None:
        """Connect and LISTEN now if possible; keep retrying in the background otherwise."""
        if self._task is None:
            await self._connect()
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _connect(self) -> bool:
        try:
            raw = await self._engine.raw_connection()
            driver = _driver(raw)
            await greenlet_spawn(raw.detach)
            await driver.add_listener(CHANNEL, self._on_notify)
            driver.add_termination_listener(self._on_terminate)
        except Exception:
            return False
        self._driver = driver
        self._lost.clear()
        self._cache.set_live(True)
        return True

    def _on_notify(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        self._cache.invalidate(decode_changes(payload))

    def _on_terminate(self, connection: Any) -> None:
        self._cache.set_live(False)
        self._lost.set()

    async def _watch(self) -> None:
        pause = 0.05
        while not self._closed:
            if self._driver is not None:
                await self._lost.wait()
            if self._closed:
                return
            self._cache.set_live(False)
            await self._close_driver()
            if await self._connect():
                pause = 0.05
            else:
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    async def _close_driver(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            with contextlib.suppress(Exception):
                await driver.close(timeout=1)

    async def close(self) -> None:
        self._closed = True
        self._lost.set()
        self._cache.set_live(False)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._close_driver()
