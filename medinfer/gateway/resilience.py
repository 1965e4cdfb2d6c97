"""Deadlines, bounded retries and circuit breaking for the gateway's upstream calls.

- ``Deadline``: the request's time budget (a client's ``X-Request-Timeout-Ms`` or
  gRPC deadline, capped by settings); every hop gets ``min(hop timeout, remaining)``.
- Retries use tenacity: exponential backoff with jitter, only for failures that
  are safe to repeat (connection refused/reset, 502/503/504 before any response
  body) and never past the deadline.
- ``CircuitBreaker``: per backend. It opens after N consecutive failures or when
  the error rate over a sliding window of recent calls exceeds a threshold, lets
  one probe through after a cool-down (half-open), and closes on its success.
  Written here rather than taken from aiobreaker/purgatory/circuitbreaker
  because none of them offers the error-rate window or exposes state for metrics.

What moves the breaker (decided in one place, ``_attempt``). The breaker guards
every client's access to a shared backend, so only the backend's own failures
may count, never something one caller chose:

- **failure**: the backend is unreachable or says it is unhealthy: connection
  refused, reset or dropped (any ``aiohttp.ClientConnectionError``, gRPC
  ``UNAVAILABLE``), a 502/503/504 status, a response cut off mid-body, and a
  timeout *of the gateway's own hop budget*: the attempt was allowed the full
  ``upstream_timeout_s`` and the backend did not answer in it.
- **success**: the backend answered, whatever it said about the input: a 4xx, a
  model that is not loaded, a model that failed on this request (a per-model,
  often input-dependent 500 must not cut every model off; see
  :mod:`medinfer.gateway.clients.triton_errors`).
- **nothing**: the caller's own deadline ended the attempt (its remaining budget
  was shorter than the hop budget, so a timeout says nothing about the backend;
  five requests with ``X-Request-Timeout-Ms: 1`` get 504 and leave the circuit
  as it was), the deadline had passed before the attempt started, the call was
  cancelled (a client hanging up, a gRPC cancellation) or failed in our own code.
  A half-open probe that ends this way gives its slot back, so the next call
  probes instead; the probe can never stay "in flight" after its call ended.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from medinfer.common.errors import BackendUnavailable, DeadlineExceeded, MedinferError

__all__ = [
    "Deadline",
    "RetryableUpstreamError",
    "UpstreamTimeout",
    "BackendFault",
    "CircuitState",
    "CircuitBreaker",
    "RetryPolicy",
    "call_with_resilience",
    "DEADLINE_HEADER",
]

T = TypeVar("T")
DEADLINE_HEADER = "x-request-timeout-ms"


class Deadline:
    __slots__ = ("expires_at",)

    def __init__(self, budget_s: float) -> None:
        self.expires_at = time.monotonic() + budget_s

    @classmethod
    def from_header(cls, value: str | None, default_s: float, max_s: float) -> Deadline:
        budget = default_s
        if value:
            try:
                budget = min(max(float(value) / 1000.0, 0.001), max_s)
            except ValueError:
                budget = default_s
        return cls(budget)

    def remaining(self) -> float:
        return self.expires_at - time.monotonic()

    def hop_timeout(self, hop_s: float) -> float:
        left = self.remaining()
        if left <= 0:
            raise DeadlineExceeded("the request's deadline passed")
        return min(hop_s, left)

    def header_value(self) -> str:
        return str(max(1, int(self.remaining() * 1000)))


class RetryableUpstreamError(Exception):
    """A failure that happened before the upstream did any work we could observe."""

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(reason)
        self.backend = backend
        self.reason = reason


class UpstreamTimeout(Exception):
    """The attempt's timeout ran out before the backend answered (``_attempt`` decides whose fault it was)."""

    def __init__(self, backend: str) -> None:
        super().__init__(f"{backend} did not answer within the deadline")
        self.backend = backend


class BackendFault(Exception):
    """The backend answered in a way that shows it is unhealthy (a truncated body): counts as a failure,
    not safe to repeat; ``error`` is what the caller gets."""

    def __init__(self, error: MedinferError) -> None:
        super().__init__(error.detail)
        self.error = error


