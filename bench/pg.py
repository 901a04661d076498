"""Benchmarks of greenlang-pg on a real PostgreSQL, each beside a baseline measured on the same server in the same run.

Usage: python bench/pg.py [--quick] [--json] [--profile]

The server is ``GREENLANG_TEST_PG_DSN`` when set, else a throwaway one that
``greenlang_pg.testing`` starts (pgserver's or the system's binaries) and
removes at the end. Every round that writes gets a fresh database cloned from
one migrated to head, so ours and its baseline write into the same empty,
indexed tables; the baselines write the very rows ours wrote, read back from
its database. The machine may be shared and the server runs on it too, so read
ratios rather than absolute numbers. ``--profile`` runs cProfile over the
batched audit append and the bulk permission insert instead of benchmarking.
See bench/README.md.
"""

# ruff: noqa: S608 - SQL here is built from this file's constants only
from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import itertools
import json
import os
import platform
import pstats
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from typing import Any, Literal

import asyncpg  # type: ignore[import-untyped]
import psycopg
from core import sample_event

from greenlang.audit.chain import ChainReport
from greenlang_pg import AsyncPostgreSQLBackend, DatabaseConfig, PostgreSQLBackend
from greenlang_pg.migrate import upgrade
from greenlang_pg.testing.server import TestServer, open_server

SEED_PERMISSIONS_PER_S = 1_000.0  # "Bulk Operations: 1000 permissions/second"
SEED_EVENTS_PER_S = 5_000.0  # "Audit Logging: 5000 events/second"
LOOKUP_GOAL_RATIO = 2.0  # uncached get_permission p50 within 2x of a bare asyncpg primary-key fetchrow
CACHED_GOAL_US = 5.0  # cached get_permission p50 under 5 µs
COPY_GOAL_SHARE = 0.8  # bulk writes at least 80% of a plain COPY of the same rows

PERMISSION_COLUMNS = (
    *("permission_id", "resource", "action", "effect", "scope", "conditions", "metadata"),
    *("created_at", "updated_at", "created_by", "provenance_hash"),
)
AUDIT_COLUMNS = (
    *("log_id", "timestamp", "event_type", "user_id", "resource", "action", "result", "details"),
    *("ip_address", "user_agent", "session_id", "correlation_id", "provenance_hash", "sequence"),
)
JSON_COLUMNS = {"conditions", "metadata", "details"}


def select_list(columns: Sequence[str]) -> str:
    return ", ".join(f"{c}::text" if c in JSON_COLUMNS else c for c in columns)


LOOKUP_SQL = f"SELECT {select_list(PERMISSION_COLUMNS)} FROM permissions WHERE permission_id = $1"
LOOKUP_SQL_PSYCOPG = LOOKUP_SQL.replace("$1", "%s")
INSERT_AUDIT_SQL = (
    f"INSERT INTO audit_logs ({', '.join(AUDIT_COLUMNS)}) VALUES "
    f"({', '.join(f'${i}::jsonb' if c in JSON_COLUMNS else f'${i}' for i, c in enumerate(AUDIT_COLUMNS, 1))})"
)
INSERT_AUDIT_SQL_PSYCOPG = (
    f"INSERT INTO audit_logs ({', '.join(AUDIT_COLUMNS)}) VALUES "
    f"({', '.join('%s::jsonb' if c in JSON_COLUMNS else '%s' for c in AUDIT_COLUMNS)})"
)


# -- settings --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """How much work each measurement does; ``--quick`` trades precision for time."""

    name: str
    permissions: int  # rows in the table the lookups read
    lookups: int  # timed lookups per round, over random ids
    lookup_rounds: int
    bulk: int  # permissions per bulk_create_permissions call (one call per round)
    bulk_rounds: int
    singles: int  # append_audit_event calls per round
    single_rounds: int
    batch: int  # events per append_audit_events call
    batched: int  # events per round
    batch_rounds: int


FULL = Profile("full", 10_000, 1_000, 5, 10_000, 3, 2_000, 3, 1_000, 20_000, 3)
QUICK = Profile("quick", 2_000, 300, 2, 2_000, 1, 300, 1, 1_000, 5_000, 1)
WARMUP_SHARE = 10
"""The untimed first round of every write measurement does a tenth of the work: it warms the process, not the data."""


# -- timing ----------------------------------------------------------------------------------------------------------


class Stopwatch:
    """Wall time and this process's CPU time (all its threads) over a ``with`` block."""

    wall_ns = 0
    cpu_ns = 0

    def __enter__(self) -> Stopwatch:
        self._cpu = time.process_time_ns()
        self._wall = time.perf_counter_ns()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wall_ns = time.perf_counter_ns() - self._wall
        self.cpu_ns = time.process_time_ns() - self._cpu


