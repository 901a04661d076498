"""Retry settings shared by every provider, handed to each SDK's own retry machinery.

Core does not retry: boto3, azure-core and google-api-core each already retry
throttling, timeouts and 5xx with exponential backoff and jitter, and stacking a
second loop on top would multiply the attempts. ``RetryPolicy`` is the one place
the numbers live; each provider translates it into its SDK's configuration and
uses ``Deadline`` to stop a retry sequence that has run out of time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from greenlang.errors import InputError, KMSUnavailableError

__all__ = ["RetryPolicy", "Deadline", "current_deadline"]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one KMS call before giving up.

    ``max_attempts`` counts the first try; ``deadline_seconds`` bounds the whole
    sequence, backoff sleeps included; the timeouts bound each attempt.
    """

    max_attempts: int = 4
    deadline_seconds: float = 30.0
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    backoff_base: float = 0.5
    backoff_max: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InputError("max_attempts must be at least 1 (the first try counts); set it to 1 to disable retries.")
        for name in ("deadline_seconds", "connect_timeout", "read_timeout", "backoff_max"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise InputError(f"{name} must be a positive, finite number of seconds, not {value}.")
        if not math.isfinite(self.backoff_base) or self.backoff_base < 0:
            raise InputError(f"backoff_base must be 0 or more seconds, not {self.backoff_base}.")

    @classmethod
    def from_max_retries(cls, max_retries: int | None) -> RetryPolicy:
        """The seed's ``max_retries`` (retries after the first try) as a policy."""
        if max_retries is None:
            return cls()
        if max_retries < 0:
            raise InputError("max_retries must be 0 or more.")
        return cls(max_attempts=max_retries + 1)

    def start(self, timer: Callable[[], float] = time.monotonic) -> Deadline:
        return Deadline(timer() + self.deadline_seconds, self.deadline_seconds, timer)


@dataclass(frozen=True)
class Deadline:
    """The moment a call sequence must have finished by."""

    at: float
    seconds: float
    timer: Callable[[], float] = time.monotonic

    def remaining(self) -> float:
        return self.at - self.timer()

    def check(self, what: str) -> None:
        """Raise before another attempt when the time is up."""
        if self.remaining() <= 0:
            raise KMSUnavailableError(
                f"{what} did not succeed within its {self.seconds:g} s deadline; "
                "check the service's health or raise deadline_seconds."
            )


_current: ContextVar[Deadline | None] = ContextVar("greenlang_kms_deadline", default=None)


def current_deadline() -> ContextVar[Deadline | None]:
    """The deadline of the KMS call running in this context, for SDK hooks that fire before each attempt."""
    return _current
