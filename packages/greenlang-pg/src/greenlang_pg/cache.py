"""The read cache for permission, role and policy lookups, and how it learns of changes.

Entries live for ``ttl`` seconds at most. Every committed write sends one
``NOTIFY`` on ``CHANNEL`` naming what it changed, inside its transaction, so
every backend object listening (in any process) drops those entries as soon as
the write commits. The cache serves entries only while its listener is
connected; a lookup that raced with an invalidation is not stored, because each
invalidation moves a generation counter that ``put`` checks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from cachetools import TTLCache

__all__ = ["CHANNEL", "MISSING", "ReadCache", "encode_changes", "decode_changes"]

CHANNEL = "greenlang_changes"
_EVERYTHING = "*"
_MAX_PAYLOAD = 7000
"""PostgreSQL caps a notification payload at 8000 bytes; past this, receivers drop everything."""

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
        self.ttl = ttl
        self._entries: TTLCache[tuple[str, str], Any] = TTLCache(maxsize=maxsize, ttl=max(ttl, 1e-9))
        self._lock = threading.Lock()
        self._generation = 0
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

    def generation(self) -> int:
        return self._generation

    def put(self, table: str, key: str, value: Any, generation: int) -> None:
        """Keep ``value`` unless something was invalidated since ``generation`` was read."""
        if self.ttl <= 0:
            return
        with self._lock:
            if self._live and generation == self._generation:
                self._entries[(table, key)] = value

    def invalidate(self, pairs: Iterable[tuple[str, str]] | None) -> None:
        """Drop the named entries; ``None`` drops everything."""
        with self._lock:
            self._generation += 1
            if pairs is None:
                self._entries.clear()
                return
            for pair in pairs:
                self._entries.pop(pair, None)

    def set_live(self, live: bool) -> None:
        """Serve entries only while invalidations can arrive; any change of state empties the cache."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._live = live

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
