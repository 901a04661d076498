"""A circuit breaker per key: when a service is down, fail in microseconds instead of after every retry.

Written here rather than taken from ``pybreaker`` because the breaker must count only
availability failures (a disabled key is not an outage), take an injectable clock for
tests, and admit exactly one half-open probe at a time; that is less code than adapting.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

from greenlang.errors import CircuitOpenError, InputError, KMSUnavailableError

__all__ = ["BreakerState", "CircuitBreaker"]

T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Opens after ``failure_threshold`` consecutive ``KMSUnavailableError`` and stays open for ``reset_seconds``.

    Then one call goes through as a probe (half-open): success closes the breaker,
    failure opens it for another ``reset_seconds``. Other errors pass through
    untouched and do not count, since they say nothing about the service's health.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_seconds: float = 30.0,
        *,
        name: str = "kms",
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise InputError(f"failure_threshold is {failure_threshold}; it must be at least 1.")
        if not math.isfinite(reset_seconds) or reset_seconds < 0:
            raise InputError(f"reset_seconds is {reset_seconds}; it must be a finite number of seconds, 0 or more.")
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self.name = name
        self._timer = timer
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._probing or self._timer() - self._opened_at >= self.reset_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def call(self, operation: Callable[[], T]) -> T:
        """Run ``operation`` unless the breaker is open; record how it went."""
        probe = self._admit()
        try:
            result = operation()
        except BaseException as exc:
            self._settle(probe, exc)
            raise
        self._settle(probe, None)
        return result

    async def call_async(self, operation: Callable[[], Awaitable[T]]) -> T:
        """``call`` for a coroutine; a cancelled probe gives no verdict on the service."""
        probe = self._admit()
        try:
            result = await operation()
        except BaseException as exc:
            self._settle(probe, exc)
            raise
        self._settle(probe, None)
        return result

    def _admit(self) -> bool:
        """Refuse while open; returns whether this call is the half-open probe."""
        with self._lock:
            state = self._state()
            if state is BreakerState.OPEN or (state is BreakerState.HALF_OPEN and self._probing):
                raise CircuitOpenError(
                    f"{self.name} is failing fast after {self._failures} consecutive failures; "
                    f"{self._when_next_probe()}, or check the service."
                )
            probe = state is BreakerState.HALF_OPEN
            if probe:
                self._probing = True
            return probe

    def _settle(self, probe: bool, error: BaseException | None) -> None:
        if error is None:
            self._record(success=True)
        elif isinstance(error, KMSUnavailableError):
            self._record(success=False)
        elif isinstance(error, Exception):
            if probe:
                self._record(success=True)  # the service answered, even if to refuse
        elif probe:
            self._abandon_probe()  # interrupted or cancelled: no verdict on the service

    def _when_next_probe(self) -> str:
        if self._probing or self._opened_at is None:
            return "a probe is in flight"
        left = max(0.0, self.reset_seconds - (self._timer() - self._opened_at))
        return f"the next probe goes through in {left:.1f} s"

    def _abandon_probe(self) -> None:
        with self._lock:
            self._probing = False

    def _record(self, *, success: bool) -> None:
        with self._lock:
            self._probing = False
            if success:
                self._failures = 0
                self._opened_at = None
                return
            self._failures += 1
            if self._opened_at is not None or self._failures >= self.failure_threshold:
                self._opened_at = self._timer()

    def reset(self) -> None:
        """Close the breaker by hand, e.g. after an operator fixed the service."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False
