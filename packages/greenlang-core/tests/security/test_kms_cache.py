"""``KeyCache``: the public-key cache every KMS provider shares, aged by a fake clock instead of sleeping."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pytest
from fake_clock import FakeClock

from greenlang.errors import InputError
from greenlang.security.kms.cache import DEFAULT_TTL_SECONDS, CacheStats, KeyCache

REF = "awskms:///arn:aws:kms:eu-west-1:111122223333:key/one"
OTHER_REF = "awskms:///arn:aws:kms:eu-west-1:111122223333:key/two"
WAIT = 5.0


class CountingLoader:
    """A loader that hands out ``"<prefix>-<n>"`` so a test can tell a fresh load from a cached value."""

    def __init__(self, prefix: str = "key") -> None:
        self.prefix = prefix
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return f"{self.prefix}-{self.calls}"


def test_default_ttl_is_one_hour() -> None:
    assert DEFAULT_TTL_SECONDS == 3600
    assert KeyCache().ttl_seconds == 3600


# -- hits and misses --------------------------------------------------------------------------


def test_first_lookup_misses_and_loads_then_the_second_hits(clock: FakeClock) -> None:
    cache: KeyCache[str] = KeyCache(60, timer=clock)
    load = CountingLoader()

    assert cache.get(REF, load) == "key-1"
    assert (cache.stats.hits, cache.stats.misses, load.calls) == (0, 1, 1)

    assert cache.get(REF, load) == "key-1"
    assert (cache.stats.hits, cache.stats.misses, load.calls) == (1, 1, 1)


def test_each_reference_is_cached_on_its_own(clock: FakeClock) -> None:
    cache: KeyCache[str] = KeyCache(60, timer=clock)

    assert cache.get(REF, CountingLoader("one")) == "one-1"
    assert cache.get(OTHER_REF, CountingLoader("two")) == "two-1"
    assert cache.get(REF, CountingLoader("unused")) == "one-1"
    assert (cache.stats.hits, cache.stats.misses) == (1, 2)


def test_hit_rate_is_zero_before_any_lookup() -> None:
    # 0.0 rather than a ZeroDivisionError or NaN: a metrics exporter can print it, and it claims no hits.
    assert CacheStats(0, 0).hit_rate == 0.0
    assert KeyCache().stats.hit_rate == 0.0


@pytest.mark.parametrize(
    ("hits", "misses", "rate"),
    [(1, 1, 0.5), (3, 1, 0.75), (0, 4, 0.0), (5, 0, 1.0)],
)
def test_hit_rate_is_hits_over_lookups(hits: int, misses: int, rate: float) -> None:
    assert CacheStats(hits, misses).hit_rate == pytest.approx(rate)


def test_stats_as_dict_has_hits_misses_and_hit_rate(clock: FakeClock) -> None:
    cache: KeyCache[str] = KeyCache(60, timer=clock)
    load = CountingLoader()
    for _ in range(4):
        cache.get(REF, load)

    assert cache.stats.as_dict() == {"hits": 3, "misses": 1, "hit_rate": 0.75}


# -- time to live -----------------------------------------------------------------------------


def test_entry_expires_after_the_ttl(clock: FakeClock) -> None:
    cache: KeyCache[str] = KeyCache(60, timer=clock)
    load = CountingLoader()
    cache.get(REF, load)

    clock.advance(59.999)
    assert cache.get(REF, load) == "key-1"
    assert load.calls == 1

    clock.advance(0.001)
    assert cache.get(REF, load) == "key-2"
    assert load.calls == 2
    assert (cache.stats.hits, cache.stats.misses) == (1, 2)


def test_a_reloaded_entry_gets_a_fresh_ttl(clock: FakeClock) -> None:
    cache: KeyCache[str] = KeyCache(60, timer=clock)
    load = CountingLoader()
    cache.get(REF, load)
    clock.advance(61)
    assert cache.get(REF, load) == "key-2"

    clock.advance(59)
    assert cache.get(REF, load) == "key-2"
    clock.advance(2)
    assert cache.get(REF, load) == "key-3"


def test_hits_do_not_extend_the_ttl(clock: FakeClock) -> None:
    cache: KeyCache[str] = KeyCache(60, timer=clock)
    load = CountingLoader()
    cache.get(REF, load)
    for _ in range(5):
        clock.advance(11)
        assert cache.get(REF, load) == "key-1"

    clock.advance(6)
    assert cache.get(REF, load) == "key-2"


def test_ttl_zero_turns_caching_off(clock: FakeClock) -> None:
    cache: KeyCache[str] = KeyCache(0, timer=clock)
    load = CountingLoader()

    assert [cache.get(REF, load) for _ in range(3)] == ["key-1", "key-2", "key-3"]
    assert load.calls == 3
    assert cache.stats.as_dict() == {"hits": 0, "misses": 3, "hit_rate": 0.0}

    cache.invalidate(REF)
    cache.invalidate()
    assert cache.get(REF, load) == "key-4"


@pytest.mark.parametrize("ttl", [-1, -0.001, -3600, float("nan"), float("inf")])
def test_negative_ttl_is_refused_naming_the_setting(ttl: float) -> None:
    with pytest.raises(InputError) as raised:
        KeyCache(ttl)

    message = str(raised.value)
    assert "cache_ttl_seconds" in message
    assert str(ttl) in message
    assert re.search(r"\b0\b", message.replace(str(ttl), "")), "the message should say 0 is the lowest value"


# -- invalidation -----------------------------------------------------------------------------


def test_invalidate_one_reference_reloads_only_that_one(clock: FakeClock) -> None:
    cache: KeyCache[str] = KeyCache(60, timer=clock)
    one, two = CountingLoader("one"), CountingLoader("two")
    cache.get(REF, one)
    cache.get(OTHER_REF, two)

    cache.invalidate(REF)

    assert cache.get(REF, one) == "one-2"
    assert cache.get(OTHER_REF, two) == "two-1"
    assert (one.calls, two.calls) == (2, 1)


def test_invalidate_everything_reloads_every_reference(clock: FakeClock) -> None:
    cache: KeyCache[str] = KeyCache(60, timer=clock)
    one, two = CountingLoader("one"), CountingLoader("two")
    cache.get(REF, one)
    cache.get(OTHER_REF, two)

    cache.invalidate()

    assert cache.get(REF, one) == "one-2"
    assert cache.get(OTHER_REF, two) == "two-2"


def test_invalidating_an_unknown_reference_leaves_the_others(clock: FakeClock) -> None:
    cache: KeyCache[str] = KeyCache(60, timer=clock)
    load = CountingLoader()
    cache.get(REF, load)

    cache.invalidate("awskms:///alias/never-seen")

    assert cache.get(REF, load) == "key-1"
    assert load.calls == 1


def test_invalidate_keeps_the_counters(clock: FakeClock) -> None:
    cache: KeyCache[str] = KeyCache(60, timer=clock)
    load = CountingLoader()
    cache.get(REF, load)
    cache.get(REF, load)

    cache.invalidate()

    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


# -- failing loaders --------------------------------------------------------------------------


def test_a_loader_that_raises_is_not_cached_and_counts_as_a_miss(clock: FakeClock) -> None:
    cache: KeyCache[str] = KeyCache(60, timer=clock)
    failure = RuntimeError("service said no")

    def broken() -> str:
        raise failure

    with pytest.raises(RuntimeError) as raised:
        cache.get(REF, broken)
    assert raised.value is failure
    assert (cache.stats.hits, cache.stats.misses) == (0, 1)

    load = CountingLoader()
    assert cache.get(REF, load) == "key-1"
    assert load.calls == 1
    assert (cache.stats.hits, cache.stats.misses) == (0, 2)


# -- threads ----------------------------------------------------------------------------------


def _run(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_concurrent_misses_both_load_outside_the_lock_and_the_later_value_wins(clock: FakeClock) -> None:
    """The docstring's promise: two misses may both load, nobody blocks on a slow load, the last store wins."""
    cache: KeyCache[str] = KeyCache(60, timer=clock)
    started = {"first": threading.Event(), "second": threading.Event()}
    release = {"first": threading.Event(), "second": threading.Event()}
    results: dict[str, str] = {}

    def caller(name: str) -> Callable[[], None]:
        def load() -> str:
            started[name].set()
            assert release[name].wait(WAIT)
            return f"{name}-value"

        def run() -> None:
            results[name] = cache.get(REF, load)

        return run

    first = _run(caller("first"))
    assert started["first"].wait(WAIT)
    second = _run(caller("second"))
    assert started["second"].wait(WAIT), "the second miss waited for the first load: the lock is held while loading"

    release["first"].set()
    first.join(WAIT)
    release["second"].set()
    second.join(WAIT)

    assert results == {"first": "first-value", "second": "second-value"}
    assert (cache.stats.hits, cache.stats.misses) == (0, 2)
    assert cache.get(REF, CountingLoader()) == "second-value"
    assert cache.stats.hits == 1


