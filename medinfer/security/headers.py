"""HSTS and safe default response headers, as a plain ASGI middleware.

The gateway serves JSON APIs only, so the Content-Security-Policy forbids
everything; ``Cache-Control: no-store`` keeps inference results (which may
concern a patient) out of shared caches. Headers a route already set win.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeadersMiddleware", "security_headers"]


def security_headers(hsts_max_age: int | None) -> list[tuple[bytes, bytes]]:
    out = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
        (b"cache-control", b"no-store"),
        (b"cross-origin-resource-policy", b"same-origin"),
    ]
    if hsts_max_age:
        out.append((b"strict-transport-security", f"max-age={int(hsts_max_age)}; includeSubDomains".encode()))
    return out


class SecurityHeadersMiddleware:
    """``hsts_max_age`` only applies on HTTPS (browsers ignore HSTS over HTTP, RFC 6797 7.2)."""

    def __init__(self, app: ASGIApp, hsts_max_age: int | None = 31_536_000) -> None:
        self.app = app
        self._https = security_headers(hsts_max_age)
        self._http = security_headers(None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._https if scope.get("scheme") == "https" else self._http

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in extra if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
