"""Answers store operations with psycopg 3 through SQLAlchemy's connection pool.

Pooled connections run in autocommit mode, so a lone read is one round trip;
writes open ``BEGIN`` ... ``COMMIT`` themselves. The transaction that
``atomic()`` opens is pinned to the calling thread (a ``ContextVar``), and
writes inside it become savepoints, so a failed inner write undoes only itself.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from psycopg.pq import TransactionStatus
from sqlalchemy import Engine
from sqlalchemy.pool import PoolProxiedConnection

from greenlang.errors import GreenlangError
from greenlang_pg.cache import CHANNEL, ReadCache, decode_changes, encode_changes
from greenlang_pg.faults import cannot_connect, classify, commit_outcome_unknown
from greenlang_pg.operations import Touched
from greenlang_pg.protocol import Copy, Op, Request, Rows, log_request, psycopg_sql
from greenlang_pg.runner_base import SNAPSHOT, RunnerBase, Transaction, driver_of

__all__ = ["SyncRunner", "SyncListener"]

T = TypeVar("T")


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


class SyncRunner(RunnerBase):
    """Runs operations with psycopg; see ``RunnerBase`` for the held connections and the connection limit."""

    def __init__(self, engine: Engine, server: str, cache: ReadCache, **limits: Any) -> None:
        super().__init__(server, **limits)
        self.engine = engine
        self.cache = cache
        self._transaction: ContextVar[Transaction | None] = ContextVar(f"greenlang_pg_tx_{id(self)}", default=None)
        self._slots = threading.BoundedSemaphore(self._capacity)

    # connections ------------------------------------------------------------------
    def _checkout(self) -> PoolProxiedConnection:
        self._check_open()
        if not self._slots.acquire(timeout=self._timeout):
            raise self._busy()
        try:
            return self._idle.pop()
        except IndexError:
            pass
        try:
            return self.engine.raw_connection()
        except BaseException as exc:
            self._slots.release()
            raise cannot_connect(exc, self.server) from exc

    def _release(self, raw: PoolProxiedConnection) -> None:
        """Every checkout ends here exactly once: the connection is held for the next operation or returned."""
        try:
            if self._keepable(raw) and driver_of(raw).info.transaction_status == TransactionStatus.IDLE:
                self._idle.append(raw)
            else:
                raw.close()
        finally:
            self._slots.release()

    def _finish(self, raw: PoolProxiedConnection, statement: str) -> None:
        if not raw.is_valid:  # already thrown away by an earlier failure on this connection
            return
        try:
            driver_of(raw).execute(statement)
        except Exception:
            raw.invalidate()

    def _begin(self) -> PoolProxiedConnection:
        """A connection inside ``BEGIN``; one found dead before anything ran is replaced once."""
        for attempt in (1, 2):
            raw = self._checkout()
            try:
                driver_of(raw).execute("BEGIN")
                return raw
            except Exception as exc:
                fault = classify(exc)
                raw.invalidate()
                self._release(raw)
                if fault is None or not fault.connection_lost or attempt == 2:
                    raise self._fail(exc) from exc
        raise AssertionError("unreachable")

    @property
    def in_transaction(self) -> bool:
        return self._transaction.get() is not None

    # reads ----------------------------------------------------------------------
    def read(self, make_op: Callable[[], Op[T]], *, snapshot: bool = False, retry: bool = True) -> T:
        """Run ``make_op()`` on one connection, outside any transaction unless one is open.

        A connection found dead is replaced and the operation run again once,
        unless ``retry`` is off (a statement that commits itself): then the
        outcome is unknown and ``OutcomeUnknown`` says so.
        """
        transaction = self._transaction.get()
        if transaction is not None:
            try:
                return _drive(driver_of(transaction.raw), make_op())
            except GreenlangError:
                raise
            except Exception as exc:
                raise self._fail(exc) from exc
        for attempt in (1, 2):
            raw = self._checkout()
            driver = driver_of(raw)
            try:
                if not snapshot:
                    return _drive(driver, make_op())
                driver.execute(SNAPSHOT)
                try:
                    return _drive(driver, make_op())
                finally:
                    self._finish(raw, "COMMIT")
            except GreenlangError:
                raise
            except Exception as exc:
                fault = classify(exc)
                if fault is None or not fault.connection_lost:
                    raise self._fail(exc) from exc
                if raw.is_valid:
                    raw.invalidate()
                if not retry:
                    raise commit_outcome_unknown(exc, self.server, "writing") or self._fail(exc) from exc
                if attempt == 2:
                    raise self._fail(exc) from exc
            finally:
                self._release(raw)
        raise AssertionError("unreachable")

    # writes ----------------------------------------------------------------------
    def write(self, make_op: Callable[[Touched], Op[T]]) -> T:
        """Run a write in its own transaction, or as a savepoint inside the current one."""
        with self.atomic() as transaction:
            return _drive(driver_of(transaction.raw), make_op(transaction.touched))

    @contextmanager
    def atomic(self) -> Iterator[Transaction]:
        transaction = self._transaction.get()
        if transaction is not None:
            with self._savepoint(transaction):
                yield transaction
            return
        raw = self._begin()
        transaction = Transaction(raw)
        driver = driver_of(raw)
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

    @contextmanager
    def _savepoint(self, transaction: Transaction) -> Iterator[None]:
        driver = driver_of(transaction.raw)
        name = transaction.push_savepoint()
        try:
            driver.execute(f"SAVEPOINT {name}")
            yield
            transaction.pop_savepoint(name)
            driver.execute(f"RELEASE SAVEPOINT {name}")
        except BaseException as exc:
            self._finish(transaction.raw, f"ROLLBACK TO SAVEPOINT {name}")
            if name in transaction.savepoints:
                transaction.savepoints.remove(name)
            if isinstance(exc, GreenlangError) or classify(exc) is None:
                raise
            raise self._fail(exc) from exc

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
        driver = driver_of(raw)
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