def test_a_slow_load_does_not_block_a_hit_on_another_reference(clock: FakeClock) -> None:
    cache: KeyCache[str] = KeyCache(60, timer=clock)
    cache.get(OTHER_REF, CountingLoader("two"))
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        assert release.wait(WAIT)
        return "slow"

    def slow_caller() -> None:
        cache.get(REF, slow)

    thread = _run(slow_caller)
    assert started.wait(WAIT)
    try:
        assert cache.get(OTHER_REF, CountingLoader("unused")) == "two-1"
    finally:
        release.set()
        thread.join(WAIT)
    assert cache.get(REF, CountingLoader("unused")) == "slow"


def test_many_threads_on_one_reference_keep_the_counters_consistent(clock: FakeClock) -> None:
    cache: KeyCache[str] = KeyCache(60, timer=clock)
    loads = 0
    loads_lock = threading.Lock()

    def load() -> str:
        nonlocal loads
        with loads_lock:
            loads += 1
        return "the key"

    threads_count, per_thread = 16, 200
    gate = threading.Barrier(threads_count)
    seen: list[str] = []
    seen_lock = threading.Lock()

    def worker() -> None:
        gate.wait(WAIT)
        mine = [cache.get(REF, load) for _ in range(per_thread)]
        with seen_lock:
            seen.extend(mine)

    threads = [_run(worker) for _ in range(threads_count)]
    for thread in threads:
        thread.join(WAIT * 2)

    total = threads_count * per_thread
    assert len(seen) == total
    assert set(seen) == {"the key"}
    stats = cache.stats
    assert stats.hits + stats.misses == total
    assert stats.misses == loads
    assert 1 <= loads <= threads_count


