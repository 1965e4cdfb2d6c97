"""call_with_resilience and CircuitBreaker: retries only what is safe, never past the deadline."""

from __future__ import annotations

import asyncio
import time

import pytest

from medinfer.common.errors import BackendUnavailable, BadGateway, BadRequest, DeadlineExceeded, ValidationFailed
from medinfer.gateway.resilience import (
    BackendFault,
    CircuitBreaker,
    CircuitState,
    Deadline,
    RetryableUpstreamError,
    RetryPolicy,
    UpstreamTimeout,
    call_with_resilience,
)

POLICY = RetryPolicy(attempts=3, initial_backoff_s=0.01, max_backoff_s=0.05)


def _flaky(failures: int, calls: list[float]):
    async def fn(timeout: float) -> str:
        calls.append(time.monotonic())
        if len(calls) <= failures:
            raise RetryableUpstreamError("triton", "status 503")
        return "ok"

    return fn


def _run(fn, *, breaker=None, deadline_s=5.0, policy=POLICY, retries=None):
    breaker = breaker or CircuitBreaker("triton", failure_threshold=100)
    on_retry = (lambda name: retries.append(name)) if retries is not None else None
    return asyncio.run(call_with_resilience(fn, breaker=breaker, deadline=Deadline(deadline_s), hop_timeout_s=1.0,
                                            policy=policy, on_retry=on_retry))


def test_first_attempt_success_makes_one_call_and_no_retry():
    calls: list[float] = []
    retries: list[str] = []
    assert _run(_flaky(0, calls), retries=retries) == "ok"
    assert len(calls) == 1 and retries == []


@pytest.mark.parametrize("failures", [1, 2])
def test_retryable_failures_are_retried_with_backoff_and_counted(failures):
    calls: list[float] = []
    retries: list[str] = []
    assert _run(_flaky(failures, calls), retries=retries) == "ok"
    assert len(calls) == failures + 1
    assert retries == ["triton"] * failures  # one count per retry, as the metric shows
    gaps = [b - a for a, b in zip(calls, calls[1:])]
    assert all(g >= POLICY.initial_backoff_s * 0.9 for g in gaps)  # backoff happened (lower bound only)


def test_attempts_are_bounded_and_end_in_503():
    calls: list[float] = []
    with pytest.raises(BackendUnavailable) as info:
        _run(_flaky(10, calls))
    assert len(calls) == POLICY.attempts
    assert info.value.status == 503


def test_no_retry_past_the_deadline():
    calls: list[float] = []
    slow = RetryPolicy(attempts=5, initial_backoff_s=0.2, max_backoff_s=0.2)
    with pytest.raises(BackendUnavailable):
        _run(_flaky(10, calls), deadline_s=0.1, policy=slow)
    assert len(calls) == 1  # the first backoff alone would cross the 100 ms deadline


@pytest.mark.parametrize("exc", [ValidationFailed("bad input"), DeadlineExceeded("late")])
def test_final_errors_are_not_retried(exc):
    calls: list[int] = []

    async def fn(timeout: float) -> str:
        calls.append(1)
        raise exc

    with pytest.raises(type(exc)):
        _run(fn)
    assert len(calls) == 1


def test_breaker_opens_short_circuits_then_recovers_through_a_probe():
    breaker = CircuitBreaker("triton", failure_threshold=2, reset_timeout_s=0.05)
    one = RetryPolicy(attempts=1)
    for _ in range(2):
        with pytest.raises(BackendUnavailable):
            _run(_flaky(10, []), breaker=breaker, policy=one)
    assert breaker.state is CircuitState.OPEN
    calls: list[float] = []
    with pytest.raises(BackendUnavailable) as info:
        _run(_flaky(0, calls), breaker=breaker, policy=one)
    assert calls == [] and info.value.code == "circuit-open" and "Retry-After" in info.value.headers
    time.sleep(0.06)
    assert _run(_flaky(0, calls), breaker=breaker, policy=one) == "ok"  # the half-open probe
    assert breaker.state is CircuitState.CLOSED


def test_breaker_opens_on_error_rate_window():
    breaker = CircuitBreaker("triton", failure_threshold=100, error_rate_threshold=0.5, window=10, min_calls=10)
    for i in range(10):
        (breaker.record_failure if i % 2 else breaker.record_success)()
    assert breaker.state is CircuitState.OPEN


# -- what moves the breaker: only the backend's own failures ------------------------------------------------------

def _timeout_fn(calls: list[float]):
    async def fn(timeout: float) -> str:
        calls.append(timeout)
        raise UpstreamTimeout("triton")

    return fn


