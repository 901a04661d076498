"""Answers store operations with asyncpg through SQLAlchemy's asyncio connection pool.

The same rules as ``sync_runner``: autocommit reads, explicit transactions,
savepoints inside ``atomic()``. The open transaction follows the context, so a
task started inside the block joins it; a lock keeps two tasks from using its
one connection at the same moment, which asyncpg does not allow.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from greenlang.errors import GreenlangError
from greenlang_pg.cache import CHANNEL, ReadCache, decode_changes, encode_changes
from greenlang_pg.faults import cannot_connect, classify, commit_outcome_unknown
from greenlang_pg.operations import Touched
from greenlang_pg.protocol import Copy, Op, Request, Rows, log_request
from greenlang_pg.runner_base import SNAPSHOT, RunnerBase, Transaction, driver_of

__all__ = ["AsyncRunner", "AsyncListener"]

T = TypeVar("T")


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


class AsyncRunner(RunnerBase):
    """Runs operations with asyncpg; see ``RunnerBase`` for the held connections and the connection limit."""

    def __init__(self, engine: AsyncEngine, server: str, cache: ReadCache, **limits: Any) -> None:
        super().__init__(server, **limits)
        self.engine = engine
        self.cache = cache
        self._transaction: ContextVar[Transaction | None] = ContextVar(f"greenlang_pg_atx_{id(self)}", default=None)
        self._slots = asyncio.Semaphore(self._capacity)

    def _current(self) -> Transaction | None:
        transaction = self._transaction.get()
        return transaction if transaction is not None and transaction.open else None

    # connections ------------------------------------------------------------------
    async def _checkout(self) -> PoolProxiedConnection:
        self._check_open()
        try:
            await asyncio.wait_for(self._slots.acquire(), self._timeout)
        except TimeoutError:
            raise self._busy() from None
        if self._idle:
            return self._idle.pop()
        try:
            return await self.engine.raw_connection()
        except BaseException as exc:
            self._slots.release()
            raise cannot_connect(exc, self.server) from exc

    async def _release(self, raw: PoolProxiedConnection) -> None:
        """Every checkout ends here exactly once: the connection is held for the next operation or returned."""
        try:
            if self._keepable(raw) and not driver_of(raw).is_in_transaction():
                self._idle.append(raw)
            else:
                await greenlet_spawn(raw.close)
        finally:
            self._slots.release()

    @staticmethod
    async def _invalidate(raw: PoolProxiedConnection) -> None:
        if raw.is_valid:  # not thrown away already by an earlier failure on this connection
            await greenlet_spawn(raw.invalidate)

    async def _finish(self, raw: PoolProxiedConnection, statement: str) -> None:
        if not raw.is_valid:
            return
        try:
            await driver_of(raw).execute(statement)
        except Exception:
            await self._invalidate(raw)

    async def _begin(self) -> PoolProxiedConnection:
        """A connection inside ``BEGIN``; one found dead before anything ran is replaced once."""
        for attempt in (1, 2):
            raw = await self._checkout()
            try:
                await driver_of(raw).execute("BEGIN")
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

    # reads ----------------------------------------------------------------------
    async def read(self, make_op: Callable[[], Op[T]], *, snapshot: bool = False, retry: bool = True) -> T:
        """As ``SyncRunner.read``; inside a transaction, one task at a time uses its connection."""
        transaction = self._current()
        if transaction is not None:
            try:
                async with transaction.lock:
                    return await _drive(driver_of(transaction.raw), make_op())
            except GreenlangError:
                raise
            except Exception as exc:
                raise self._fail(exc) from exc
        for attempt in (1, 2):
            raw = await self._checkout()
            driver = driver_of(raw)
            try:
                if not snapshot:
                    return await _drive(driver, make_op())
                await driver.execute(SNAPSHOT)
                try:
                    return await _drive(driver, make_op())
                finally:
                    await self._finish(raw, "COMMIT")
            except GreenlangError:
                raise
            except Exception as exc:
                fault = classify(exc)
                if fault is None or not fault.connection_lost:
                    raise self._fail(exc) from exc
                await self._invalidate(raw)
                if not retry:
                    raise commit_outcome_unknown(exc, self.server, "writing") or self._fail(exc) from exc
                if attempt == 2:
                    raise self._fail(exc) from exc
            finally:
                await self._release(raw)
        raise AssertionError("unreachable")

    # writes ----------------------------------------------------------------------
    async def write(self, make_op: Callable[[Touched], Op[T]]) -> T:
        """A write in its own transaction, or inside the current one as a savepoint held under the lock.

        Holding the lock from ``SAVEPOINT`` to ``RELEASE`` keeps writes from
        concurrent tasks in one block from interleaving their savepoints.
        """
        transaction = self._current()
        if transaction is None:
            async with self.atomic() as transaction, transaction.lock:
                return await _drive(driver_of(transaction.raw), make_op(transaction.touched))
        async with transaction.lock:
            driver = driver_of(transaction.raw)
            name = transaction.push_savepoint()
            try:
                await driver.execute(f"SAVEPOINT {name}")
                result = await _drive(driver, make_op(transaction.touched))
                transaction.pop_savepoint(name)
                await driver.execute(f"RELEASE SAVEPOINT {name}")
                return result
            except BaseException as exc:
                await self._finish(transaction.raw, f"ROLLBACK TO SAVEPOINT {name}")
                if name in transaction.savepoints:
                    transaction.savepoints.remove(name)
                if isinstance(exc, GreenlangError) or classify(exc) is None:
                    raise
                raise self._fail(exc) from exc

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[Transaction]:
        transaction = self._current()
        if transaction is not None:
            async with self._savepoint(transaction):
                yield transaction
            return
        raw = await self._begin()
        transaction = Transaction(raw, lock=asyncio.Lock())
        driver = driver_of(raw)
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
    async def _savepoint(self, transaction: Transaction) -> AsyncIterator[None]:
        """A nested ``atomic()`` block: the savepoint opens and closes under the lock, its body runs without it."""
        driver = driver_of(transaction.raw)
        async with transaction.lock:
            name = transaction.push_savepoint()
            await driver.execute(f"SAVEPOINT {name}")
        try:
            yield
            async with transaction.lock:
                transaction.pop_savepoint(name)
                await driver.execute(f"RELEASE SAVEPOINT {name}")
        except BaseException as exc:
            async with transaction.lock:
                await self._finish(transaction.raw, f"ROLLBACK TO SAVEPOINT {name}")
                if name in transaction.savepoints:
                    transaction.savepoints.remove(name)
            if isinstance(exc, GreenlangError) or classify(exc) is None:
                raise
            raise self._fail(exc) from exc

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
            driver = driver_of(raw)
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