@dataclass
class Sample:
    """The timed rounds of one measurement (round 0, the warm-up, is never added)."""

    rates: list[float] = field(default_factory=list)
    latencies_ns: list[int] = field(default_factory=list)
    work: int = 0
    wall_ns: int = 0
    cpu_ns: int = 0

    def add(self, index: int, work: int, watch: Stopwatch, latencies: Sequence[int] = ()) -> None:
        if index == 0:
            return
        self.rates.append(work * 1e9 / watch.wall_ns)
        self.latencies_ns.extend(latencies)
        self.work += work
        self.wall_ns += watch.wall_ns
        self.cpu_ns += watch.cpu_ns

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def spread(self) -> float | None:
        if len(self.rates) < 2:
            return None
        return (max(self.rates) - min(self.rates)) / 2 / self.rate

    def percentile_us(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ns)
        return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))] / 1_000

    def split(self) -> str:
        """Per row: wall time, this process's CPU and the rest (waiting for the server and the network)."""
        wall, cpu = self.wall_ns / self.work / 1e3, self.cpu_ns / self.work / 1e3
        return f"{wall:,.1f} µs wall = {cpu:,.1f} µs client CPU ({cpu / wall:.0%}) + {wall - cpu:,.1f} µs waiting"


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


# -- results ---------------------------------------------------------------------------------------------------------


@dataclass
class Baseline:
    label: str
    value: float
    """p50 µs for a latency figure, rows/s for a rate."""
    p99: float | None = None
    measured: bool = True


@dataclass
class Figure:
    section: str
    name: str
    kind: Literal["latency", "rate"]
    value: float
    """p50 µs for a latency figure, rows/s for a rate."""
    baselines: list[Baseline]
    p99: float | None = None
    spread: float | None = None
    goal: str = ""
    met: bool | None = None
    notes: list[str] = field(default_factory=list)

    def ratio(self, baseline: Baseline) -> float:
        return self.value / baseline.value if baseline.value else float("nan")


def latency(section: str, name: str, sample: Sample, baselines: list[Baseline], **extra: Any) -> Figure:
    return Figure(
        section, name, "latency", sample.percentile_us(0.5), baselines, sample.percentile_us(0.99), None, **extra
    )


def rate(section: str, name: str, sample: Sample, baselines: list[Baseline], **extra: Any) -> Figure:
    return Figure(section, name, "rate", sample.rate, baselines, None, sample.spread, **extra)


def latency_baseline(label: str, sample: Sample) -> Baseline:
    return Baseline(label, sample.percentile_us(0.5), sample.percentile_us(0.99))


def copy_goal(ours: Sample, copy: Sample) -> dict[str, Any]:
    return {"goal": f"≥ {COPY_GOAL_SHARE:.0%} of plain COPY", "met": ours.rate >= COPY_GOAL_SHARE * copy.rate}


# -- workloads -------------------------------------------------------------------------------------------------------


def permission_items(batch: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "resource": f"emissions:org-{batch}:site-{i}:**",
            "action": ("read", "write", "export")[i % 3],
            "effect": "deny" if i % 10 == 0 else "allow",
            "scope": "org:*",
        }
        for i in range(count)
    ]


def round_events(index: int, count: int) -> list[dict[str, Any]]:
    return [sample_event(index * 1_000_000 + i) for i in range(count)]


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def rounds(count: int) -> str:
    return f"{count} round{'s' if count != 1 else ''}"


