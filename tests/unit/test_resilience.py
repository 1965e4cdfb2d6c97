"""call_with_resilience and CircuitBreaker: retries only what is safe, never past the deadline."""

from __future__ import annotations

import asyncio
import time

import pytest

from medinfer.common.errors import BackendUnavailable, DeadlineExceeded, ValidationFailed
from medinfer.gateway.resilience import (
    CircuitBreaker,
    CircuitState,
    Deadline,
    RetryableUpstreamError,
    RetryPolicy,
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
