"""``EdgeMiddleware``: everything a request needs at a service's edge, in one plain-ASGI layer.

Request ids, response headers (the request id, the security headers), the body
size limit, Prometheus accounting and, on the gateway, the audit record written
before the response goes out. These used to be five middlewares; each wrapped
``send`` and ``receive`` once more and cost the inference path a few percent of
its CPU, so they are one layer now and the parts stay separately testable:

- the request id: a well-formed ``X-Request-ID`` is adopted, else one is made;
- ``max_body_bytes``: a larger Content-Length, or a streamed body that grows
  past it, gets 413 before the route reads it;
- ``on_done(scope, status, seconds)`` and ``in_flight``: the service labels its
  own series (route template, and on the gateway the catalog model/version);
- ``admission`` (:class:`InFlightLimit`): past the replica's in-flight bound a
  request gets a fast 503 before anything else (and no audit record);
- ``recorder`` (:class:`RequestRecorder`): sees the request and response bodies
  stream past and commits its record before the response is sent; if it cannot,
  the client gets its error instead of the response (fail-closed). The response
  is then buffered, which the services' small JSON answers afford.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from prometheus_client import Gauge
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medinfer.common.errors import MedinferError, PayloadTooLarge
from medinfer.common.http import new_request_id, opaque_request_id, problem_response
from medinfer.common.load_shedding import InFlightLimit

__all__ = ["EdgeMiddleware", "RequestRecorder", "RequestRecord", "ErrorRenderer", "render_problem"]

log = logging.getLogger("medinfer.http")


class RequestRecord(Protocol):
    """One request's record in the making (the recorder's own state)."""

    def request_chunk(self, chunk: bytes) -> None: ...

    def response_chunk(self, chunk: bytes) -> None: ...


class RequestRecorder(Protocol):
    def begin(self, scope: Scope) -> RequestRecord | None:
        """A record for this request, or None when the path is not recorded."""

    async def commit(self, record: RequestRecord, scope: Scope, status: int, started: float) -> MedinferError | None:
        """Write the record; an error to answer with instead of the response when it could not be written."""


class _BodyTooLarge(Exception):
    pass


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


ErrorRenderer = Callable[[MedinferError, str], Response]


async def render_problem(err: MedinferError, scope: Scope, renderer: ErrorRenderer | None = None) -> tuple[Message, bytes]:
    """An error response (problem+json unless ``renderer`` says otherwise) as its ASGI start message and body."""
    rid = scope.get("state", {}).get("request_id") or ""
    resp = renderer(err, rid) if renderer is not None else problem_response(err, rid)
    msgs: list[Message] = []

    async def collect(m: Message) -> None:
        msgs.append(m)

    await resp({"type": "http"}, _no_receive, collect)
    return msgs[0], b"".join(m.get("body", b"") for m in msgs[1:])


def _request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's ``X-Request-ID`` when it is opaque (see ``opaque_request_id``), else a new one."""
    for k, v in headers:
        if k == b"x-request-id":
            return opaque_request_id(v.decode("latin-1")) or new_request_id()
    return new_request_id()


class EdgeMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, on_done: Callable[[Scope, int, float], None] | None = None,
        in_flight: Gauge | None = None, https_headers: Iterable[tuple[bytes, bytes]] = (),
        http_headers: Iterable[tuple[bytes, bytes]] = (), recorder: RequestRecorder | None = None,
        error_renderers: dict[str, ErrorRenderer] | None = None, admission: InFlightLimit | None = None,
    ) -> None:
        """``https_headers`` / ``http_headers``: added to every response on that scheme unless the route set them.
        ``error_renderers``: path prefix -> how the edge's own errors (413, 500, the recorder's 503) are rendered
        there, for APIs whose clients expect another error format (FHIR's OperationOutcome)."""
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.on_done = on_done
        self.in_flight = in_flight
        self.extra = {"https": list(https_headers), "http": list(http_headers)}
        self.recorder = recorder
        self.error_renderers = tuple((error_renderers or {}).items())
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = _request_id(scope["headers"])
        scope.setdefault("state", {})["request_id"] = rid
        extra = [(b"x-request-id", rid.encode()), *self.extra["https" if scope.get("scheme") == "https" else "http"]]
        admission = self.admission
        admitted = shed = False
        if admission is not None and not admission.exempt(scope["path"]):
            admitted = admission.try_acquire()
            shed = not admitted
        record = self.recorder.begin(scope) if self.recorder is not None and not shed else None
        status = 500
        start: Message | None = None
        body: list[bytes] = []
        out = False  # something went to the client already
        seen = 0
        limit = self.max_body_bytes

        async def edge_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > limit:
                    raise _BodyTooLarge
                if chunk and record is not None:
                    record.request_chunk(chunk)
            return message

        async def edge_send(message: Message) -> None:
            nonlocal status, start, body, out
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in extra if h[0] not in present)
                message["headers"] = headers
                if record is None:
                    out = True
                    await send(message)
                else:
                    start, body = message, []
                return
            if message["type"] == "http.response.body" and record is not None:
                chunk = message.get("body", b"")
                if chunk:
                    record.response_chunk(chunk)
                    body.append(chunk)
                if not message.get("more_body", False):
                    out = True
                    await self._commit(record, scope, start, body, started, send, extra)
                return
            await send(message)

        if self.in_flight is not None:
            self.in_flight.inc()
        try:
            if shed:
                await self._answer(admission.refusal(scope["path"]), scope, edge_send)
                return
            if self._declared_too_large(scope):
                await self._answer(self._too_large(), scope, edge_send)
                return
            try:
                await self.app(scope, edge_receive, edge_send)
            except _BodyTooLarge:
                if not out:
                    await self._answer(self._too_large(), scope, edge_send)
            except Exception as exc:
                # Logged by type only (the message or a traceback may quote the input), never re-raised to the
                # server, which would log it whole. Starlette re-raises after sending its own 500.
                log.error("request failed", extra={"event": "unhandled", "code": type(exc).__name__,
                                                   "request_id": rid})
                if not out:
                    await self._answer(MedinferError("internal error; see the service log by request id"), scope,
                                       edge_send)
        finally:
            if admitted:
                admission.release()
            if self.in_flight is not None:
                self.in_flight.dec()
            if self.on_done is not None:
                self.on_done(scope, status, time.perf_counter() - started)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"request body exceeds the limit of {self.max_body_bytes} bytes")

    def _declared_too_large(self, scope: Scope) -> bool:
        for k, v in scope["headers"]:
            if k == b"content-length":
                try:
                    return int(v) > self.max_body_bytes
                except ValueError:
                    return False
        return False

    def _renderer(self, scope: Scope) -> ErrorRenderer | None:
        path = scope.get("path", "")
        for prefix, renderer in self.error_renderers:
            if path.startswith(prefix):
                return renderer
        return None

    async def _answer(self, err: MedinferError, scope: Scope, send: Send) -> None:
        start, payload = await render_problem(err, scope, self._renderer(scope))
        await send(start)
        await send({"type": "http.response.body", "body": payload, "more_body": False})

    async def _commit(self, record: RequestRecord, scope: Scope, start: Message | None, body: list[bytes],
                      started: float, send: Send, extra: list[tuple[bytes, bytes]]) -> None:
        """Record, then send what was buffered, or the recorder's error instead (fail-closed)."""
        assert self.recorder is not None and start is not None
        err = await self.recorder.commit(record, scope, int(start["status"]), started)
        payload = b"".join(body)
        if err is not None:
            start, payload = await render_problem(err, scope, self._renderer(scope))
            present = {k.lower() for k, _ in start["headers"]}
            start["headers"] = [*start["headers"], *(h for h in extra if h[0] not in present)]
        await send(start)
        await send({"type": "http.response.body", "body": payload, "more_body": False})
