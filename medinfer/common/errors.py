"""Typed errors rendered once as RFC 9457 ``application/problem+json``.

Hierarchy (every class carries its HTTP status and a stable ``code``)::

    MedinferError (500 internal)
    ├── BadRequest (400 bad-request)
    │   └── MalformedJSON (400 malformed-json)
    ├── Unauthorized (401 unauthorized)          adds WWW-Authenticate
    ├── Forbidden (403 forbidden)
    ├── NotFound (404 not-found)
    │   └── ModelNotFound (404 model-not-found)
    ├── Conflict (409 conflict)
    ├── PayloadTooLarge (413 payload-too-large)
    ├── UnsupportedMediaType (415 unsupported-media-type)
    ├── ValidationFailed (422 validation-failed)  names the offending field, never its value
    ├── RateLimited (429 rate-limited)            adds Retry-After
    ├── BadGateway (502 bad-gateway)              the backend answered, but failed this request
    ├── BackendUnavailable (503 backend-unavailable) adds Retry-After
    └── DeadlineExceeded (504 deadline-exceeded)

Details are written by the code that raises, from field names and limits only:
no error message may quote the caller's input (it may hold PHI).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "MedinferError",
    "BadRequest",
    "MalformedJSON",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "ModelNotFound",
    "Conflict",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "ValidationFailed",
    "RateLimited",
    "BadGateway",
    "BackendUnavailable",
    "DeadlineExceeded",
    "problem_type",
]

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:medinfer:problem:"


def problem_type(code: str) -> str:
    return PROBLEM_TYPE_BASE + code


class MedinferError(Exception):
    status: int = 500
    code: str = "internal"
    title: str = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.title
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        super().__init__(self.detail)

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": problem_type(self.code),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(MedinferError):
    status, code, title = 400, "bad-request", "Bad request"


class MalformedJSON(BadRequest):
    code, title = "malformed-json", "Malformed JSON body"


class Unauthorized(MedinferError):
    status, code, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, *, error: str = "invalid_token", **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.headers.setdefault(
            "WWW-Authenticate", f'Bearer realm="medinfer", error="{error}"'
        )


class Forbidden(MedinferError):
    """Every 403 says why in the RFC 6750 (section 3.1) way; the scope checks add ``scope="..."``."""

    status, code, title = 403, "forbidden", "Insufficient scope"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.headers.setdefault("WWW-Authenticate", 'Bearer realm="medinfer", error="insufficient_scope"')


class NotFound(MedinferError):
    status, code, title = 404, "not-found", "Not found"


class ModelNotFound(NotFound):
    code, title = "model-not-found", "Unknown model or version"


class Conflict(MedinferError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(MedinferError):
    status, code, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(MedinferError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(MedinferError):
    status, code, title = 422, "validation-failed", "Input failed validation"

    def __init__(self, detail: str | None = None, *, field: str | None = None, **kw: Any) -> None:
        super().__init__(detail, **kw)
        if field is not None:
            self.extra.setdefault("field", field)


class RateLimited(MedinferError):
    status, code, title = 429, "rate-limited", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.headers.setdefault("Retry-After", str(max(1, int(retry_after))))


class BadGateway(MedinferError):
    status, code, title = 502, "bad-gateway", "Backend failed the request"


class BackendUnavailable(MedinferError):
    status, code, title = 503, "backend-unavailable", "Backend unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.headers.setdefault("Retry-After", str(max(1, int(retry_after))))


class DeadlineExceeded(MedinferError):
    status, code, title = 504, "deadline-exceeded", "Deadline exceeded"