# -- regressions ----------------------------------------------------------------------------


def test_an_entry_expiring_between_check_and_read_is_reloaded_not_a_key_error(clock: FakeClock) -> None:
    """``get`` once read the clock twice (contains, then getitem); crossing the expiry between them raised KeyError."""
    cache: KeyCache[str] = KeyCache(10, timer=clock)
    load = CountingLoader()
    cache.get(REF, load)

    clock.advance(9.5)
    clock.tick = 1.0  # a real monotonic clock also moves between readings; this one crosses the expiry

    assert cache.get(REF, load) in {"key-1", "key-2"}
    assert cache.stats.hits + cache.stats.misses == 2


def test_a_load_begun_before_invalidate_is_not_stored_after_it(clock: FakeClock) -> None:
    """The alias moved while an old lookup was in flight: its answer must not outlive the invalidation."""
    cache: KeyCache[str] = KeyCache(60, timer=clock)
    started, release = threading.Event(), threading.Event()

    def slow_old_lookup() -> str:
        started.set()
        release.wait(5)
        return "old key"

    results: list[str] = []
    worker = _run(lambda: results.append(cache.get(REF, slow_old_lookup)))
    assert started.wait(5)
    cache.invalidate()
    release.set()
    worker.join(5)
    assert results == ["old key"]  # the caller that asked still gets its answer
    assert cache.get(REF, lambda: "new key") == "new key"  # but it was not cached