def test_a_callers_short_deadline_never_counts_against_the_backend():
    breaker = CircuitBreaker("triton", failure_threshold=5, window=20, min_calls=10)
    calls: list[float] = []
    for _ in range(1000):
        with pytest.raises(DeadlineExceeded):
            asyncio.run(call_with_resilience(_timeout_fn(calls), breaker=breaker, deadline=Deadline(0.001),
                                             hop_timeout_s=1.0, policy=POLICY))
    assert breaker.state is CircuitState.CLOSED and breaker._consecutive == 0
    assert len(calls) <= 1000 and all(t < 1.0 for t in calls)


def test_a_deadline_already_past_admits_nothing():
    breaker = CircuitBreaker("triton", failure_threshold=1, reset_timeout_s=0.0)
    breaker.record_failure()  # open, cool-down over: the next admitted call would be the probe
    calls: list[float] = []
    with pytest.raises(DeadlineExceeded):
        _run(_flaky(0, calls), breaker=breaker, deadline_s=-1.0)
    assert calls == [] and not breaker._probe_in_flight
    assert _run(_flaky(0, calls), breaker=breaker) == "ok" and breaker.state is CircuitState.CLOSED


def test_the_gateways_own_hop_budget_running_out_counts():
    breaker = CircuitBreaker("triton", failure_threshold=3)
    for _ in range(3):
        with pytest.raises(DeadlineExceeded):
            asyncio.run(call_with_resilience(_timeout_fn([]), breaker=breaker, deadline=Deadline(30.0),
                                             hop_timeout_s=1.0, policy=POLICY))
    assert breaker.state is CircuitState.OPEN


@pytest.mark.parametrize("error", [BadRequest("rejected"), BadGateway("model failed"),
                                   BackendUnavailable("not loaded", code="model-unavailable")])
def test_an_answer_about_the_request_is_a_success_for_the_breaker(error):
    breaker = CircuitBreaker("triton", failure_threshold=1, reset_timeout_s=0.0)
    breaker.record_failure()

    async def fn(timeout: float) -> str:
        raise error

    with pytest.raises(type(error)):
        _run(fn, breaker=breaker)  # the half-open probe: Triton answered, so it is up
    assert breaker.state is CircuitState.CLOSED


def test_a_truncated_answer_counts_and_is_not_repeated():
    breaker = CircuitBreaker("triton", failure_threshold=1)
    calls: list[int] = []

    async def fn(timeout: float) -> str:
        calls.append(1)
        raise BackendFault(BackendUnavailable("truncated"))

    with pytest.raises(BackendUnavailable):
        _run(fn, breaker=breaker)
    assert calls == [1] and breaker.state is CircuitState.OPEN


# -- the half-open probe always gives its slot back -------------------------------------------------------------

def _open_breaker() -> CircuitBreaker:
    breaker = CircuitBreaker("triton", failure_threshold=1, reset_timeout_s=0.05)
    breaker.record_failure()
    time.sleep(0.06)
    return breaker


def test_a_cancelled_probe_lets_the_next_call_probe():
    breaker = _open_breaker()

    async def scenario() -> str:
        started = asyncio.Event()

        async def hang(timeout: float) -> str:
            started.set()
            await asyncio.sleep(10)
            return "never"

        probe = asyncio.create_task(call_with_resilience(hang, breaker=breaker, deadline=Deadline(5), hop_timeout_s=1,
                                                         policy=POLICY))
        await started.wait()
        assert breaker.state is CircuitState.HALF_OPEN and breaker._probe_in_flight
        with pytest.raises(BackendUnavailable):  # while the probe runs, others are refused
            await call_with_resilience(_flaky(0, []), breaker=breaker, deadline=Deadline(5), hop_timeout_s=1,
                                       policy=POLICY)
        probe.cancel()  # a gRPC client cancelling, a client hanging up
        with pytest.raises(asyncio.CancelledError):
            await probe
        return await call_with_resilience(_flaky(0, []), breaker=breaker, deadline=Deadline(5), hop_timeout_s=1,
                                          policy=POLICY)

    assert asyncio.run(scenario()) == "ok"
    assert breaker.state is CircuitState.CLOSED


def test_a_probe_ended_by_the_callers_deadline_gives_its_slot_back():
    breaker = _open_breaker()
    with pytest.raises(DeadlineExceeded):
        asyncio.run(call_with_resilience(_timeout_fn([]), breaker=breaker, deadline=Deadline(0.01), hop_timeout_s=1,
                                         policy=POLICY))
    assert breaker.state is CircuitState.HALF_OPEN and not breaker._probe_in_flight
    assert _run(_flaky(0, []), breaker=breaker) == "ok" and breaker.state is CircuitState.CLOSED


def test_a_probe_failing_in_our_own_code_gives_its_slot_back():
    breaker = _open_breaker()

    async def bug(timeout: float) -> str:
        raise KeyError("a bug of ours, not the backend's")

    with pytest.raises(KeyError):
        _run(bug, breaker=breaker)
    assert not breaker._probe_in_flight
