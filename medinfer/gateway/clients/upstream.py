"""One pooled aiohttp session per upstream, and the mapping of transport failures to our errors."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiohttp

from medinfer.common.errors import BackendUnavailable, DeadlineExceeded

__all__ = ["make_session", "transport_error"]


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
        skip_auto_headers=("User-Agent",),
        raise_for_status=False,
    )


def transport_error(backend: str, exc: BaseException) -> Exception:
    """Timeouts -> 504; connection failures -> 503 with Retry-After. Never the exception's text."""
    if isinstance(exc, asyncio.TimeoutError):
        return DeadlineExceeded(f"{backend} did not answer in time")
    return BackendUnavailable(f"{backend} is unavailable", retry_after=2)
