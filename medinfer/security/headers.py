"""HSTS and safe default response headers (added by the edge middleware to every response).

The gateway serves JSON APIs only, so the Content-Security-Policy forbids
everything; ``Cache-Control: no-store`` keeps inference results (which may
concern a patient) out of shared caches. Headers a route already set win.
"""

from __future__ import annotations

__all__ = ["security_headers"]


def security_headers(hsts_max_age: int | None) -> list[tuple[bytes, bytes]]:
    """``hsts_max_age`` only for HTTPS responses (browsers ignore HSTS over HTTP, RFC 6797 7.2)."""
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
