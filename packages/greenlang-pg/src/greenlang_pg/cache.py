"""The read cache for permission, role and policy lookups, and how it learns of changes.

Entries live for ``ttl`` seconds at most. Every committed write sends one
``NOTIFY`` on ``CHANNEL`` naming what it changed, inside its transaction, so
every backend object listening (in any process) drops those entries as soon as
the write commits. The cache serves entries only while its listener is
connected; a lookup that raced with an invalidation of its key is not stored:
each invalidation is numbered, and ``put`` refuses a value read before the last
invalidation of that key (or of everything).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from cachetools import TTLCache

from greenlang.errors import InputError

__all__ = ["CHANNEL", "MISSING", "ReadCache", "encode_changes", "decode_changes"]

CHANNEL = "greenlang_changes"
_EVERYTHING = "*"
_MAX_PAYLOAD = 7000
"""PostgreSQL caps a notification payload at 8000 bytes; past this, receivers drop everything."""

_MAX_TRACKED = 100_000
"""Keys remembered as recently invalidated; past this, an invalidation drops everything instead."""

MISSING = object()
"""What ``ReadCache.get`` returns for a key it does not hold (``None`` is a value: a cached absence is never kept)."""


def encode_changes(touched: Iterable[tuple[str, str]]) -> str:
    """One payload naming each changed ``(table, key)``, or ``*`` when that would be too long."""
    payload = "\n".join(f"{table}\t{key}" for table, key in sorted(set(touched)))
    return payload if len(payload.encode()) <= _MAX_PAYLOAD else _EVERYTHING


def decode_changes(payload: str) -> list[tuple[str, str]] | None:
    """The pairs a payload names; ``None`` means everything may have changed."""
    if payload == _EVERYTHING:
        return None
    pairs = []
    for line in payload.splitlines():
        table, _, key = line.partition("\t")
        pairs.append((table, key))
    return pairs


class ReadCache:
    """A thread-safe TTL cache keyed by ``(table, key)``; ``ttl <= 0`` turns it off."""

    def __init__(self, ttl: float, maxsize: int = 100_000) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 <= ttl < float("inf"):
            raise InputError(f"cache_ttl must be a number of seconds, 0 (no cache) or more; got {ttl!r}")
        self.ttl = ttl
        self._entries: TTLCache[tuple[str, str], Any] = TTLCache(maxsize=maxsize, ttl=max(ttl, 1e-9))
        self._lock = threading.Lock()
        self._generation = 0
        self._floor = 0
        self._invalidated_at: dict[tuple[str, str], int] = {}
        self._live = False
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0 and self._live

    def get(self, table: str, key: str) -> Any:
        """The cached value, or ``MISSING``."""
        if not self._live:
            return MISSING
        with self._lock:
            value = self._entries.get((table, key), MISSING)
            if value is MISSING:
                self.misses += 1
            else:
                self.hits += 1
            return value

    def count_hit(self) -> None:
        """Count a hit served from a cache kept elsewhere (the policy-state snapshot)."""
        with self._lock:
            self.hits += 1

    def generation(self) -> int:
        return self._generation

    def put(self, table: str, key: str, value: Any, generation: int) -> None:
        """Keep ``value`` unless this key (or everything) was invalidated since ``generation`` was read."""
        if self.ttl <= 0:
            return
        pair = (table, key)
        with self._lock:
            if self._live and generation >= self._floor and self._invalidated_at.get(pair, -1) <= generation:
                self._entries[pair] = value

    def invalidate(self, pairs: Iterable[tuple[str, str]] | None) -> None:
        """Drop the named entries; ``None`` drops everything."""
        with self._lock:
            self._generation += 1
            if pairs is None or len(self._invalidated_at) > _MAX_TRACKED:
                self._forget_all()
                return
            for pair in pairs:
                self._entries.pop(pair, None)
                self._invalidated_at[pair] = self._generation

    def set_live(self, live: bool) -> None:
        """Serve entries only while invalidations can arrive; any change of state empties the cache."""
        with self._lock:
            self._generation += 1
            self._forget_all()
            self._live = live

    def _forget_all(self) -> None:
        self._entries.clear()
        self._invalidated_at.clear()
        self._floor = self._generation

    def stats(self) -> dict[str, Any]:
        with self._lock:
            total = self.hits + self.misses
            return {
                "cache_hits": self.hits,
                "cache_misses": self.misses,
                "cache_hit_rate": self.hits / total if total else 0.0,
                "cache_entries": len(self._entries),
                "cache_live": self._live,
            }
