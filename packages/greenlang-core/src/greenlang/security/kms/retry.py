"""Retry settings shared by every provider, handed to each SDK's own retry machinery, and the deadline over them.

Core does not retry: boto3, azure-core and google-api-core each already retry
throttling, timeouts and 5xx with exponential backoff and jitter, and stacking a
second loop on top would multiply the attempts. ``RetryPolicy`` is the one place
the numbers live; each provider translates it into its SDK's configuration.
``within`` enforces the deadline whatever the SDK does: the caller gets an answer
or ``KMSUnavailableError`` by then, even mid-backoff or mid-read.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextvars import ContextVar, copy_context
from dataclasses import dataclass
from typing import TypeVar

from greenlang.errors import InputError, KMSUnavailableError

__all__ = ["RetryPolicy", "Deadline", "current_deadline", "within"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one KMS call before giving up.

    ``max_attempts`` counts the first try; ``deadline_seconds`` bounds the whole
    sequence as the caller sees it, backoff waits included; the timeouts bound
    each attempt.
    """

    max_attempts: int = 4
    deadline_seconds: float = 30.0
    connect_timeout: float = 5.0
    read_timeout: float = 10.0

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise InputError(f"max_attempts must be a whole number (the first try counts), not {self.max_attempts!r}.")
        for name in ("deadline_seconds", "connect_timeout", "read_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"{name} must be a number of seconds, not {type(value).__name__}.")
        if self.max_attempts < 1:
            raise InputError("max_attempts must be at least 1 (the first try counts); set it to 1 to disable retries.")
        for name in ("deadline_seconds", "connect_timeout", "read_timeout"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise InputError(f"{name} must be a positive, finite number of seconds, not {value}.")

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
            raise self.expired(what)

    def expired(self, what: str) -> KMSUnavailableError:
        return KMSUnavailableError(
            f"{what} did not succeed within its {self.seconds:g} s deadline; "
            "check the service's health or raise deadline_seconds."
        )


_current: ContextVar[Deadline | None] = ContextVar("greenlang_kms_deadline", default=None)


def current_deadline() -> ContextVar[Deadline | None]:
    """The deadline of the KMS call running in this context, for SDK hooks that fire before each attempt."""
    return _current


def within(deadline: Deadline, operation: Callable[[], T], what: str) -> T:
    """Run ``operation`` (an SDK call with its own retries) and give up when ``deadline`` passes.

    The call runs in its own thread, which is left to finish on its own if the
    deadline passes first (its timeouts bound it); its late answer is dropped. The
    thread sees this context, so SDK hooks can read ``current_deadline()``.
    """
    future: Future[T] = Future()
    context = copy_context()

    def run() -> None:
        try:
            future.set_result(context.run(operation))
        except BaseException as exc:  # handed to the waiting caller
            future.set_exception(exc)

    threading.Thread(target=run, name="greenlang-kms-call", daemon=True).start()
    try:
        return future.result(timeout=max(0.0, deadline.remaining()))
    except FutureTimeout:
        raise deadline.expired(what) from None
