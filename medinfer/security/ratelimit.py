"""Per-principal token-bucket rate limit, in memory.

One bucket per client (``Principal.rate_key``), refilled at ``rate`` tokens a
second up to ``burst``. In memory per gateway process: with N replicas the
effective limit is N times higher, which the operator sizes for (see
SECURITY.md); a shared store would add a network hop to every request.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

from medinfer.common.errors import RateLimited

__all__ = ["TokenBucketLimiter"]


class TokenBucketLimiter:
    def __init__(self, rate: float, burst: int, *, max_clients: int = 100_000, clock=time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()
        self._max_clients = max_clients

    def check(self, key: str, cost: float = 1.0) -> None:
        """Take ``cost`` tokens from ``key``'s bucket or raise ``RateLimited`` with Retry-After."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = [self.burst, now]
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            tokens, last = bucket
            bucket[0] = min(self.burst, tokens + (now - last) * self.rate)
            bucket[1] = now
        if bucket[0] >= cost:
            bucket[0] -= cost
            return
        wait = (cost - bucket[0]) / self.rate
        raise RateLimited("rate limit exceeded for this client", retry_after=max(1, math.ceil(wait)))