def warm_size(index: int, full: int) -> int:
    return full if index else max(1, full // WARMUP_SHARE)


# -- the server ------------------------------------------------------------------------------------------------------


class Bench:
    """The server, a database migrated to head that fresh ones are cloned from, and plain driver connections."""

    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.template = server.create_database()
        upgrade(server.config(self.template))

    def config(self, database: str) -> DatabaseConfig:
        return self.server.config(database)

    @contextmanager
    def scratch(self) -> Iterator[str]:
        """A fresh database at head, dropped afterwards."""
        name = self.server.create_database(template=self.template)
        try:
            yield name
        finally:
            self.server.drop_database(name)

    def connect(self, database: str) -> psycopg.Connection[tuple[Any, ...]]:
        """A bare psycopg connection as the app user, autocommit."""
        return self.server.connect(database, superuser=False)

    async def aconnect(self, database: str) -> asyncpg.Connection:
        """A bare asyncpg connection as the app user."""
        return await asyncpg.connect(self.server.dsn(database))

    def read_back(self, database: str, table: str, columns: Sequence[str], order: str) -> list[tuple[Any, ...]]:
        """Every row ours wrote, as driver values, so a baseline can write exactly the same rows."""
        return self.server.execute(
            f"SELECT {select_list(columns)} FROM {table} ORDER BY {order}", database, superuser=False
        )

    def describe(self) -> dict[str, Any]:
        (row,) = self.server.execute(
            "SELECT current_setting('server_version'), current_setting('fsync'), "
            "current_setting('synchronous_commit'), current_setting('full_page_writes'), "
            "current_setting('shared_buffers')"
        )
        where = f"launched from {self.server.bin_dir}" if self.server.launched else "GREENLANG_TEST_PG_DSN"
        return {
            "postgresql": row[0],
            "server": f"{self.server.host}:{self.server.port} over TCP, {where}",
            "server settings": f"fsync={row[1]} synchronous_commit={row[2]} full_page_writes={row[3]} "
            f"shared_buffers={row[4]}",
        }


def copy_rows(
    conn: psycopg.Connection[Any], table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def check_chain(reports: list[ChainReport], expected: int) -> str:
    """``verify_audit()`` after every round: all intact and holding every event, or the first failure."""
    for report in reports:
        if not report.ok or report.events_checked != expected:
            return f"verify_audit FAILED: {report.summary()}"
    return f"verify_audit after every timed round ({len(reports)}): ok ({reports[-1].summary()})"


# -- 1. permission lookup --------------------------------------------------------------------------------------------


def lookup_table(bench: Bench, profile: Profile, database: str) -> list[str]:
    progress(f"lookup: loading {profile.permissions:,} permissions")
    ids: list[str] = []
    with PostgreSQLBackend(bench.config(database), cache_ttl=0) as store:
        for start in range(0, profile.permissions, 5_000):
            items = permission_items(start, min(5_000, profile.permissions - start))
            ids.extend(p.permission_id for p in store.bulk_create_permissions(items, actor="bench"))
    return ids


def time_lookups(get: Callable[[str], object], keys: list[list[str]]) -> Sample:
    sample = Sample()
    clock = time.perf_counter_ns
    for index, round_keys in enumerate(keys):
        gc.collect()
        lap: list[int] = []
        with Stopwatch() as watch:
            for key in round_keys:
                started = clock()
                found = get(key)
                lap.append(clock() - started)
                if found is None:
                    raise RuntimeError(f"lookup of {key} found nothing")
        sample.add(index, len(round_keys), watch, lap)
    return sample


async def atime_lookups(get: Callable[[str], Awaitable[object]], keys: list[list[str]]) -> Sample:
    sample = Sample()
    clock = time.perf_counter_ns
    for index, round_keys in enumerate(keys):
        gc.collect()
        lap: list[int] = []
        with Stopwatch() as watch:
            for key in round_keys:
                started = clock()
                found = await get(key)
                lap.append(clock() - started)
                if found is None:
                    raise RuntimeError(f"lookup of {key} found nothing")
        sample.add(index, len(round_keys), watch, lap)
    return sample


def cache_note(before: dict[str, Any], after: dict[str, Any], keys: list[list[str]]) -> str:
    hits = after["cache_hits"] - before["cache_hits"]
    timed = sum(map(len, keys))
    return f"cache hits during the timed lookups: {hits:,} of {timed:,} (listener live: {after['cache_live']})"


def bench_lookups(bench: Bench, profile: Profile) -> list[Figure]:
    with bench.scratch() as database:
        ids = lookup_table(bench, profile, database)
        rng = random.Random(2026)
        keys = [rng.choices(ids, k=profile.lookups) for _ in range(profile.lookup_rounds + 1)]
        every_key = set(itertools.chain.from_iterable(keys))
        config = bench.config(database)

        progress("lookup: bare psycopg, sync backend uncached and cached")
        with bench.connect(database) as conn:
            bare_psycopg = time_lookups(lambda key: conn.execute(LOOKUP_SQL_PSYCOPG, (key,)).fetchone(), keys)
        with PostgreSQLBackend(config, cache_ttl=0) as store:
            sync_uncached = time_lookups(store.get_permission, keys)
        with PostgreSQLBackend(config) as store:
            for key in every_key:
                store.get_permission(key)
            before = store.get_statistics()
            sync_cached = time_lookups(store.get_permission, keys)
            sync_note = cache_note(before, store.get_statistics(), keys)

        async def run_async() -> tuple[Sample, Sample, Sample, str]:
            progress("lookup: bare asyncpg, async backend uncached and cached")
            conn = await bench.aconnect(database)
            try:
                bare = await atime_lookups(lambda key: conn.fetchrow(LOOKUP_SQL, key), keys)
            finally:
                await conn.close()
            async with AsyncPostgreSQLBackend(config, cache_ttl=0) as store:
                uncached = await atime_lookups(store.get_permission, keys)
            async with AsyncPostgreSQLBackend(config) as store:
                for key in every_key:
                    await store.get_permission(key)
                before = await store.get_statistics()
                cached = await atime_lookups(store.get_permission, keys)
                note = cache_note(before, await store.get_statistics(), keys)
            return bare, uncached, cached, note

        bare_asyncpg, async_uncached, async_cached, async_note = asyncio.run(run_async())

    asyncpg_floor = latency_baseline("bare asyncpg fetchrow by primary key", bare_asyncpg)
    psycopg_floor = latency_baseline("bare psycopg execute + fetchone by primary key", bare_psycopg)
    reference = asyncpg_floor.value

    def uncached_goal(sample: Sample) -> dict[str, Any]:
        return {
            "goal": f"p50 ≤ {LOOKUP_GOAL_RATIO:.0f}x bare asyncpg",
            "met": sample.percentile_us(0.5) <= LOOKUP_GOAL_RATIO * reference,
        }

    def cached_goal(sample: Sample) -> dict[str, Any]:
        return {"goal": f"p50 < {CACHED_GOAL_US:.0f} µs", "met": sample.percentile_us(0.5) < CACHED_GOAL_US}

    where = f"{profile.permissions:,} permissions, {rounds(profile.lookup_rounds)} of {profile.lookups:,} random ids"
    section = "permission lookup"
    return [
        latency(
            section,
            "get_permission, sync, uncached (cache_ttl=0)",
            sync_uncached,
            [asyncpg_floor, psycopg_floor],
            notes=[
                where,
                "each lookup checks out a pooled connection, runs the same SELECT, builds a Permission",
                f"per lookup, ours: {sync_uncached.split()}",
                f"per lookup, bare psycopg: {bare_psycopg.split()}",
            ],
            **uncached_goal(sync_uncached),
        ),
        latency(
            section,
            "get_permission, sync, cached (default cache_ttl)",
            sync_cached,
            [asyncpg_floor, psycopg_floor],
            notes=[sync_note],
            **cached_goal(sync_cached),
        ),
        latency(
            section,
            "get_permission, async, uncached (cache_ttl=0)",
            async_uncached,
            [asyncpg_floor],
            notes=[f"per lookup, ours: {async_uncached.split()}", f"per lookup, bare asyncpg: {bare_asyncpg.split()}"],
            **uncached_goal(async_uncached),
        ),
        latency(
            section,
            "get_permission, async, cached (default cache_ttl)",
            async_cached,
            [asyncpg_floor],
            notes=[async_note],
            **cached_goal(async_cached),
        ),
    ]


# -- 2. bulk permission insert ---------------------------------------------------------------------------------------

Written = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]
"""What a round of ours wrote: its permission rows and its audit rows, read back in order."""
Lap = tuple[Stopwatch, list[int]]
"""One round's stopwatch and its per-call latencies (empty when calls are not timed one by one)."""


def read_written(bench: Bench, database: str) -> Written:
    return (
        bench.read_back(database, "permissions", PERMISSION_COLUMNS, "insert_order"),
        bench.read_back(database, "audit_logs", AUDIT_COLUMNS, "sequence"),
    )


def bulk_sync(bench: Bench, items: list[dict[str, Any]]) -> tuple[Stopwatch, Written]:
    with bench.scratch() as database:
        with PostgreSQLBackend(bench.config(database)) as store:
            store.get_permission("perm_warmup")
            gc.collect()
            with Stopwatch() as watch:
                created = store.bulk_create_permissions(items, actor="bench")
        if len(created) != len(items):
            raise RuntimeError(f"bulk_create_permissions stored {len(created)} of {len(items)}")
        return watch, read_written(bench, database)


async def bulk_async(bench: Bench, items: list[dict[str, Any]]) -> tuple[Stopwatch, Written]:
    with bench.scratch() as database:
        async with AsyncPostgreSQLBackend(bench.config(database)) as store:
            await store.get_permission("perm_warmup")
            gc.collect()
            with Stopwatch() as watch:
                created = await store.bulk_create_permissions(items, actor="bench")
        if len(created) != len(items):
            raise RuntimeError(f"bulk_create_permissions stored {len(created)} of {len(items)}")
        return watch, read_written(bench, database)


def copy_sync(bench: Bench, written: Written, with_audit: bool) -> Stopwatch:
    """One transaction: COPY the permission rows (and, ``with_audit``, their audit rows) into a fresh database."""
    permissions, events = written
    with bench.scratch() as database, bench.connect(database) as conn:
        conn.execute("SELECT 1")
        gc.collect()
        with Stopwatch() as watch, conn.transaction():
            copy_rows(conn, "permissions", PERMISSION_COLUMNS, permissions)
            if with_audit:
                copy_rows(conn, "audit_logs", AUDIT_COLUMNS, events)
        return watch


async def copy_async(bench: Bench, written: Written, with_audit: bool) -> Stopwatch:
    permissions, events = written
    with bench.scratch() as database:
        conn = await bench.aconnect(database)
        try:
            await conn.execute("SELECT 1")
            gc.collect()
            with Stopwatch() as watch:
                async with conn.transaction():
                    await conn.copy_records_to_table("permissions", records=permissions, columns=PERMISSION_COLUMNS)
                    if with_audit:
                        await conn.copy_records_to_table("audit_logs", records=events, columns=AUDIT_COLUMNS)
        finally:
            await conn.close()
        return watch


@dataclass
class BulkRun:
    ours: Sample = field(default_factory=Sample)
    copy: Sample = field(default_factory=Sample)
    copy_with_audit: Sample = field(default_factory=Sample)
    audit_rows: int = 0
    """Audit rows ours wrote in its last round, read back: the second baseline copies them too."""

    def add(self, index: int, count: int, ours: Stopwatch, written: Written, copy: Stopwatch, both: Stopwatch) -> None:
        self.ours.add(index, count, ours)
        self.copy.add(index, count, copy)
        self.copy_with_audit.add(index, count, both)
        self.audit_rows = len(written[1])


def bench_bulk(bench: Bench, profile: Profile) -> list[Figure]:
    """Each round: ours into a fresh database, then plain COPYs of the rows it wrote, so load drifts hit all three."""
    progress(f"bulk: bulk_create_permissions of {profile.bulk:,}, sync, and plain psycopg COPY")
    sync = BulkRun()
    for index in range(profile.bulk_rounds + 1):
        count = warm_size(index, profile.bulk)
        watch, written = bulk_sync(bench, permission_items(index, count))
        plain, both = copy_sync(bench, written, with_audit=False), copy_sync(bench, written, with_audit=True)
        sync.add(index, count, watch, written, plain, both)

    async def run_async() -> BulkRun:
        progress(f"bulk: bulk_create_permissions of {profile.bulk:,}, async, and plain asyncpg COPY")
        run = BulkRun()
        for index in range(profile.bulk_rounds + 1):
            count = warm_size(index, profile.bulk)
            watch, written = await bulk_async(bench, permission_items(index, count))
            plain = await copy_async(bench, written, with_audit=False)
            run.add(index, count, watch, written, plain, await copy_async(bench, written, with_audit=True))
        return run

    claim = Baseline("the seed's claim (1,000 permissions/s)", SEED_PERMISSIONS_PER_S, measured=False)
    figures = []
    for flavour, driver, run in (("sync", "psycopg", sync), ("async", "asyncpg", asyncio.run(run_async()))):
        figures.append(
            rate(
                "bulk permission insert",
                f"bulk_create_permissions, {flavour} ({profile.bulk:,} in one call)",
                run.ours,
                [
                    Baseline(f"plain {driver} COPY of the same permission rows", run.copy.rate),
                    Baseline(
                        f"plain {driver} COPY of those rows + the {run.audit_rows:,} audit rows ours wrote",
                        run.copy_with_audit.rate,
                    ),
                    claim,
                ],
                notes=[
                    f"{rounds(profile.bulk_rounds)}, each into a fresh database; ours also appended "
                    f"{run.audit_rows:,} hash-chained audit events per call (the second baseline copies them too)",
                    f"per permission, ours: {run.ours.split()}",
                    f"per permission, plain COPY: {run.copy.split()}",
                ],
                **copy_goal(run.ours, run.copy),
            )
        )
    return figures


# -- 3. audit append -------------------------------------------------------------------------------------------------


def append_sync(
    bench: Bench, events: list[dict[str, Any]], batch: int | None
) -> tuple[Lap, ChainReport, list[tuple[Any, ...]]]:
    """Append ``events`` one per call (``batch`` None) or ``batch`` per call into a fresh database."""
    clock = time.perf_counter_ns
    lap: list[int] = []
    with bench.scratch() as database:
        with PostgreSQLBackend(bench.config(database)) as store:
            store.audit_head()
            gc.collect()
            with Stopwatch() as watch:
                if batch is None:
                    for event in events:
                        started = clock()
                        store.append_audit_event(event)
                        lap.append(clock() - started)
                else:
                    for part in chunks(events, batch):
                        store.append_audit_events(part)
            report = store.verify_audit()
        return (watch, lap), report, bench.read_back(database, "audit_logs", AUDIT_COLUMNS, "sequence")


async def append_async(
    bench: Bench, events: list[dict[str, Any]], batch: int | None
) -> tuple[Lap, ChainReport, list[tuple[Any, ...]]]:
    clock = time.perf_counter_ns
    lap: list[int] = []
    with bench.scratch() as database:
        async with AsyncPostgreSQLBackend(bench.config(database)) as store:
            await store.audit_head()
            gc.collect()
            with Stopwatch() as watch:
                if batch is None:
                    for event in events:
                        started = clock()
                        await store.append_audit_event(event)
                        lap.append(clock() - started)
                else:
                    for part in chunks(events, batch):
                        await store.append_audit_events(part)
            report = await store.verify_audit()
        return (watch, lap), report, bench.read_back(database, "audit_logs", AUDIT_COLUMNS, "sequence")


def raw_audit_sync(bench: Bench, rows: list[tuple[Any, ...]], batch: int | None) -> Lap:
    """The same rows into a fresh database: COPY in transactions of ``batch``, or one autocommit INSERT per row."""
    clock = time.perf_counter_ns
    lap: list[int] = []
    with bench.scratch() as database, bench.connect(database) as conn:
        conn.execute("SELECT 1")
        gc.collect()
        with Stopwatch() as watch:
            if batch is None:
                for row in rows:
                    started = clock()
                    conn.execute(INSERT_AUDIT_SQL_PSYCOPG, row)
                    lap.append(clock() - started)
            else:
                for part in chunks(rows, batch):
                    with conn.transaction():
                        copy_rows(conn, "audit_logs", AUDIT_COLUMNS, part)
        return watch, lap


async def raw_audit_async(bench: Bench, rows: list[tuple[Any, ...]], batch: int | None) -> Lap:
    clock = time.perf_counter_ns
    lap: list[int] = []
    with bench.scratch() as database:
        conn = await bench.aconnect(database)
        try:
            await conn.execute("SELECT 1")
            gc.collect()
            with Stopwatch() as watch:
                if batch is None:
                    for row in rows:
                        started = clock()
                        await conn.execute(INSERT_AUDIT_SQL, *row)
                        lap.append(clock() - started)
                else:
                    for part in chunks(rows, batch):
                        async with conn.transaction():
                            await conn.copy_records_to_table("audit_logs", records=part, columns=AUDIT_COLUMNS)
        finally:
            await conn.close()
        return watch, lap


@dataclass
class AuditRun:
    ours: Sample = field(default_factory=Sample)
    raw: Sample = field(default_factory=Sample)
    reports: list[ChainReport] = field(default_factory=list)

    def add(self, index: int, count: int, ours: Lap, report: ChainReport, raw: Lap) -> None:
        self.ours.add(index, count, *ours)
        self.raw.add(index, count, *raw)
        if index:
            self.reports.append(report)


def bench_audit(bench: Bench, profile: Profile) -> list[Figure]:
    """Each round: ours into a fresh database, then the plain baseline writes the rows ours wrote into another."""
    progress(f"audit: {profile.singles:,} single appends and {profile.batched:,} in batches of {profile.batch:,}, sync")
    plans = ((False, profile.singles, profile.single_rounds), (True, profile.batched, profile.batch_rounds))
    sync: dict[bool, AuditRun] = {}
    for batched, size, count in plans:
        batch = profile.batch if batched else None
        run = sync[batched] = AuditRun()
        for index in range(count + 1):
            events = round_events(index, warm_size(index, size))
            lap, report, rows = append_sync(bench, events, batch)
            run.add(index, len(events), lap, report, raw_audit_sync(bench, rows, batch))

    async def run_async() -> dict[bool, AuditRun]:
        progress("audit: the same, async")
        runs: dict[bool, AuditRun] = {}
        for batched, size, count in plans:
            batch = profile.batch if batched else None
            run = runs[batched] = AuditRun()
            for index in range(count + 1):
                events = round_events(index, warm_size(index, size))
                lap, report, rows = await append_async(bench, events, batch)
                run.add(index, len(events), lap, report, await raw_audit_async(bench, rows, batch))
        return runs

    claim = Baseline("the seed's claim (5,000 events/s)", SEED_EVENTS_PER_S, measured=False)
    section = "audit append"
    figures = []
    for flavour, driver, runs in (("sync", "psycopg", sync), ("async", "asyncpg", asyncio.run(run_async()))):
        single, many = runs[False], runs[True]
        insert_floor = Baseline(f"plain {driver} 1-row INSERT per transaction (autocommit)", single.raw.rate)
        figures.append(
            rate(
                section,
                f"append_audit_event, {flavour} (1 event per transaction)",
                single.ours,
                [insert_floor, claim],
                notes=[
                    f"{rounds(profile.single_rounds)} of {profile.singles:,} events; latency p50 / p99 "
                    f"{single.ours.percentile_us(0.5):,.0f} / {single.ours.percentile_us(0.99):,.0f} µs, "
                    f"plain INSERT {single.raw.percentile_us(0.5):,.0f} / {single.raw.percentile_us(0.99):,.0f} µs",
                    check_chain(single.reports, profile.singles),
                ],
            )
        )
        figures.append(
            rate(
                section,
                f"append_audit_events, {flavour} ({profile.batched:,} in batches of {profile.batch:,})",
                many.ours,
                [
                    Baseline(f"plain {driver} COPY of the same rows, {profile.batch:,} per transaction", many.raw.rate),
                    insert_floor,
                    claim,
                ],
                notes=[
                    f"{rounds(profile.batch_rounds)}, each into a fresh database",
                    f"per event, ours: {many.ours.split()}",
                    f"per event, plain COPY: {many.raw.split()}",
                    check_chain(many.reports, profile.batched),
                ],
                **copy_goal(many.ours, many.raw),
            )
        )
    return figures


# -- profiles --------------------------------------------------------------------------------------------------------


def short_path(path: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1].removeprefix(".11/").removeprefix(".12/").removeprefix(".13/")
    return path


def plumbing(path: str, name: str) -> bool:
    """Frames that only carry the call (the event loop, this file), left out of the listings."""
    return "/asyncio/" in path or path == __file__ or name == "<method 'run' of '_contextvars.Context' objects>"


def print_stats(title: str, profiler: cProfile.Profile, top: int = 15) -> None:
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(tottime for (_, _, tottime, _, _) in stats.values())
    kept = [item for item in stats.items() if not plumbing(item[0][0], item[0][2])]
    for key, label in (("cumulative", 3), ("tottime", 2)):
        print(f"\n{title}: top {top} by {key} ({total:.3f} s profiled; event-loop and bench frames left out)")
        print(f"{'ncalls':>12} {'tottime':>8} {'cumtime':>8} {'cum %':>6}  function")
        for (path, line, name), (primitive, calls, tottime, cumtime, _) in sorted(
            kept, key=lambda item: item[1][label], reverse=True
        )[:top]:
            count = f"{calls}/{primitive}" if calls != primitive else str(calls)
            where = f"{short_path(path)}:{line}({name})" if line else name
            print(f"{count:>12} {tottime:8.3f} {cumtime:8.3f} {cumtime / total:6.0%}  {where}")


def run_profiles(bench: Bench, profile: Profile) -> None:
    events = round_events(1, profile.batched)
    batches = chunks(events, profile.batch)
    items = permission_items(1, profile.bulk)

    with bench.scratch() as database, PostgreSQLBackend(bench.config(database)) as store:
        store.append_audit_events(round_events(0, profile.batch))  # warm-up
        profiler = cProfile.Profile()
        profiler.enable()
        for batch in batches:
            store.append_audit_events(batch)
        profiler.disable()
    print_stats(f"append_audit_events, sync, {len(events):,} events in batches of {profile.batch:,}", profiler)

    with bench.scratch() as database, PostgreSQLBackend(bench.config(database)) as store:
        store.bulk_create_permissions(permission_items(0, profile.bulk // WARMUP_SHARE))  # warm-up
        profiler = cProfile.Profile()
        profiler.enable()
        store.bulk_create_permissions(items, actor="bench")
        profiler.disable()
    print_stats(f"bulk_create_permissions, sync, {len(items):,} in one call", profiler)

    async def run_async() -> tuple[cProfile.Profile, cProfile.Profile]:
        with bench.scratch() as database:
            async with AsyncPostgreSQLBackend(bench.config(database)) as store:
                await store.append_audit_events(round_events(0, profile.batch))
                audit = cProfile.Profile()
                audit.enable()
                for batch in batches:
                    await store.append_audit_events(batch)
                audit.disable()
        with bench.scratch() as database:
            async with AsyncPostgreSQLBackend(bench.config(database)) as store:
                await store.bulk_create_permissions(permission_items(0, profile.bulk // WARMUP_SHARE))
                bulk = cProfile.Profile()
                bulk.enable()
                await store.bulk_create_permissions(items, actor="bench")
                bulk.disable()
        return audit, bulk

    audit, bulk = asyncio.run(run_async())
    print_stats(f"append_audit_events, async, {len(events):,} events in batches of {profile.batch:,}", audit)
    print_stats(f"bulk_create_permissions, async, {len(items):,} in one call", bulk)


# -- output ----------------------------------------------------------------------------------------------------------


def fmt(kind: str, value: float, p99: float | None = None) -> str:
    if kind == "rate":
        return f"{value:,.0f} rows/s"
    return f"{value:,.1f} / {p99:,.1f} µs" if p99 is not None else f"{value:,.1f} µs"


def fmt_ratio(figure: Figure, baseline: Baseline) -> str:
    if figure.kind == "rate":
        return f"{figure.ratio(baseline):.0%} of its rate"
    text = f"{figure.ratio(baseline):.2f}x"
    if figure.p99 is not None and baseline.p99:
        text += f" / {figure.p99 / baseline.p99:.2f}x"
    return text + " its time"


HEADERS = ["figure", "ours", "±", "baseline", "ratio", "goal", "met"]


def table_lines(figures: list[Figure]) -> list[list[str]]:
    lines = []
    for figure in figures:
        for index, baseline in enumerate(figure.baselines):
            first = index == 0
            met = "" if figure.met is None else ("yes" if figure.met else "NO")
            claim = "" if baseline.measured else " (claim)"
            lines.append(
                [
                    figure.name if first else "",
                    fmt(figure.kind, figure.value, figure.p99) if first else "",
                    f"±{figure.spread:.0%}" if first and figure.spread is not None else "",
                    f"{fmt(figure.kind, baseline.value, baseline.p99)}{claim} {baseline.label}",
                    fmt_ratio(figure, baseline),
                    figure.goal if first else "",
                    met if first else "",
                ]
            )
    return lines


def print_table(figures: list[Figure], meta: dict[str, Any]) -> None:
    print(f"greenlang-pg benchmarks ({meta['profile']} run, {meta['duration_s']:.1f} s)")
    for key, value in meta.items():
        if key not in ("profile", "duration_s"):
            print(f"  {key}: {value}")
    for section in dict.fromkeys(figure.section for figure in figures):
        chosen = [figure for figure in figures if figure.section == section]
        lines = [HEADERS, *table_lines(chosen)]
        widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
        print(f"\n{section}")
        for line in lines:
            print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        for figure in chosen:
            for note in figure.notes:
                print(f"  - {figure.name}: {note}")
    print(
        "\nlatency figures are p50 / p99 per call; their ratio is ours / baseline time (below 1 is faster). "
        "Rate figures are the median over rounds (± is half the range of the round rates); their ratio is "
        "ours / baseline rate (above 100% is faster). 'client CPU' is this process's CPU time (time.process_time) "
        "over the timed calls; 'waiting' is the rest of the wall time (the server, on the same machine, "
        "and the network)."
    )


def run(profile: Profile, profiles_only: bool) -> tuple[list[Figure], dict[str, Any]]:
    started = time.perf_counter()
    progress("starting PostgreSQL (or connecting to GREENLANG_TEST_PG_DSN)")
    figures: list[Figure] = []
    with open_server() as server:
        bench = Bench(server)
        described = bench.describe()
        if profiles_only:
            run_profiles(bench, profile)
        else:
            figures += bench_lookups(bench, profile)
            figures += bench_bulk(bench, profile)
            figures += bench_audit(bench, profile)
    meta = {
        "profile": profile.name,
        "duration_s": time.perf_counter() - started,
        "machine": f"{os.cpu_count()} cores ({cpu_model()}), {platform.system()} {platform.machine()}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        **described,
        "client": f"python {platform.python_version()}, greenlang-pg {version('greenlang-pg')}, "
        f"psycopg {version('psycopg')}, asyncpg {version('asyncpg')}, sqlalchemy {version('sqlalchemy')}",
    }
    return figures, meta


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run, less precise")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the batched audit append and the bulk insert instead"
    )
    args = parser.parse_args(argv)
    figures, meta = run(QUICK if args.quick else FULL, args.profile)
    if args.profile:
        print(f"\ngreenlang-pg profiles ({meta['duration_s']:.1f} s)")
        for key, value in meta.items():
            if key not in ("profile", "duration_s"):
                print(f"  {key}: {value}")
    elif args.json:
        results = [{**asdict(f), "ratios": [f.ratio(b) for b in f.baselines]} for f in figures]
        print(json.dumps({"meta": meta, "results": results}, indent=2, ensure_ascii=False))
    else:
        print_table(figures, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
