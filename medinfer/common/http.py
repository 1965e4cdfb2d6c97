"""What every FastAPI service installs: problem+json rendering, fast JSON responses,
opaque request ids (the edge middleware is :mod:`medinfer.common.edge`)."""

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
from starlette.routing import Match, Route
from starlette.types import Scope

from medinfer.common.errors import (
    PROBLEM_CONTENT_TYPE,
    MalformedJSON,
    MedinferError,
    ValidationFailed,
)

__all__ = [
    "ORJSONResponse",
    "problem_response",
    "install_problem_handlers",
    "new_request_id",
    "PlainRoute",
    "request_id_of",
    "parse_json_body",
    "opaque_request_id",
    "request_source",
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


def new_request_id() -> str:
    return secrets.token_hex(12)


def request_source(scope) -> str:
    """The TCP peer's address, the unit failed-authentication limits count per (forwarded headers are not
    trusted: behind an Ingress this is the ingress pod)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def opaque_request_id(value: str | None) -> str | None:
    """``value`` lower-cased when it is an opaque id (UUID or hex with a letter), else None."""
    if not value:
        return None
    cand = value.lower()
    return cand if len(cand) <= 64 and _OPAQUE_ID.fullmatch(cand) else None


class PlainRoute(Route):
    """A Starlette route for the hot paths (no FastAPI dependency solving) that, like FastAPI's routes, puts
    itself in ``scope["route"]``: metrics and the audit record label requests by route template."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self
        return match, child
