"""How long one tenant's policy state takes to load: ``load_policy_state(tenant=...)`` on PostgreSQL and SQLite.

Usage: python bench/authz_load.py [--quick] [--rows N]

Several tenants are bulk-inserted into one store: the measured one with
``--rows`` rows (default 100,000; mostly permissions, about 10% roles and
assignments, a few policies), other tenants around it, and some shared rows
(no tenant) that every tenant loads too. Then ``load_policy_state(tenant=...)``
is timed, median of 3, each on a fresh backend object so no kept state is
reused: the read (one snapshot) plus building every record it returns. The
goal is under 2 s for 100,000 rows on PostgreSQL, sync and async; SQLite is
timed beside them. As a baseline the same rows are fetched by psycopg and
validated one by one, as loading did before records were rebuilt.

The server is ``GREENLANG_TEST_PG_DSN`` when set, else a throwaway one that
``greenlang_pg.testing`` starts on 127.0.0.1 (pgserver's or the system's
binaries) and removes at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenlang.auth.backends.base import PolicyState
from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.auth.permissions import Permission, PermissionEffect
from greenlang.auth.policies import Policy, PolicyRule, PolicyType
from greenlang.auth.roles import Role, RoleAssignment
from greenlang_pg import AsyncPostgreSQLBackend, DatabaseConfig, PostgreSQLBackend
from greenlang_pg.migrate import upgrade
from greenlang_pg.rows import ASSIGNMENTS, PERMISSIONS, POLICIES, ROLES
from greenlang_pg.testing.server import open_server

GOAL_S = 2.0
GOAL_ROWS = 100_000
REPEATS = 3
MEASURED = "tenant-0"
ACTIONS = ("read", "write", "export", "approve")


@dataclass
class Records:
    permissions: list[Permission]
    roles: list[Role]
    assignments: list[RoleAssignment]
    policies: list[Policy]

    @property
    def count(self) -> int:
        return len(self.permissions) + len(self.roles) + len(self.assignments) + len(self.policies)


def records(tenant: str | None, rows: int, seed: int) -> Records:
    """``rows`` records of one tenant (``None``: shared): 89% permissions, 5% roles, 6% assignments, 0.1% policies.

    Permissions name resources of the tenant's organisations; one in ten has a
    scope or a condition. Each role holds about twenty permissions and half
    inherit from an earlier role; members hold one role within an organisation.
    """
    rng = random.Random(f"{seed}:{tenant}")
    prefix = tenant or "shared"
    policies = max(1, rows // 1000)
    roles = max(1, rows // 20)
    assignments = max(1, rows * 6 // 100)
    permissions = rows - roles - assignments - policies
    perms = []
    for index in range(permissions):
        org, site = f"org-{rng.randrange(20)}", f"site-{rng.randrange(10)}"
        extra: dict[str, Any] = {}
        if index % 10 == 1:
            extra["scope"] = f"org:{org}"
        elif index % 10 == 2:
            extra["conditions"] = [{"attribute": "report.status", "operator": "eq", "value": "published"}]
        perms.append(
            Permission(
                permission_id=f"{prefix}.p{index}",
                resource=f"emissions:{org}:{site}:**" if index % 3 else f"emissions:{org}:*:report-{index % 7}",
                action=ACTIONS[index % 4],
                effect=PermissionEffect.DENY if index % 17 == 0 else PermissionEffect.ALLOW,
                tenant_id=tenant,
                **extra,
            )
        )
    role_list = []
    for index in range(roles):
        held = perms[index * 20 % len(perms) :][:20] if perms else []
        parents = [role_list[rng.randrange(index)].role_id] if index and rng.random() < 0.5 else []
        role_list.append(
            Role(
                role_id=f"{prefix}.r{index}",
                role_name=f"{prefix}.r{index}",
                permissions=[p.permission_id for p in held],
                parent_roles=parents,
                tenant_id=tenant,
            )
        )
    grants = [
        RoleAssignment(
            assignment_id=f"{prefix}.a{index}",
            subject=f"{prefix}.u{index}",
            role_id=role_list[rng.randrange(roles)].role_id,
            scope=f"org:org-{rng.randrange(20)}",
            tenant_id=tenant,
        )
        for index in range(assignments)
    ]
    policy_list = [
        Policy(
            policy_id=f"{prefix}.pol{index}",
            policy_name=f"{prefix}.pol{index}",
            policy_type=PolicyType.RBAC,
            rules=[
                PolicyRule(
                    effect=PermissionEffect.DENY,
                    actions=["export"],
                    resources=[f"emissions:org-{index % 20}:**"],
                    roles=[role_list[index % roles].role_name],
                )
            ],
            tenant_id=tenant,
        )
        for index in range(policies)
    ]
    return Records(perms, role_list, grants, policy_list)


def workload(rows: int, others: int, other_rows: int) -> list[Records]:
    """The shared rows, the measured tenant, then the other tenants."""
    shared = records(None, max(100, rows // 100), 1)
    return [shared, records(MEASURED, rows, 2), *(records(f"tenant-{i}", other_rows, 3) for i in range(1, others + 1))]


def progress(message: str) -> None:
    print(f"[authz_load] {message}", file=sys.stderr, flush=True)


def write(store: Any, batches: list[Records], what: str) -> float:
    """Bulk-insert every tenant's records; returns rows written per second."""
    started = time.perf_counter()
    total = 0
    for batch in batches:
        for kind in ("permissions", "roles", "assignments", "policies"):
            items = getattr(batch, kind)
            store.__getattribute__(f"bulk_create_{kind}")(items)
            total += len(items)
    elapsed = time.perf_counter() - started
    progress(f"{what}: {total:,} rows bulk-inserted in {elapsed:.1f} s ({total / elapsed:,.0f} rows/s)")
    return total / elapsed


