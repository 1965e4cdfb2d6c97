"""Pooled aiohttp sessions and one resilient request primitive shared by every upstream client."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from medinfer.common.errors import INPUT_FAILURE_HEADER, BackendUnavailable
from medinfer.common.tracing import inject_trace_headers
from medinfer.gateway.resilience import (
    DEADLINE_HEADER,
    BackendFault,
    CircuitBreaker,
    Deadline,
    RetryableUpstreamError,
    RetryPolicy,
    UpstreamTimeout,
    call_with_resilience,
)

__all__ = ["make_session", "Upstream", "UpstreamResponse", "RETRYABLE_STATUS"]

RETRYABLE_STATUS = frozenset({502, 503, 504})


def make_session(base_url: str, *, connections: int, timeout_s: float, ca_file: Path | None = None,
                 client_cert: tuple[Path, Path] | None = None) -> aiohttp.ClientSession:
    """``client_cert`` = (cert, key) is presented when the upstream requires mTLS."""
    ssl_ctx: ssl.SSLContext | bool = True
    if ca_file is not None or client_cert is not None:
        ssl_ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        if client_cert is not None:
            ssl_ctx.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
    connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=30, ssl=ssl_ctx, ttl_dns_cache=60)
    return aiohttp.ClientSession(
        base_url=base_url.rstrip("/") + "/",
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        skip_auto_headers=("User-Agent", "Accept-Encoding"),
        raise_for_status=False,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),  # upstreams set no cookies; a real jar costs every request
    )


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class Upstream:
    """One backend: a pooled session, its circuit breaker, the retry policy and metrics hooks."""

    def __init__(
        self, name: str, session: aiohttp.ClientSession, *, hop_timeout_s: float, policy: RetryPolicy,
        breaker: CircuitBreaker, on_retry: Callable[[str], None] | None = None,
        observe: Callable[[str, str, float], None] | None = None, trace: bool = False,
    ) -> None:
        self.name = name
        self.session = session
        self.hop_timeout_s = hop_timeout_s
        self.policy = policy
        self.breaker = breaker
        self.on_retry = on_retry
        self.observe = observe
        self.trace = trace
        # Client-side balancing over several servers (the registry's Triton endpoint pool): each attempt,
        # retries included, asks ``endpoint(path)`` for a base URL (the path names the model); a server
        # that refuses the connection is reported to ``on_unreachable`` so the next attempt goes elsewhere.
        self.endpoint: Callable[[str], str] | None = None
        self.on_unreachable: Callable[[str], None] | None = None

    async def probe(self, path: str) -> bool:
        """A health check: no retries, does not move the breaker."""
        try:
            async with self.session.get(path, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                await resp.read()
                return resp.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return False

    async def request(
        self, method: str, path: str, *, deadline: Deadline, body: bytes | None = None,
        headers: dict[str, str] | None = None, operation: str = "request",
    ) -> UpstreamResponse:
        async def once(timeout: float) -> UpstreamResponse:
            hdrs = dict(headers or {})
            hdrs[DEADLINE_HEADER] = deadline.header_value()
            if self.trace:
                inject_trace_headers(hdrs)  # the current span's traceparent replaces the client's
            base = self.endpoint(path) if self.endpoint is not None else None
            start = time.perf_counter()
            try:
                async with self.session.request(method, f"{base}/{path}" if base else path, data=body, headers=hdrs,
                                                timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                    if resp.status in RETRYABLE_STATUS and resp.headers.get(INPUT_FAILURE_HEADER) != "input":
                        raise RetryableUpstreamError(self.name, f"status {resp.status}")
                    raw = await resp.read()
                    return UpstreamResponse(resp.status, dict(resp.headers), raw)
            except asyncio.TimeoutError:  # before ClientConnectionError: aiohttp's timeouts are both
                raise UpstreamTimeout(self.name) from None
            except aiohttp.ClientConnectionError as exc:
                # Refused, reset (ClientConnectionResetError), dropped, DNS: inference is idempotent, repeat it.
                if base and self.on_unreachable is not None:
                    self.on_unreachable(base)  # the next attempt goes to another server
                raise RetryableUpstreamError(self.name, type(exc).__name__) from None
            except aiohttp.ClientPayloadError:
                # The body had started: not safe to repeat.
                truncated = BackendUnavailable(f"{self.name} sent a truncated response", retry_after=1)
                raise BackendFault(truncated) from None
            except (aiohttp.ClientError, OSError):
                # Anything else the client library raises about this exchange: the backend's side, not repeated.
                raise BackendFault(BackendUnavailable(f"{self.name} is unavailable", retry_after=1)) from None
            finally:
                if self.observe:
                    self.observe(self.name, operation, time.perf_counter() - start)

        return await call_with_resilience(
            once, breaker=self.breaker, deadline=deadline, hop_timeout_s=self.hop_timeout_s,
            policy=self.policy, on_retry=self.on_retry,
        )
