"""Decisions remembered for one snapshot, keyed on everything they can depend on.

A decision depends on the subject, action and resource, on the context
attributes some scope or condition reads (``PolicySnapshot.read_paths``), and
on the time, but only through the instants at which an assignment, policy or
rule starts or stops (``time_edges``), or the hour when a weekday or hour
window exists. So an entry keeps the interval of time it holds for and is used
only inside it. A cache belongs to one snapshot: a reload brings a new, empty
one, which is how the snapshot version invalidates it.

A plain dict rather than ``cachetools``: a hit must cost about a microsecond,
and an LRU's bookkeeping on every read costs more than that. When full, the
oldest quarter of the entries goes.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from time import perf_counter
from typing import Any

from greenlang.auth.conditions import MISSING, lookup
from greenlang.auth.decision import Decision, made_decision
from greenlang.auth.snapshot import PolicySnapshot

__all__ = ["CacheStats", "DecisionCache", "DEFAULT_MAX_ENTRIES"]

DEFAULT_MAX_ENTRIES = 100_000
_HOUR = timedelta(hours=1)
_LAST_HOUR = datetime.max.replace(minute=0, second=0, microsecond=0, tzinfo=UTC)


@dataclass
class CacheStats:
    """Counts kept across snapshots, so a hit rate survives reloads (approximate under many threads)."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0
    uncacheable: int = 0

    def as_dict(self, entries: int, max_entries: int) -> dict[str, Any]:
        looked = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hits / looked if looked else 0.0,
            "entries": entries,
            "max_entries": max_entries,
            "evictions": self.evictions,
            "uncacheable": self.uncacheable,
        }


MAX_KEY_SIZE = 2048
"""Context values a cache key may hold, counted in characters of text plus items of collections, at every
depth: the cache is bounded by entries, so each entry must be small; larger requests are answered uncached."""

_SIZED = frozenset({list, tuple, dict, set, frozenset})


def _frozen(value: Any, budget: list[int]) -> Hashable:
    """A hashable stand-in that keeps kinds apart: ``1``, ``1.0``, ``True`` and ``"1"`` never share an entry.

    ``budget`` holds what is left of ``MAX_KEY_SIZE``; ``TypeError`` once it is spent, or for a value that
    cannot be keyed (the request is then answered uncached).
    """
    kind = type(value)
    if kind is str or kind in _SIZED:
        budget[0] -= len(value)
        if budget[0] < 0:
            raise TypeError("too large to cache")
        if kind is str:
            return value  # type: ignore[no-any-return]
    if kind is bytes:
        raise TypeError("bytes are not cached")
    if kind is list or kind is tuple:
        return (kind, tuple(_frozen(item, budget) for item in value))
    if isinstance(value, Mapping):
        return (
            kind,
            frozenset(((type(key), _frozen(key, budget)), _frozen(item, budget)) for key, item in value.items()),
        )
    return (kind, value)


_Entry = tuple[datetime | None, datetime | None, bool, str, tuple[str, ...], str, str, str, int]
"""When the decision holds (from, until), then its fields but the time and elapsed: a tuple of plain values,
which the garbage collector stops tracking, unlike the ``Decision`` itself."""


class DecisionCache:
    """Decisions of one snapshot; ``get`` answers a repeat request with a fresh ``Decision`` for ``now``."""

    __slots__ = ("_paths", "_single", "_edges", "_recurring", "_timeless", "_entries", "_max", "stats")

    def __init__(self, snapshot: PolicySnapshot, stats: CacheStats, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._paths = tuple(sorted(snapshot.read_paths))
        self._single = self._paths[0] if len(self._paths) == 1 and "." not in self._paths[0] else None
        self._edges = snapshot.time_edges
        self._recurring = snapshot.recurring_windows
        self._entries: dict[Hashable, _Entry] = {}
        self._timeless = not self._edges and not self._recurring
        self._max = max_entries
        self.stats = stats

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def max_entries(self) -> int:
        return self._max

    def key(self, subject: str, action: str, resource: str, context: Mapping[str, Any]) -> Hashable | None:
        """The request as far as the snapshot's rules can tell requests apart; ``None`` if a value cannot be keyed."""
        single = self._single
        if single is not None:
            value = context.get(single, MISSING)
            if type(value) is str and len(value) <= MAX_KEY_SIZE:
                return subject, action, resource, value
        elif not self._paths:
            return subject, action, resource
        try:
            if single is not None:
                key: Hashable = (subject, action, resource, _frozen(value, [MAX_KEY_SIZE]))
            else:
                budget = [MAX_KEY_SIZE]
                key = (subject, action, resource, *(_frozen(lookup(context, path), budget) for path in self._paths))
            hash(key)
        except TypeError:
            self.stats.uncacheable += 1
            return None
        return key

    def get(self, key: Hashable, now: datetime, started: float) -> Decision | None:
        """A copy of the remembered decision, evaluated at ``now``, if one holds at ``now``."""
        entry = self._entries.get(key)
        if entry is not None:
            low, high, allowed, reason, rules, subject, action, resource, revision = entry
            if (low is None or low <= now) and (high is None or now < high):
                self.stats.hits += 1
                elapsed = (perf_counter() - started) * 1000
                return made_decision(allowed, reason, rules, now, elapsed, subject, action, resource, revision)
        self.stats.misses += 1
        return None

    def put(self, key: Hashable, now: datetime, decision: Decision) -> None:
        """Remember ``decision`` for as long as nothing it depends on can change."""
        entries = self._entries
        if len(entries) >= self._max:
            drop = max(1, self._max // 4)
            for old in list(islice(entries, drop)):
                entries.pop(old, None)
            self.stats.evictions += drop
        low, high = (None, None) if self._timeless else self._interval(now)
        d = decision
        entries[key] = (low, high, d.allowed, d.reason, d.deciding_rules, d.subject, d.action, d.resource, d.revision)

    def _interval(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        edges = self._edges
        low: datetime | None = None
        high: datetime | None = None
        if edges:
            at = bisect_right(edges, now)
            low = edges[at - 1] if at else None
            high = edges[at] if at < len(edges) else None
        if self._recurring:
            hour = now.replace(minute=0, second=0, microsecond=0)
            low = hour if low is None or low < hour else low
            if hour < _LAST_HOUR:  # past it, there is no next hour to stop at
                high = hour + _HOUR if high is None or high > hour + _HOUR else high
        return low, high