def timed(load: Callable[[], PolicyState]) -> tuple[float, int]:
    gc.collect()
    started = time.perf_counter()
    state = load()
    elapsed = time.perf_counter() - started
    return elapsed, len(state.permissions) + len(state.roles) + len(state.policies) + len(state.assignments)


@dataclass
class Figure:
    store: str
    rows: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def measure(store: str, load: Callable[[], tuple[float, int]]) -> Figure:
    seconds, rows = [], 0
    for _ in range(REPEATS):
        elapsed, rows = load()
        seconds.append(elapsed)
    progress(f"{store}: {rows:,} rows, median {statistics.median(seconds):.3f} s")
    return Figure(store, rows, seconds)


def pg_sync(config: DatabaseConfig) -> tuple[float, int]:
    with PostgreSQLBackend(config) as backend:
        return timed(lambda: backend.load_policy_state(tenant=MEASURED))


def pg_async(config: DatabaseConfig) -> tuple[float, int]:
    async def run() -> tuple[float, int]:
        async with AsyncPostgreSQLBackend(config) as backend:
            await backend.revision()  # connect and check the schema outside the timed call, as the sync one does
            gc.collect()
            started = time.perf_counter()
            state = await backend.load_policy_state(tenant=MEASURED)
            elapsed = time.perf_counter() - started
        return elapsed, len(state.permissions) + len(state.roles) + len(state.policies) + len(state.assignments)

    return asyncio.run(run())


def pg_validated(config: DatabaseConfig) -> tuple[float, int]:
    """The baseline: the same query, each row validated by pydantic as ``decode`` does."""
    import psycopg

    with psycopg.connect(**config.libpq_params()) as conn:
        gc.collect()
        started = time.perf_counter()
        count = 0
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            for table in (PERMISSIONS, ROLES, POLICIES, ASSIGNMENTS):
                sql = table.load_sql(True).replace("$1", "%s")
                count += len([table.decode(row) for row in conn.execute(sql, (MEASURED,)).fetchall()])
        return time.perf_counter() - started, count


