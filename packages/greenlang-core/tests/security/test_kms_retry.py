"""``RetryPolicy``, ``Deadline`` and ``current_deadline``: the retry numbers every provider hands to its SDK."""

from __future__ import annotations

import contextvars
import dataclasses
import threading
import time
from typing import Any

import pytest
from fake_clock import FakeClock

from greenlang.errors import CircuitOpenError, InputError, KeyUnusableError, KMSUnavailableError
from greenlang.security.kms.retry import Deadline, RetryPolicy, current_deadline, within

# -- the policy -------------------------------------------------------------------------------


def test_defaults_match_the_seed_three_retries() -> None:
    """The seed configured ``max_retries=3``: three retries after the first try is four attempts."""
    policy = RetryPolicy()

    assert policy.max_attempts == 4
    assert policy.deadline_seconds > policy.read_timeout > 0


def test_policy_is_immutable() -> None:
    policy = RetryPolicy()

    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_attempts = 10  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_attempts", 0),
        ("max_attempts", -1),
        ("deadline_seconds", 0),
        ("deadline_seconds", -5.0),
        ("connect_timeout", 0),
        ("connect_timeout", -0.1),
        ("read_timeout", 0),
        ("read_timeout", -1.0),
        ("deadline_seconds", float("nan")),
        ("read_timeout", float("inf")),
    ],
)
def test_each_invalid_field_is_refused_naming_it(field: str, value: float) -> None:
    kwargs: dict[str, Any] = {field: value}
    with pytest.raises(InputError) as raised:
        RetryPolicy(**kwargs)

    message = str(raised.value)
    assert message.startswith(field), message
    assert message.endswith("."), "one sentence, as the CLI prints it"
    assert message.count(". ") == 0, "one sentence, as the CLI prints it"


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 1}, {"deadline_seconds": 0.001, "connect_timeout": 0.001}],
)
def test_edge_values_are_accepted(kwargs: dict[str, Any]) -> None:
    policy = RetryPolicy(**kwargs)

    for field, value in kwargs.items():
        assert getattr(policy, field) == value


@pytest.mark.parametrize(("retries", "attempts"), [(0, 1), (1, 2), (3, 4), (9, 10)])
def test_from_max_retries_counts_the_first_try(retries: int, attempts: int) -> None:
    policy = RetryPolicy.from_max_retries(retries)

    assert policy.max_attempts == attempts
    assert dataclasses.replace(policy, max_attempts=4) == RetryPolicy()


def test_from_max_retries_none_gives_the_default() -> None:
    assert RetryPolicy.from_max_retries(None) == RetryPolicy()


def test_from_max_retries_refuses_a_negative_count() -> None:
    with pytest.raises(InputError, match="max_retries"):
        RetryPolicy.from_max_retries(-1)


# -- the deadline -----------------------------------------------------------------------------


def test_start_sets_the_deadline_from_the_timer() -> None:
    clock = FakeClock(500.0)
    deadline = RetryPolicy(deadline_seconds=12.5).start(clock)

    assert deadline.at == 512.5
    assert deadline.seconds == 12.5
    assert deadline.remaining() == 12.5


def test_remaining_decreases_with_the_clock() -> None:
    clock = FakeClock()
    deadline = RetryPolicy(deadline_seconds=30).start(clock)

    clock.advance(10)
    assert deadline.remaining() == 20
    clock.advance(19.5)
    assert deadline.remaining() == 0.5
    clock.advance(5)
    assert deadline.remaining() == -4.5


def test_check_passes_until_the_deadline_and_raises_from_then_on() -> None:
    clock = FakeClock()
    deadline = RetryPolicy(deadline_seconds=30).start(clock)
    clock.advance(29.999)
    deadline.check("signing with key one")

    clock.advance(0.001)
    with pytest.raises(KMSUnavailableError, match="signing with key one"):
        deadline.check("signing with key one")


@pytest.mark.parametrize("elapsed", [30.0, 30.001, 400.0])
def test_check_at_or_after_expiry_raises_naming_what_timed_out(elapsed: float) -> None:
    clock = FakeClock()
    deadline = RetryPolicy(deadline_seconds=30).start(clock)
    clock.advance(elapsed)

    with pytest.raises(KMSUnavailableError) as raised:
        deadline.check("signing with awskms:///alias/release")

    assert not isinstance(raised.value, CircuitOpenError)
    message = str(raised.value)
    assert message.startswith("signing with awskms:///alias/release")
    assert "30 s" in message
    assert "deadline_seconds" in message


def test_check_prints_fractional_deadlines() -> None:
    clock = FakeClock()
    deadline = Deadline(at=clock() + 2.5, seconds=2.5, timer=clock)
    clock.advance(3)

    with pytest.raises(KMSUnavailableError, match=r"2\.5 s"):
        deadline.check("fetching the public key")


# -- the context variable ---------------------------------------------------------------------


def test_current_deadline_is_one_context_var_that_is_none_by_default() -> None:
    var = current_deadline()

    assert isinstance(var, contextvars.ContextVar)
    assert var is current_deadline()
    assert contextvars.Context().run(var.get) is None
    assert var.get() is None


def test_a_deadline_set_in_one_context_does_not_leak_into_another() -> None:
    clock = FakeClock()
    deadline = RetryPolicy().start(clock)

    def inside() -> Deadline | None:
        current_deadline().set(deadline)
        return current_deadline().get()

    assert contextvars.copy_context().run(inside) is deadline
    assert current_deadline().get() is None


def test_resetting_the_token_restores_none() -> None:
    deadline = RetryPolicy().start(FakeClock())
    token = current_deadline().set(deadline)
    try:
        assert current_deadline().get() is deadline
    finally:
        current_deadline().reset(token)

    assert current_deadline().get() is None


def test_within_returns_the_result_and_passes_the_context_on() -> None:
    deadline = RetryPolicy(deadline_seconds=5).start()
    token = current_deadline().set(deadline)
    try:
        assert within(deadline, lambda: current_deadline().get(), "the call") is deadline
    finally:
        current_deadline().reset(token)


def test_within_re_raises_the_operations_error() -> None:
    def refuse() -> None:
        raise KeyUnusableError("key k is disabled; enable it.")

    with pytest.raises(KeyUnusableError, match="is disabled"):
        within(RetryPolicy().start(), refuse, "the call")


def test_within_gives_up_at_the_deadline_without_waiting_for_the_operation() -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(KMSUnavailableError, match="signing with key k did not succeed within its 0.2 s deadline"):
        within(RetryPolicy(deadline_seconds=0.2).start(), lambda: release.wait(10), "signing with key k")
    assert time.monotonic() - started < 5  # not the operation's 10 s
    release.set()
