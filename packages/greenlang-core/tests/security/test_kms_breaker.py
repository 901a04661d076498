"""``CircuitBreaker``: fail fast while a KMS is down, probe once it may be back; time comes from a fake clock."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fake_clock import FakeClock

from greenlang.errors import CircuitOpenError, InputError, KeyUnusableError, KMSUnavailableError
from greenlang.security.kms.breaker import BreakerState, CircuitBreaker

WAIT = 5.0
SECRET = "AKIAIOSFODNN7EXAMPLE/wJalrXUtnFEMI"


class Service:
    """An operation that counts its calls and fails with availability errors while ``down``."""

    def __init__(self) -> None:
        self.calls = 0
        self.down = False

    def __call__(self) -> str:
        self.calls += 1
        if self.down:
            raise KMSUnavailableError(f"throttled after 4 attempts (session token {SECRET})")
        return "signature"


@pytest.fixture
def service() -> Service:
    return Service()


def _breaker(clock: FakeClock, threshold: int = 3, reset: float = 30.0, name: str = "kms") -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=threshold, reset_seconds=reset, name=name, timer=clock)


def _fail(breaker: CircuitBreaker, service: Service, times: int) -> None:
    service.down = True
    for _ in range(times):
        with pytest.raises(KMSUnavailableError) as raised:
            breaker.call(service)
        assert not isinstance(raised.value, CircuitOpenError), "the breaker refused before the threshold"


def _open(breaker: CircuitBreaker, service: Service) -> None:
    _fail(breaker, service, breaker.failure_threshold)
    assert breaker.state is BreakerState.OPEN


# -- closed to open ---------------------------------------------------------------------------


def test_a_new_breaker_is_closed_and_passes_results_through(clock: FakeClock, service: Service) -> None:
    breaker = _breaker(clock)

    assert breaker.state is BreakerState.CLOSED
    assert breaker.call(service) == "signature"
    assert service.calls == 1


def test_opens_after_threshold_consecutive_unavailable_errors(clock: FakeClock, service: Service) -> None:
    breaker = _breaker(clock, threshold=3)

    _fail(breaker, service, 2)
    assert breaker.state is BreakerState.CLOSED
    assert service.calls == 2

    _fail(breaker, service, 1)
    assert breaker.state is BreakerState.OPEN
    assert service.calls == 3


def test_the_original_unavailable_error_is_re_raised(clock: FakeClock) -> None:
    breaker = _breaker(clock)
    failure = KMSUnavailableError("timed out")

    def operation() -> str:
        raise failure

    with pytest.raises(KMSUnavailableError) as raised:
        breaker.call(operation)
    assert raised.value is failure


def test_threshold_one_opens_on_the_first_failure(clock: FakeClock, service: Service) -> None:
    breaker = _breaker(clock, threshold=1)

    _fail(breaker, service, 1)

    assert breaker.state is BreakerState.OPEN


def test_a_success_resets_the_consecutive_count(clock: FakeClock, service: Service) -> None:
    breaker = _breaker(clock, threshold=3)
    _fail(breaker, service, 2)

    service.down = False
    assert breaker.call(service) == "signature"

    _fail(breaker, service, 2)
    assert breaker.state is BreakerState.CLOSED
    _fail(breaker, service, 1)
    assert breaker.state is BreakerState.OPEN


@pytest.mark.parametrize(
    "error",
    [KeyUnusableError("key is disabled"), InputError("digest has the wrong length"), ValueError("bad")],
    ids=["key-unusable", "input", "value"],
)
def test_errors_other_than_unavailable_do_not_count_and_are_re_raised(clock: FakeClock, error: Exception) -> None:
    breaker = _breaker(clock, threshold=2)
    calls = 0

    def operation() -> str:
        nonlocal calls
        calls += 1
        raise error

    for _ in range(5):
        with pytest.raises(type(error)) as raised:
            breaker.call(operation)
        assert raised.value is error

    assert calls == 5
    assert breaker.state is BreakerState.CLOSED


# -- open -------------------------------------------------------------------------------------


def test_open_refuses_without_calling_the_operation(clock: FakeClock, service: Service) -> None:
    breaker = _breaker(clock)
    _open(breaker, service)
    calls_before = service.calls
    service.down = False

    for _ in range(3):
        with pytest.raises(CircuitOpenError):
            breaker.call(service)

    assert service.calls == calls_before


def test_circuit_open_is_an_unavailable_error(clock: FakeClock, service: Service) -> None:
    """Callers that already handle an unavailable service (fallback to a local key) handle this too."""
    breaker = _breaker(clock)
    _open(breaker, service)

    with pytest.raises(KMSUnavailableError):
        breaker.call(service)


def test_stays_open_until_reset_seconds_have_passed(clock: FakeClock, service: Service) -> None:
    breaker = _breaker(clock, reset=30)
    _open(breaker, service)

    clock.advance(29.9)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError):
        breaker.call(service)

    clock.advance(0.1)
    assert breaker.state is BreakerState.HALF_OPEN


def test_open_error_names_the_breaker_and_the_retry_time_and_no_secret(clock: FakeClock, service: Service) -> None:
    name = "aws key awskms:///arn:aws:kms:eu-west-1:111122223333:key/one"
    breaker = _breaker(clock, threshold=3, reset=45, name=name)
    _open(breaker, service)

    with pytest.raises(CircuitOpenError) as raised:
        breaker.call(service)

    message = str(raised.value)
    assert name in message
    assert "next probe goes through in 45.0 s" in message
    assert "3 consecutive failures" in message
    assert SECRET not in message
    assert SECRET not in repr(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None


def test_open_error_counts_down_to_the_next_probe(clock: FakeClock, service: Service) -> None:
    breaker = _breaker(clock, reset=2.5)
    _open(breaker, service)

    with pytest.raises(CircuitOpenError, match=r"in 2\.5 s"):
        breaker.call(service)
    clock.advance(1.75)
    with pytest.raises(CircuitOpenError, match=r"in 0\.8 s"):
        breaker.call(service)


# -- half-open --------------------------------------------------------------------------------


def test_a_successful_probe_closes_and_resets_the_count(clock: FakeClock, service: Service) -> None:
    breaker = _breaker(clock, threshold=3, reset=30)
    _open(breaker, service)
    clock.advance(30)
    service.down = False
    calls_before = service.calls

    assert breaker.call(service) == "signature"

    assert service.calls == calls_before + 1
    assert breaker.state is BreakerState.CLOSED
    _fail(breaker, service, 2)
    assert breaker.state is BreakerState.CLOSED


def test_a_failed_probe_opens_for_another_full_period(clock: FakeClock, service: Service) -> None:
    breaker = _breaker(clock, threshold=3, reset=30)
    _open(breaker, service)
    clock.advance(40)

    _fail(breaker, service, 1)
    assert breaker.state is BreakerState.OPEN

    clock.advance(29.9)
    calls_before = service.calls
    with pytest.raises(CircuitOpenError):
        breaker.call(service)
    assert service.calls == calls_before

    clock.advance(0.1)
    assert breaker.state is BreakerState.HALF_OPEN
    service.down = False
    assert breaker.call(service) == "signature"
    assert breaker.state is BreakerState.CLOSED


def test_reset_seconds_zero_probes_on_the_next_call(clock: FakeClock, service: Service) -> None:
    breaker = _breaker(clock, threshold=2, reset=0)
    _fail(breaker, service, 2)

    assert breaker.state is BreakerState.HALF_OPEN
    service.down = False
    assert breaker.call(service) == "signature"
    assert breaker.state is BreakerState.CLOSED


def _hold_probe(breaker: CircuitBreaker, *, succeed: bool) -> tuple[threading.Thread, threading.Event, list[object]]:
    """Start a probe in a thread that waits on the returned event; the list gets its result or error."""
    started, release = threading.Event(), threading.Event()
    outcome: list[object] = []

    def probe() -> str:
        started.set()
        assert release.wait(WAIT)
        if not succeed:
            raise KMSUnavailableError("still down")
        return "probe-signature"

    def run() -> None:
        try:
            outcome.append(breaker.call(probe))
        except KMSUnavailableError as error:
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(WAIT)
    return thread, release, outcome


@pytest.mark.parametrize("succeed", [True, False], ids=["probe-succeeds", "probe-fails"])
def test_half_open_lets_exactly_one_probe_through(clock: FakeClock, service: Service, succeed: bool) -> None:
    breaker = _breaker(clock, reset=30)
    _open(breaker, service)
    clock.advance(30)
    service.down = False
    calls_before = service.calls

    thread, release, outcome = _hold_probe(breaker, succeed=succeed)
    try:
        assert breaker.state is BreakerState.HALF_OPEN
        for _ in range(3):
            with pytest.raises(CircuitOpenError):
                breaker.call(service)
        assert service.calls == calls_before
    finally:
        release.set()
        thread.join(WAIT)

    assert not thread.is_alive()
    if succeed:
        assert outcome == ["probe-signature"]
        assert breaker.state is BreakerState.CLOSED
        assert breaker.call(service) == "signature"
    else:
        assert len(outcome) == 1
        assert type(outcome[0]) is KMSUnavailableError
        assert breaker.state is BreakerState.OPEN
        with pytest.raises(CircuitOpenError):
            breaker.call(service)
        assert service.calls == calls_before


def test_a_probe_that_raises_another_error_frees_the_probe_slot(clock: FakeClock, service: Service) -> None:
    """The service answered (the key is disabled), so it is up; the breaker must not wait on a probe forever."""
    breaker = _breaker(clock, reset=30)
    _open(breaker, service)
    clock.advance(30)

    def disabled() -> str:
        raise KeyUnusableError("the key is disabled")

    with pytest.raises(KeyUnusableError):
        breaker.call(disabled)

    service.down = False
    assert breaker.call(service) == "signature"
    assert breaker.state is BreakerState.CLOSED


# -- by hand ----------------------------------------------------------------------------------


def test_reset_closes_an_open_breaker_and_clears_the_count(clock: FakeClock, service: Service) -> None:
    breaker = _breaker(clock, threshold=3)
    _open(breaker, service)

    breaker.reset()

    assert breaker.state is BreakerState.CLOSED
    _fail(breaker, service, 2)
    assert breaker.state is BreakerState.CLOSED
    service.down = False
    assert breaker.call(service) == "signature"


def test_reset_during_a_probe_lets_the_next_caller_in(clock: FakeClock, service: Service) -> None:
    breaker = _breaker(clock)
    _open(breaker, service)
    clock.advance(30)
    service.down = False

    thread, release, _ = _hold_probe(breaker, succeed=True)
    try:
        breaker.reset()
        assert breaker.state is BreakerState.CLOSED
        assert breaker.call(service) == "signature"
    finally:
        release.set()
        thread.join(WAIT)


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"failure_threshold": -3}, "failure_threshold"),
        ({"reset_seconds": -1.0}, "reset_seconds"),
        ({"reset_seconds": float("nan")}, "reset_seconds"),
        ({"reset_seconds": float("inf")}, "reset_seconds"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError, match=field):
        CircuitBreaker(**kwargs)


def test_an_interrupted_probe_gives_no_verdict(clock: FakeClock, service: Service) -> None:
    breaker = _breaker(clock, reset=10)
    _open(breaker, service)
    clock.advance(10)

    def interrupted() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        breaker.call(interrupted)
    assert breaker.state is BreakerState.HALF_OPEN  # neither closed by the interruption nor re-opened
    assert breaker.call(lambda: "probe") == "probe"
    assert breaker.state is BreakerState.CLOSED