def sqlite_load(path: Path) -> tuple[float, int]:
    with SQLiteBackend(path) as backend:
        backend.revision()
        return timed(lambda: backend.load_policy_state(tenant=MEASURED))


def report(figures: list[Figure], meta: dict[str, str], written: dict[str, float]) -> None:
    goal = f"goal: < {GOAL_S:g} s for {GOAL_ROWS:,} rows"
    print(f"load_policy_state(tenant=...) of one tenant, median of {REPEATS} ({goal})")
    for key, value in meta.items():
        print(f"  {key}: {value}")
    width = max(len(f.store) for f in figures)
    for figure in figures:
        runs = ", ".join(f"{s:.3f}" for s in figure.seconds)
        per_goal = figure.median * GOAL_ROWS / figure.rows if figure.rows else float("nan")
        verdict = ""
        if figure.store.startswith("PostgreSQL"):
            verdict = "  meets the goal" if per_goal < GOAL_S else "  MISSES the goal"
            if figure.rows < GOAL_ROWS:
                verdict += " (extrapolated: run without --quick to measure it)"
        print(
            f"  {figure.store.ljust(width)}  {figure.rows:>8,} rows  median {figure.median:6.3f} s  "
            f"({runs})  = {per_goal:.2f} s per {GOAL_ROWS:,} rows{verdict}"
        )
    for store, rate in written.items():
        print(f"  bulk insert into {store}: {rate:,.0f} rows/s (all tenants, every kind)")


def run(rows: int, quick: bool) -> None:
    others, other_rows = (2, rows // 5) if quick else (4, rows // 4)
    started = time.perf_counter()
    progress(f"generating {rows:,} rows for {MEASURED} and {others} other tenants of {other_rows:,} rows")
    batches = workload(rows, others, other_rows)
    figures: list[Figure] = []
    written: dict[str, float] = {}
    progress("starting PostgreSQL (or connecting to GREENLANG_TEST_PG_DSN)")
    with open_server() as server, tempfile.TemporaryDirectory() as work:
        database = server.create_database()
        try:
            config = server.config(database)
            upgrade(config)
            with PostgreSQLBackend(config) as backend:
                written["PostgreSQL (sync)"] = write(backend, batches, "PostgreSQL")
            server.execute("VACUUM ANALYZE", database)
            figures.append(measure("PostgreSQL sync (psycopg)", lambda: pg_sync(config)))
            figures.append(measure("PostgreSQL async (asyncpg)", lambda: pg_async(config)))
            figures.append(measure("baseline: psycopg + pydantic validation", lambda: pg_validated(config)))
            version = server.execute("SELECT current_setting('server_version')")[0][0]
        finally:
            server.drop_database(database)
        path = Path(work) / "tenants.db"
        with SQLiteBackend(path) as store:
            written["SQLite"] = write(store, batches, "SQLite")
        figures.append(measure("SQLite", lambda: sqlite_load(path)))
    meta = {
        "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}, python "
        f"{platform.python_version()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        "postgresql": f"{version}, {'launched on 127.0.0.1' if server.launched else 'GREENLANG_TEST_PG_DSN'}",
        "store": f"{sum(b.count for b in batches):,} rows: {batches[0].count:,} shared, {batches[1].count:,} in "
        f"{MEASURED}, {others} other tenants of {other_rows:,}",
        "run": f"{time.perf_counter() - started:.0f} s",
    }
    report(figures, meta, written)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 10,000 rows unless --rows says otherwise")
    parser.add_argument("--rows", type=int, help=f"rows of the measured tenant (default {GOAL_ROWS:,})")
    args = parser.parse_args(argv)
    rows = args.rows or (10_000 if args.quick else GOAL_ROWS)
    if rows < 100:
        parser.error("--rows must be at least 100")
    run(rows, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
