"""A monotonic clock for tests that moves only when told to, so nothing has to sleep."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock that moves only when the test says so (or by ``tick`` on every reading)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.tick = 0.0

    def __call__(self) -> float:
        reading = self.now
        self.now += self.tick
        return reading

    def advance(self, seconds: float) -> None:
        self.now += seconds