class CircuitState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass
class CircuitBreaker:
    name: str
    failure_threshold: int = 5
    error_rate_threshold: float = 0.5
    window: int = 20
    min_calls: int = 10
    reset_timeout_s: float = 2.0
    on_change: Callable[[str, CircuitState], None] | None = None

    def __post_init__(self) -> None:
        self.state = CircuitState.CLOSED
        self._consecutive = 0
        self._outcomes: deque[bool] = deque(maxlen=self.window)
        self._opened_at = 0.0
        self._probe_in_flight = False

    def _set(self, state: CircuitState) -> None:
        if state != self.state:
            self.state = state
            if self.on_change:
                self.on_change(self.name, state)

    def retry_after(self) -> int:
        return max(1, int(self.reset_timeout_s - (time.monotonic() - self._opened_at) + 0.999))

    def before_call(self) -> bool:
        """Raise 503 while open; admit a single probe once the cool-down has passed.

        Returns True when this call is the half-open probe: its caller must end it with
        ``record_success``, ``record_failure`` or ``release_probe`` (``_attempt`` does, in a ``finally``)."""
        if self.state == CircuitState.CLOSED:
            return False
        if self.state == CircuitState.OPEN and time.monotonic() - self._opened_at >= self.reset_timeout_s:
            self._set(CircuitState.HALF_OPEN)
            self._probe_in_flight = False
        if self.state == CircuitState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        raise BackendUnavailable(f"{self.name} is unavailable (circuit open)", retry_after=self.retry_after(),
                                 code="circuit-open")

    def release_probe(self) -> None:
        """The probe ended without a verdict (cancelled, the caller's deadline): the next call probes."""
        if self.state == CircuitState.HALF_OPEN:
            self._probe_in_flight = False

    def record_success(self) -> None:
        self._consecutive = 0
        self._outcomes.append(True)
        if self.state != CircuitState.CLOSED:
            self._outcomes.clear()
            self._probe_in_flight = False
            self._set(CircuitState.CLOSED)

    def record_failure(self) -> None:
        self._consecutive += 1
        self._outcomes.append(False)
        if self.state == CircuitState.HALF_OPEN:
            self._trip()
            return
        failures = self._outcomes.count(False)
        rate_tripped = len(self._outcomes) >= self.min_calls and failures / len(self._outcomes) >= self.error_rate_threshold
        if self._consecutive >= self.failure_threshold or rate_tripped:
            self._trip()

    def _trip(self) -> None:
        self._opened_at = time.monotonic()
        self._probe_in_flight = False
        self._set(CircuitState.OPEN)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 0.5


async def _attempt(fn: Callable[[float], Awaitable[T]], breaker: CircuitBreaker, deadline: Deadline,
                   hop_timeout_s: float) -> T:
    """One call under the breaker; the outcome moves it as the module docstring says."""
    timeout = deadline.hop_timeout(hop_timeout_s)  # a deadline already past: 504, nothing admitted or counted
    probe = breaker.before_call()
    decided = False
    try:
        result = await fn(timeout)
        breaker.record_success()
        decided = True
        return result
    except (RetryableUpstreamError, BackendFault) as exc:
        breaker.record_failure()
        decided = True
        if isinstance(exc, BackendFault):
            raise exc.error from None
        raise
    except UpstreamTimeout as exc:
        if timeout >= hop_timeout_s:  # the gateway's own hop budget ran out, not the caller's deadline
            breaker.record_failure()
            decided = True
        raise DeadlineExceeded(str(exc)) from None
    except DeadlineExceeded:
        raise  # the caller's deadline, seen inside ``fn``: no verdict
    except MedinferError:
        breaker.record_success()  # the backend answered (about the input, or a model that is not loaded)
        decided = True
        raise
    finally:
        if probe and not decided:  # cancelled, the caller's deadline, or our own bug: no verdict
            breaker.release_probe()


async def call_with_resilience(
    fn: Callable[[float], Awaitable[T]],
    *,
    breaker: CircuitBreaker,
    deadline: Deadline,
    hop_timeout_s: float,
    policy: RetryPolicy,
    on_retry: Callable[[str], None] | None = None,
) -> T:
    """Run ``fn(timeout)`` under the breaker, retrying retryable failures within the deadline.

    ``fn`` raises ``RetryableUpstreamError`` for failures safe to repeat; any
    other medinfer error is final and passes through (a 4xx from upstream does
    not count against the breaker). The first attempt runs straight away; the
    tenacity retry loop (about 15 us to set up) is built only once an attempt
    has failed in a way that is safe to repeat, which almost never happens.
    """
    try:
        return await _attempt(fn, breaker, deadline, hop_timeout_s)
    except RetryableUpstreamError as exc:
        if policy.attempts <= 1:
            raise BackendUnavailable(f"{exc.backend} is unavailable", retry_after=breaker.retry_after()) from None

    def _stop_at_deadline(state: RetryCallState) -> bool:
        # Stop when the next backoff would cross the deadline.
        upcoming = state.upcoming_sleep or 0.0
        return deadline.remaining() - upcoming <= 0.005

    def _before_sleep(state: RetryCallState) -> None:
        if on_retry:
            on_retry(breaker.name)

    # Attempt 1 failed: tenacity runs attempts 2..N. It waits before the first of them as it would after
    # a failure of its own (its first try is immediate, so sleep the initial backoff here, jittered).
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(RetryableUpstreamError),
        stop=stop_after_attempt(policy.attempts - 1) | _stop_at_deadline,
        wait=wait_exponential_jitter(initial=policy.initial_backoff_s * 2, max=policy.max_backoff_s,
                                     jitter=policy.initial_backoff_s),
        before_sleep=_before_sleep,
        reraise=True,
    )
    first_wait = min(policy.initial_backoff_s + random.uniform(0, policy.initial_backoff_s), policy.max_backoff_s)
    if deadline.remaining() - first_wait <= 0.005:
        raise BackendUnavailable(f"{breaker.name} is unavailable", retry_after=breaker.retry_after())
    if on_retry:
        on_retry(breaker.name)
    await asyncio.sleep(first_wait)
    try:
        async for attempt in retrying:
            with attempt:
                return await _attempt(fn, breaker, deadline, hop_timeout_s)
    except RetryableUpstreamError as exc:
        raise BackendUnavailable(f"{exc.backend} is unavailable", retry_after=breaker.retry_after()) from None
    raise AssertionError("unreachable")  # pragma: no cover
