"""Authorization at scale: our engine beside pycasbin and cedarpy on one RBAC-with-domains workload.

Usage: python bench/authz.py [--quick] [--json] [--sizes 1000,10000,100000] [--requests N] [--profile] [--store]

For each size, ``authz_workload`` generates a seeded policy of that many rules
(about 100 per organisation) and a list of requests, about half of them
allowed. Ours is ``Authorizer.check`` on a pinned ``PolicySnapshot`` built in
memory with ``from_records`` (no store round trip per check, like the peers);
``authz_peers`` expresses the same policy in pycasbin and Cedar. Every engine
answers the same requests in the same order, and every answer must equal
ours: one disagreement prints the first few and exits 1.

Ours answers every request. A peer answers every request when that fits its
time budget; a slower one answers a prefix of the same list, sized from a
short probe, and the table says how many. Agreement is checked on whatever
each engine answered, so the slowest configurations are checked on a shorter
shared prefix. Rates are the median over timed passes of that list (each pass
on a fresh ``Authorizer``, so a decision cache, if any, starts empty), after
an untimed warm-up on extra requests not in the timed list. ``--profile``
runs cProfile over our checks at the largest size instead. See bench/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from authz_peers import Engine, casbin_enforcer, casbin_fast, cedar_all, cedar_per_org
from authz_workload import Check, Workload, generate, our_records
from core import Sample, progress

from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.auth.engine import Authorizer
from greenlang.auth.snapshot import PolicySnapshot

BENCH = Path(__file__).resolve().parent
WARMUP = 200
PROBE = 3
MIN_SUBSET = 20
PEERS = (casbin_fast, cedar_per_org, cedar_all, casbin_enforcer)
OURS = "greenlang Authorizer (pinned snapshot)"
OURS_UNCACHED = "greenlang Authorizer, decision cache off"


@dataclass(frozen=True)
class Profile:
    name: str
    sizes: tuple[int, ...]
    requests: int
    budget_s: float
    """Time each engine may spend on timed passes at one size; ours always answers every request once."""
    max_rounds: int


FULL = Profile("full", (1_000, 10_000, 100_000), 10_000, 25.0, 3)
QUICK = Profile("quick", (1_000, 10_000), 1_000, 4.0, 2)


@dataclass
class Result:
    engine: str
    answered: int
    rounds: int
    build_s: float
    rate: float
    p50_us: float | None
    p99_us: float | None
    spread: float
    decisions: list[bool] = field(repr=False)


@dataclass
class SizeReport:
    size: int
    orgs: int
    roles: int
    users: int
    requests: int
    allowed_share: float
    results: list[Result]
    ours: dict[str, Any]
    agreement: str
    phases: dict[str, float]


# -- timing ----------------------------------------------------------------------------------------------------------


def timed_pass(check: Callable[[Any], bool], ready: Sequence[Any], lap: list[int], answers: list[bool]) -> float:
    clock = time.perf_counter_ns
    started = clock()
    for item in ready:
        before = clock()
        answers.append(check(item))
        lap.append(clock() - before)
    return len(ready) * 1e9 / (clock() - started)


def run_engine(
    name: str,
    prepare: Callable[[Check], Any],
    session: Callable[[], Callable[[Any], bool]],
    w: Workload,
    requests: int,
    profile: Profile,
    build_s: float,
    everything: bool = False,
) -> Result:
    """Warm up, size the timed list to the budget (unless ``everything``), then time passes over it."""
    ready = [prepare(c) for c in w.checks[:requests]]
    warm = [prepare(c) for c in w.checks[requests:]]
    check = session()
    started = time.perf_counter()
    for item in warm[:PROBE]:
        check(item)
    probe_started = time.perf_counter()
    for item in warm[PROBE : 2 * PROBE]:
        check(item)
    per_check = max(1e-7, (time.perf_counter() - probe_started) / PROBE)
    count = len(ready) if everything else min(len(ready), max(MIN_SUBSET, int(profile.budget_s / per_check)))
    deadline = started + 0.1 * profile.budget_s
    for item in warm[2 * PROBE :]:
        if time.perf_counter() > deadline:
            break
        check(item)
    rates: list[float] = []
    latencies: list[int] = []
    decisions: list[bool] = []
    budget_end = time.perf_counter() + profile.budget_s
    while not rates or (len(rates) < profile.max_rounds and time.perf_counter() + 1 / rates[-1] * count < budget_end):
        gc.collect()
        answers: list[bool] = []
        rates.append(timed_pass(session(), ready[:count], latencies, answers))
        decisions = decisions or answers
    sample = Sample(rates, latencies, len(latencies))
    return Result(
        name,
        count,
        len(rates),
        build_s,
        sample.rate,
        sample.percentile_us(0.50),
        sample.percentile_us(0.99),
        sample.spread,
        decisions,
    )


# -- ours ------------------------------------------------------------------------------------------------------------


def our_request(check: Check) -> tuple[str, str, str, dict[str, str]]:
    return check.user, check.action, check.resource, {"org": check.org}


def our_session(snapshot: PolicySnapshot, cached: bool = True) -> Callable[[], Callable[[Any], bool]]:
    def session() -> Callable[[Any], bool]:
        authorizer = Authorizer(snapshot=snapshot) if cached else Authorizer(snapshot=snapshot, cache_size=0)
        return lambda req: authorizer.check(*req).allowed

    return session


def build_ours(w: Workload) -> tuple[PolicySnapshot, float, float]:
    """The snapshot, how long validating the records took, and how long building the snapshot from them took."""
    started = time.perf_counter()
    records = our_records(w)
    validated = time.perf_counter()
    snapshot = PolicySnapshot.from_records(
        permissions=records.permissions,
        roles=records.roles,
        assignments=records.assignments,
        policies=records.policies,
    )
    return snapshot, validated - started, time.perf_counter() - validated


def repeated_check(snapshot: PolicySnapshot, w: Workload, requests: int, budget_s: float) -> dict[str, Any]:
    """The same request checked 20 times in a row, for up to 200 requests within ``budget_s``.

    Caches are warm, and so is the decision cache if the engine has one.
    """
    authorizer = Authorizer(snapshot=snapshot)
    latencies: list[int] = []
    clock = time.perf_counter_ns
    deadline = time.perf_counter() + budget_s
    for check in w.checks[: min(200, requests)]:
        req = our_request(check)
        authorizer.check(*req)
        for _ in range(20):
            before = clock()
            authorizer.check(*req)
            latencies.append(clock() - before)
        if time.perf_counter() > deadline:
            break
    sample = Sample([1.0], latencies, len(latencies))
    stats = getattr(authorizer, "get_statistics", None)
    return {
        "requests": len(latencies) // 20,
        "p50_us": sample.percentile_us(0.50),
        "p99_us": sample.percentile_us(0.99),
        "statistics": stats() if callable(stats) else None,
    }


_MEMORY_CHILD = """
import gc, json, sys, time
sys.path.insert(0, sys.argv[1])
from authz_workload import generate, our_records, org_slices
from greenlang.auth.snapshot import PolicySnapshot
import greenlang.auth.engine

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024

