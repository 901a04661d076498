"""The public key cache: a KMS round trip per signature would double latency and cost for no gain."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import TTLCache

from greenlang.errors import InputError

__all__ = ["CacheStats", "KeyCache", "DEFAULT_TTL_SECONDS"]

DEFAULT_TTL_SECONDS = 3600
_MAX_KEYS = 1024

T = TypeVar("T")


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int

    @property
    def hit_rate(self) -> float:
        """Hits over lookups; 0.0 before the first lookup."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"hits": self.hits, "misses": self.misses, "hit_rate": self.hit_rate}


class KeyCache(Generic[T]):
    """Resolved keys by reference, each kept for ``ttl_seconds`` (0 turns caching off).

    ``timer`` is the clock entries age by; tests pass a fake one instead of sleeping.
    Concurrent misses on one reference may both load; the later value wins, which is
    harmless because both describe the same key.
    """

    def __init__(
        self, ttl_seconds: float = DEFAULT_TTL_SECONDS, *, timer: Callable[[], float] = time.monotonic
    ) -> None:
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int | float):
            raise InputError(f"cache_ttl_seconds must be a number of seconds, not {type(ttl_seconds).__name__}.")
        if not math.isfinite(ttl_seconds) or ttl_seconds < 0:
            raise InputError(f"cache_ttl_seconds is {ttl_seconds}; use 0 (no caching) or more seconds.")
        self.ttl_seconds = ttl_seconds
        self._entries: TTLCache[str, T] | None = (
            TTLCache(maxsize=_MAX_KEYS, ttl=ttl_seconds, timer=timer) if ttl_seconds > 0 else None
        )
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._generation = 0  # bumped by invalidate(), so a load begun before it is not stored after it

    def get(self, ref: str, load: Callable[[], T]) -> T:
        """The cached value for ``ref``, or ``load()`` stored under it (values are never ``None``)."""
        with self._lock:
            cached = self._entries.get(ref) if self._entries is not None else None  # one clock reading
            if cached is not None:
                self._hits += 1
                return cached
            self._misses += 1
            generation = self._generation
        value = load()
        if self._entries is not None:
            with self._lock:
                if generation == self._generation:
                    self._entries[ref] = value
        return value

    def peek(self, ref: str) -> T | None:
        """The fresh cached value for ``ref`` (counted as a hit), or ``None`` without counting anything."""
        with self._lock:
            cached = self._entries.get(ref) if self._entries is not None else None
            if cached is not None:
                self._hits += 1
            return cached

    def invalidate(self, ref: str | None = None) -> None:
        """Forget ``ref`` (or everything), so the next lookup asks the service again."""
        if self._entries is None:
            return
        with self._lock:
            self._generation += 1
            if ref is None:
                self._entries.clear()
            else:
                self._entries.pop(ref, None)

    @property
    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses)
