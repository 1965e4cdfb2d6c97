"""ASGI glue every FastAPI service installs: problem+json rendering, request ids,
body-size limits and fast JSON responses.

The middlewares are plain ASGI (not ``BaseHTTPMiddleware``) to keep the
per-request cost low on the inference path.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medinfer.common.errors import (
    PROBLEM_CONTENT_TYPE,
    MalformedJSON,
    MedinferError,
    PayloadTooLarge,
    ValidationFailed,
    problem_type,
)

__all__ = [
    "ORJSONResponse",
    "problem_response",
    "install_problem_handlers",
    "RequestIdMiddleware",
    "BodyLimitMiddleware",
    "request_id_of",
    "parse_json_body",
    "opaque_request_id",
]

log = logging.getLogger("medinfer.http")

REQUEST_ID_HEADER = "x-request-id"


class ORJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def request_id_of(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id") or ""


def problem_response(err: MedinferError, request_id: str | None = None) -> Response:
    headers = dict(err.headers)
    if request_id:
        headers["X-Request-ID"] = request_id
    return Response(
        orjson.dumps(err.to_problem(instance=request_id)),
        status_code=err.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def _validation_detail(exc: RequestValidationError) -> tuple[str, str | None]:
    """Summarise pydantic errors by location and kind only (never the input value)."""
    errors = exc.errors()
    if not errors:
        return "request failed validation", None
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body",)]
    field = ".".join(loc) or None
    kind = first.get("type", "invalid")
    if kind == "json_invalid":
        return "request body is not valid JSON", None
    where = f"field '{field}'" if field else "request body"
    return f"{where}: {kind.replace('_', ' ')}", field


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(MedinferError)
    async def _medinfer(request: Request, exc: MedinferError) -> Response:
        if request.url.path.startswith("/v2/"):
            # KServe v2 clients (tritonclient) read the message from an "error" member.
            exc.extra.setdefault("error", exc.detail)
        return problem_response(exc, request_id_of(request))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        detail, field = _validation_detail(exc)
        err: MedinferError
        if detail.startswith("request body is not valid JSON"):
            err = MalformedJSON(detail)
        else:
            err = ValidationFailed(detail, field=field)
        return problem_response(err, request_id_of(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        err = MedinferError(
            "no such route" if exc.status_code == 404 else "request not allowed",
            code={404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error"),
        )
        err.status = exc.status_code
        err.title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        if exc.headers:
            err.headers.update(exc.headers)
        if request.url.path.startswith("/v2/"):
            err.extra["error"] = err.detail
        return problem_response(err, request_id_of(request))

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> Response:
        # Type only: the message or traceback may quote the input.
        log.error("unhandled error", extra={"request_id": request_id_of(request), "code": type(exc).__name__})
        return problem_response(MedinferError("internal error; see the service log by request id"), request_id_of(request))


def parse_json_body(raw: bytes) -> Any:
    if not raw:
        raise MalformedJSON("request body is empty")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MalformedJSON("request body is not valid JSON") from None


# Only opaque ids are adopted (UUIDs, hex with a letter): a free-form id could carry an MRN or a
# name into logs and audit records.
_OPAQUE_ID = re.compile(r"(?=[0-9a-f-]*[a-f])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|"
                        r"(?=[0-9a-f]*[a-f])[0-9a-f]{16,64}")


def opaque_request_id(value: str | None) -> str | None:
    """``value`` lower-cased when it is an opaque id (UUID or hex with a letter), else None."""
    if not value:
        return None
    cand = value.lower()
    return cand if len(cand) <= 64 and _OPAQUE_ID.fullmatch(cand) else None


def _new_request_id() -> str:
    return secrets.token_hex(12)


class RequestIdMiddleware:
    """Adopts a well-formed ``X-Request-ID`` or makes one, and echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for k, v in scope["headers"]:
            if k == b"x-request-id":
                cand = v.decode("latin-1").lower()
                if _OPAQUE_ID.fullmatch(cand):
                    rid = cand
                break
        rid = rid or _new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        raw_rid = rid.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k == b"x-request-id" for k, _ in headers):
                    headers.append((b"x-request-id", raw_rid))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413 before the route reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope["headers"]:
            if k == b"content-length":
                try:
                    too_big = int(v) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(scope, send)
                    return
                break
        seen = 0
        limit = self.max_bytes

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._reject(scope, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        rid = scope.get("state", {}).get("request_id")
        resp = problem_response(
            PayloadTooLarge(f"request body exceeds the limit of {self.max_bytes} bytes"), rid
        )
        await resp({"type": "http"}, _empty_receive, send)


class _BodyTooLarge(Exception):
    pass


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