def streamed(w, kind):
    for part in org_slices(w, 20):
        yield from getattr(our_records(part), kind)

w = generate(int(sys.argv[2]), 0)
gc.collect()
before = rss_mb()
if sys.argv[3] == "streamed":
    kinds = ("permissions", "roles", "assignments", "policies")
    snapshot = PolicySnapshot.from_records(**{kind: streamed(w, kind) for kind in kinds})
else:
    r = our_records(w)
    snapshot = PolicySnapshot.from_records(
        permissions=r.permissions, roles=r.roles, assignments=r.assignments, policies=r.policies
    )
    del r
gc.collect()
print(json.dumps({"rss_mb": rss_mb() - before, "process_rss_mb": rss_mb()}))
"""


def snapshot_memory(size: int) -> dict[str, float]:
    """RSS growth of a fresh interpreter while it builds the snapshot, with records streamed in and all at once.

    Streamed: records are made one slice of organisations at a time and packed as
    they arrive, so what stays is the snapshot. All at once: every record is in
    memory beside the snapshot while it is built, as after ``load_policy_state``;
    freed records leave the interpreter's arenas fragmented, so RSS stays near
    that peak.
    """
    values: dict[str, float] = {}
    for how, key in (("streamed", "streamed_rss_mb"), ("listed", "snapshot_rss_mb")):
        done = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, str(BENCH), str(size), how],
            capture_output=True,
            text=True,
            check=True,
        )
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        values[key] = measured["rss_mb"]
        values[key.replace("_rss_mb", "_process_rss_mb")] = measured["process_rss_mb"]
    return values


def store_round_trip(w: Workload, work: Path) -> dict[str, float]:
    """Write the records with the SQLite bulk APIs, then load them back and build a snapshot in a fresh backend."""
    records = our_records(w)
    path = work / f"authz-{w.size}.db"
    started = time.perf_counter()
    with SQLiteBackend(path) as store:
        store.bulk_create_permissions(records.permissions)
        store.bulk_create_roles(records.roles)
        store.bulk_create_assignments(records.assignments)
        store.bulk_create_policies(records.policies)
    written = time.perf_counter()
    with SQLiteBackend(path) as store:
        state = store.load_policy_state()
        loaded = time.perf_counter()
        PolicySnapshot.build(state)
    return {"write_s": written - started, "load_s": loaded - written, "build_s": time.perf_counter() - loaded}


# -- one size --------------------------------------------------------------------------------------------------------


def disagreement(w: Workload, ours: Result, other: Result) -> list[str]:
    lines = []
    for index, (mine, theirs) in enumerate(zip(ours.decisions, other.decisions, strict=False)):
        if mine != theirs:
            c = w.checks[index]
            lines.append(
                f"  request {index}: {c.user} {c.action} {c.resource} in {c.org}: "
                f"ours {'allow' if mine else 'deny'}, {other.engine} {'allow' if theirs else 'deny'}"
            )
    return lines


def run_peer(
    make: Callable[[Workload, Path], Engine], w: Workload, work: Path, requests: int, profile: Profile, size: int
) -> Result:
    """Build one peer, time it, and let it go (peers at 100k rules hold hundreds of MB each)."""
    engine = make(w, work)
    progress(f"{size:,} rules: {engine.name} (built in {engine.build_s:.1f} s)")
    return run_engine(engine.name, engine.prepare, lambda: engine.check, w, requests, profile, engine.build_s)


def bench_size(size: int, profile: Profile, requests: int, work: Path, store: bool) -> SizeReport:
    phases: dict[str, float] = {}
    started = time.perf_counter()
    w = generate(size, requests + WARMUP)
    phases["workload"] = time.perf_counter() - started
    progress(f"{size:,} rules: {len(w.orgs)} orgs, {len(w.roles)} roles; building our snapshot")
    snapshot, records_s, build_s = build_ours(w)
    phases["our records (validation)"] = records_s
    phases["our snapshot build"] = build_s
    mark = time.perf_counter()
    ours = run_engine(OURS, our_request, our_session(snapshot), w, requests, profile, build_s, everything=True)
    phases[OURS] = time.perf_counter() - mark
    mark = time.perf_counter()
    uncached = run_engine(
        OURS_UNCACHED, our_request, our_session(snapshot, cached=False), w, requests, profile, build_s, everything=True
    )
    phases[OURS_UNCACHED] = time.perf_counter() - mark
    mark = time.perf_counter()
    extra: dict[str, Any] = {
        "records_s": records_s,
        "build_s": build_s,
        "repeat": repeated_check(snapshot, w, requests, 0.2 * profile.budget_s),
    }
    del snapshot
    gc.collect()
    extra["memory"] = snapshot_memory(size)
    if store:
        extra["store"] = store_round_trip(w, work)
    phases["ours: repeat, memory, store"] = time.perf_counter() - mark
    if uncached.decisions != ours.decisions:
        print(f"DISAGREEMENT at {size:,} rules: our decision cache changed an answer", file=sys.stderr)
        raise SystemExit(1)
    results = [ours, uncached]
    for make in PEERS:
        mark = time.perf_counter()
        result = run_peer(make, w, work, requests, profile, size)
        gc.collect()
        phases[result.engine] = time.perf_counter() - mark
        wrong = disagreement(w, ours, result)
        if wrong:
            print(f"DISAGREEMENT at {size:,} rules: {len(wrong)} of {result.answered} requests differ", file=sys.stderr)
            print("\n".join(wrong[:5]), file=sys.stderr)
            raise SystemExit(1)
        results.append(result)
    shared = min(r.answered for r in results)
    full = sum(r.answered == requests for r in results)
    subsets = "; ".join(f"{r.engine} on the first {r.answered:,}" for r in results if r.answered < requests)
    agreement = f"identical decisions: {full} engines (ours included) on all {requests:,} requests"
    if subsets:
        agreement += f"; {subsets}; all {len(results)} on the first {shared:,}"
    allowed = sum(ours.decisions) / len(ours.decisions)
    users = len({m.user for m in w.members})
    return SizeReport(size, len(w.orgs), len(w.roles), users, requests, allowed, results, extra, agreement, phases)


# -- goals and output ------------------------------------------------------------------------------------------------


def goals(reports: list[SizeReport]) -> list[tuple[str, str, str, str]]:
    """(goal, target, measured, verdict) for each goal of issue 7 that this run can measure."""
    by_size = {r.size: r for r in reports}
    rows: list[tuple[str, str, str, str]] = []
    for size in (10_000, 100_000):
        if size in by_size:
            ours, uncached, *peers = by_size[size].results
            best = max(peers, key=lambda r: r.rate)
            for mine in (ours, uncached):
                ratio = mine.rate / best.rate
                rows.append(
                    (
                        f"throughput at {size:,}" + ("" if mine is ours else ", decision cache off"),
                        ">= 10x fastest peer",
                        f"{mine.rate:,.0f}/s = {ratio:.2f}x {best.engine} ({best.rate:,.0f}/s)",
                        verdict(ratio >= 10),
                    )
                )
    if 1_000 in by_size and 100_000 in by_size:
        low, high = by_size[1_000].results[0].p99_us, by_size[100_000].results[0].p99_us
        if low and high:
            rows.append(
                (
                    "flatness",
                    "p99 at 100k <= 2x p99 at 1k",
                    f"{high:,.0f} µs / {low:,.0f} µs = {high / low:.1f}x",
                    "met" if high <= 2 * low else "missed",
                )
            )
    last = reports[-1]
    where = f"at {last.size:,}" if last.size >= 100_000 else f"at {last.size:,}, goal is at 100,000"
    p50 = last.results[1].p50_us or 0.0
    rows.append(("warm latency", "p50 <= 20 µs", f"{p50:,.1f} µs {where}, decision cache off", verdict(p50 <= 20)))
    stats = last.ours["repeat"]["statistics"]
    repeat = last.ours["repeat"]["p50_us"] or 0.0
    if stats is None:
        rows.append(("cache hit", "<= 3 µs", f"no decision cache; same request again: {repeat:,.1f} µs", "missed"))
    else:
        rate = stats["decision_cache"]["hit_rate"]
        measured = f"same request again: {repeat:,.1f} µs {where} (hit rate {rate:.0%})"
        rows.append(("cache hit", "<= 3 µs", measured, verdict(repeat <= 3)))
    memory = last.ours["memory"]
    streamed = memory["streamed_rss_mb"] * 2**20 / 1e6
    listed = memory["snapshot_rss_mb"] * 2**20 / 1e6
    rows.append(
        (
            "memory",
            "snapshot <= 200 MB RSS",
            f"{streamed:,.0f} MB {where}, records streamed in; {listed:,.0f} MB with every record in memory at once",
            verdict(streamed <= 200),
        )
    )
    build = last.ours["build_s"]
    rows.append(("load", "snapshot build < 2 s", f"{build:.2f} s {where}", verdict(build < 2)))
    # A goal set at 100,000 rules is not met by a run that stopped short of them.
    return [(g, t, m, "not judged" if "goal is at 100,000" in m else v) for g, t, m, v in rows]


def verdict(met: bool) -> str:
    return "met" if met else "missed"


def fmt_us(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value / 1e3:,.2f} ms" if value >= 1_000 else f"{value:,.1f} µs"


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def print_report(reports: list[SizeReport], meta: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(180, Console().width))
    console.print(f"[bold]Authorization at scale[/bold] ({meta['profile']} run, {meta['duration_s']:.0f} s)")
    console.print(", ".join(f"{k} {v}" for k, v in meta.items() if k not in ("profile", "duration_s")))
    table = Table(show_lines=False)
    for header in ("rules", "engine", "requests timed", "rounds", "build", "p50", "p99", "checks/s", "ours ÷ engine"):
        table.add_column(header, justify="left" if header == "engine" else "right", no_wrap=True)
    for report in reports:
        ours = report.results[0]
        for result in report.results:
            table.add_row(
                f"{report.size:,}" if result is ours else "",
                result.engine,
                f"{result.answered:,}" + ("" if result.answered == report.requests else " (subset)"),
                str(result.rounds),
                f"{result.build_s:.2f} s",
                fmt_us(result.p50_us),
                fmt_us(result.p99_us),
                fmt_rate(result.rate),
                "" if result.engine.startswith("greenlang") else f"{ours.rate / result.rate:,.2f}x",
            )
        table.add_section()
    console.print(table)
    for report in reports:
        extra = report.ours
        memory, repeat = extra["memory"], extra["repeat"]
        console.print(
            f"[bold]{report.size:,} rules[/bold]: {report.orgs:,} orgs, {report.roles:,} roles, {report.users:,} users;"
            f" {report.allowed_share:.0%} of requests allowed. {report.agreement}."
        )
        line = (
            f"  ours: records validated in {extra['records_s']:.2f} s, snapshot built in {extra['build_s']:.2f} s;"
            f" snapshot {memory['streamed_rss_mb']:,.1f} MiB RSS with records streamed in (process"
            f" {memory['streamed_process_rss_mb']:,.0f} MiB), {memory['snapshot_rss_mb']:,.1f} MiB with every record"
            f" in memory at once; each of {repeat['requests']} requests repeated 20 times: p50 "
            f"{fmt_us(repeat['p50_us'])}, p99 {fmt_us(repeat['p99_us'])}"
            f" (decision cache: {repeat['statistics']['decision_cache']})"
        )
        if "store" in extra:
            s = extra["store"]
            line += (
                f"; SQLite: bulk write {s['write_s']:.1f} s, load_policy_state {s['load_s']:.2f} s,"
                f" build {s['build_s']:.2f} s"
            )
        console.print(line)
        console.print("  time: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.phases.items()))
    goal_table = Table(title="issue 7 goals", title_justify="left")
    for header in ("goal", "target", "measured", "verdict"):
        goal_table.add_column(header)
    for row in goals(reports):
        goal_table.add_row(*row)
    console.print(goal_table)
    console.print(
        "ours ÷ engine: above 1 means ours answers more checks per second. A subset is a prefix of the same"
        " request list, sized to the time budget; its p99 rests on few samples."
    )


def run(profile: Profile, sizes: Sequence[int], requests: int, store: bool) -> tuple[list[SizeReport], dict[str, Any]]:
    started = time.perf_counter()
    reports = []
    with tempfile.TemporaryDirectory(prefix="greenlang-authz-") as temp:
        for size in sizes:
            work = Path(temp) / str(size)
            work.mkdir()
            reports.append(bench_size(size, profile, requests, work, store))
    meta = {
        "profile": profile.name,
        "duration_s": time.perf_counter() - started,
        "greenlang-core": version("greenlang-core"),
        "pycasbin": version("pycasbin"),
        "cedarpy": version("cedarpy"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "peak RSS of this process": f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB",
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    return reports, meta


def profile_ours(size: int, requests: int) -> None:
    """cProfile of our checks at ``size``: where the time of a check goes."""
    w = generate(size, requests)
    snapshot, _, _ = build_ours(w)
    authorizer = Authorizer(snapshot=snapshot)
    ready = [our_request(c) for c in w.checks]
    profiler = cProfile.Profile()
    profiler.enable()
    for req in ready:
        authorizer.check(*req)
    profiler.disable()
    print(f"cProfile of {len(ready):,} checks at {size:,} rules")
    for key in ("tottime", "cumulative"):
        pstats.Stats(profiler).sort_stats(key).print_stats(15)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 requests at 1k and 10k rules, short budgets")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--sizes", help="comma-separated rule counts, e.g. 1000,10000,100000")
    parser.add_argument("--requests", type=int, help="requests per size (10,000; 1,000 with --quick)")
    parser.add_argument("--profile", action="store_true", help="cProfile our checks at the largest size instead")
    parser.add_argument("--store", action="store_true", help="also write each policy to SQLite and load it back")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else profile.sizes
    requests = args.requests or profile.requests
    if args.profile:
        profile_ours(max(sizes), min(requests, 1_000))
        return 0
    reports, meta = run(profile, sizes, requests, args.store)
    if args.json:
        data = [{**asdict(r), "results": [{**asdict(x), "decisions": None} for x in r.results]} for r in reports]
        goal_rows = [dict(zip(("goal", "target", "measured", "verdict"), g, strict=True)) for g in goals(reports)]
        print(json.dumps({"meta": meta, "sizes": data, "goals": goal_rows}, indent=2))
    else:
        print_report(reports, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
