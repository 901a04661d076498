"""Answers store operations with psycopg 3 through SQLAlchemy's connection pool.

Pooled connections run in autocommit mode, so a lone read is one round trip;
writes open ``BEGIN`` ... ``COMMIT`` themselves. The transaction that
``atomic()`` opens is pinned to the calling thread (a ``ContextVar``), and
writes inside it become savepoints, so a failed inner write undoes only itself.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from psycopg.pq import TransactionStatus
from sqlalchemy import Engine
from sqlalchemy.pool import PoolProxiedConnection

from greenlang.errors import GreenlangError, StoreError
from greenlang_pg.cache import CHANNEL, ReadCache, decode_changes, encode_changes
from greenlang_pg.faults import cannot_connect, classify, commit_outcome_unknown, translate
from greenlang_pg.operations import Touched
from greenlang_pg.protocol import Copy, Op, Request, Rows, log_request, psycopg_sql

__all__ = ["SyncRunner", "SyncListener"]

T = TypeVar("T")


def _driver(raw: PoolProxiedConnection) -> Any:
    """The psycopg or asyncpg connection inside a pooled one (typed ``Any``: the two drivers differ)."""
    return raw.driver_connection


_SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


@dataclass
class _Transaction:
    raw: PoolProxiedConnection
    depth: int = 0
    touched: Touched = field(default_factory=set)


def _execute(driver: Any, request: Request) -> Any:
    if isinstance(request, Copy):
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {request.table} ({', '.join(request.columns)}) FROM STDIN") as copy,
        ):
            for row in request.rows:
                copy.write_row(row)
        return None
    sql, order = psycopg_sql(request.sql)
    args = [request.args[index] for index in order]
    cursor = driver.execute(sql, args)
    if isinstance(request, Rows):
        return cursor.fetchall()
    return cursor.rowcount


def _drive(driver: Any, op: Op[T]) -> T:
    try:
        request = next(op)
        while True:
            log_request(request)
            request = op.send(_execute(driver, request))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        op.close()


class SyncRunner:
    """Runs operations; ``server`` (password masked) names the database in messages."""

    def __init__(self, engine: Engine, server: str, cache: ReadCache, *, keep: int = 0, recycle: float = -1) -> None:
        """``keep``: idle connections to hold between operations (0 returns each to the pool).

        ``recycle``: seconds after which a held connection goes back to the pool, which renews it.
        """
        self.engine = engine
        self.server = server
        self.cache = cache
        self._transaction: ContextVar[_Transaction | None] = ContextVar(f"greenlang_pg_tx_{id(self)}", default=None)
        self._closed = False
        self._idle: list[PoolProxiedConnection] = []
        self._keep = keep
        self._recycle = recycle

    def _release(self, raw: PoolProxiedConnection) -> None:
        """Keep a healthy connection for the next operation; a pool round trip costs more than the query."""
        if (
            not self._closed
            and raw.is_valid
            and len(self._idle) < self._keep
            and not self._due_for_recycling(raw)
            and _driver(raw).info.transaction_status == TransactionStatus.IDLE
        ):
            self._idle.append(raw)
            return
        raw.close()

    def _due_for_recycling(self, raw: PoolProxiedConnection) -> bool:
        if self._recycle < 0:
            return False
        born: float = raw.info.setdefault("greenlang_held_since", time.monotonic())
        return time.monotonic() - born > self._recycle

    def _fail(self, exc: BaseException) -> BaseException:
        fault = classify(exc)
        return exc if fault is None else translate(fault, self.server)

    def _checkout(self) -> PoolProxiedConnection:
        if self._closed:
            raise StoreError(f"the PostgreSQL store at {self.server} is closed; open a new backend to use it")
        try:
            return self._idle.pop()
        except IndexError:
            pass
        try:
            return self.engine.raw_connection()
        except Exception as exc:
            raise cannot_connect(exc, self.server) from exc

    def _begin(self) -> PoolProxiedConnection:
        """A connection inside ``BEGIN``; one found dead before anything ran is replaced once."""
        for attempt in (1, 2):
            raw = self._checkout()
            try:
                _driver(raw).execute("BEGIN")
                return raw
            except Exception as exc:
                fault = classify(exc)
                raw.invalidate()
                raw.close()
                if fault is None or not fault.connection_lost or attempt == 2:
                    raise self._fail(exc) from exc
        raise AssertionError("unreachable")

    @property
    def in_transaction(self) -> bool:
        return self._transaction.get() is not None

    # reads ----------------------------------------------------------------------
    def read(self, make_op: Callable[[], Op[T]], *, snapshot: bool = False, retry: bool = True) -> T:
        """Run a read; outside a transaction, a connection found dead is replaced and the read retried once."""
        transaction = self._transaction.get()
        if transaction is not None:
            try:
                return _drive(_driver(transaction.raw), make_op())
            except GreenlangError:
                raise
            except Exception as exc:
                raise self._fail(exc) from exc
        for attempt in (1, 2):
            raw = self._checkout()
            driver = _driver(raw)
            try:
                if not snapshot:
                    return _drive(driver, make_op())
                driver.execute(_SNAPSHOT)
                try:
                    return _drive(driver, make_op())
                finally:
                    self._finish(raw, "COMMIT")
            except GreenlangError:
                raise
            except Exception as exc:
                fault = classify(exc)
                if fault is not None and fault.connection_lost and not retry:
                    unknown = commit_outcome_unknown(exc, self.server)
                    if unknown is not None:
                        raise unknown from exc
                if fault is not None and fault.connection_lost:
                    if raw.is_valid:
                        raw.invalidate()
                    if attempt == 1:
                        continue
                raise self._fail(exc) from exc
            finally:
                self._release(raw)
        raise AssertionError("unreachable")

    # writes ----------------------------------------------------------------------
    def write(self, make_op: Callable[[Touched], Op[T]]) -> T:
        """Run a write in its own transaction, or as a savepoint inside the current one."""
        with self.atomic() as transaction:
            return _drive(_driver(transaction.raw), make_op(transaction.touched))

    @contextmanager
    def atomic(self) -> Iterator[_Transaction]:
        transaction = self._transaction.get()
        if transaction is not None:
            yield from self._savepoint(transaction)
            return
        raw = self._begin()
        transaction = _Transaction(raw)
        driver = _driver(raw)
        token = self._transaction.set(transaction)
        try:
            yield transaction
            if transaction.touched:
                driver.execute("SELECT pg_notify(%s, %s)", (CHANNEL, encode_changes(transaction.touched)))
            try:
                driver.execute("COMMIT")
            except Exception as exc:
                unknown = commit_outcome_unknown(exc, self.server)
                if unknown is None:
                    raise
                raise unknown from exc
        except BaseException as exc:
            self._finish(raw, "ROLLBACK")
            if isinstance(exc, GreenlangError) or classify(exc) is None:
                raise
            raise self._fail(exc) from exc
        finally:
            self._transaction.reset(token)
            self._release(raw)
        if transaction.touched:
            self.cache.invalidate(transaction.touched)

    def _savepoint(self, transaction: _Transaction) -> Iterator[_Transaction]:
        driver = _driver(transaction.raw)
        transaction.depth += 1
        name = f"greenlang_{transaction.depth}"
        try:
            driver.execute(f"SAVEPOINT {name}")
            yield transaction
            driver.execute(f"RELEASE SAVEPOINT {name}")
        except BaseException as exc:
            self._finish(transaction.raw, f"ROLLBACK TO SAVEPOINT {name}")
            if isinstance(exc, GreenlangError) or classify(exc) is None:
                raise
            raise self._fail(exc) from exc
        finally:
            transaction.depth -= 1

    def _finish(self, raw: PoolProxiedConnection, statement: str) -> None:
        if not raw.is_valid:  # already thrown away by an earlier failure on this connection
            return
        try:
            _driver(raw).execute(statement)
        except Exception:
            raw.invalidate()

    def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for raw in idle:
            raw.close()


class SyncListener:
    """A thread that LISTENs on its own connection and applies invalidations to ``cache``.

    While it is not connected the cache serves nothing; it reconnects with a
    growing pause and empties the cache each time, since changes may have been missed.
    """

    def __init__(self, engine: Engine, cache: ReadCache) -> None:
        self._engine = engine
        self._cache = cache
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._driver: Any = None
        self._thread = threading.Thread(target=self._run, name="greenlang-pg-listener", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)

    def _connect(self) -> Any:
        raw = self._engine.raw_connection()
        driver = _driver(raw)
        raw.detach()
        driver.autocommit = True
        driver.execute(f"LISTEN {CHANNEL}")
        return driver

    def _run(self) -> None:
        pause = 0.05
        while not self._stop.is_set():
            try:
                self._driver = self._connect()
            except Exception:
                self._ready.set()
                self._stop.wait(pause)
                pause = min(pause * 2, 5.0)
                continue
            pause = 0.05
            self._cache.set_live(True)
            self._ready.set()
            try:
                while not self._stop.is_set():
                    for notice in self._driver.notifies(timeout=0.2):
                        self._cache.invalidate(decode_changes(notice.payload))
            except Exception:  # noqa: S110 - the connection dropped; reconnect below
                pass
            finally:
                self._cache.set_live(False)
                self._close_driver()

    def _close_driver(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
