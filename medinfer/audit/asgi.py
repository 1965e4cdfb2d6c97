"""``AuditMiddleware``: every HTTP request leaves one ledger record before its response goes out.

The middleware buffers the response (the gateway's JSON responses are small),
appends the record, waits for its group commit, and only then sends. If the
append fails the client gets the 503 instead of the response (fail-closed).
It digests request and response bodies as they stream past (keyed HMAC, never
stored). Routes add what only they know through :func:`annotate` (model,
version, PHI entity counts, action, the OOD gate's reason code); the principal comes from
``scope["state"]["principal"]`` set by the auth dependency. Paths are recorded
as route templates (``/v2/models/{model_name}/infer``), never as sent: a URL
may carry identifiers.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medinfer.audit.ledger import AuditLedger, AuditUnavailable
from medinfer.audit.record import AuditEvent
from medinfer.common.errors import MedinferError

__all__ = ["AuditMiddleware", "annotate", "PATIENT_KEY_HEADER"]

log = logging.getLogger("medinfer.audit")

PATIENT_KEY_HEADER = b"x-patient-key"
DEFAULT_EXCLUDE = ("/healthz", "/readyz", "/metrics")


def annotate(scope: Scope, *, model: str | None = None, version: str | None = None, action: str | None = None,
             phi_counts: dict[str, int] | None = None, patient_key: str | None = None,
             ood_reason: str | None = None) -> None:
    """Add route knowledge to this request's audit record. ``model`` must be a known model name;
    ``ood_reason`` a code from the gate's closed set (never a value)."""
    note: dict[str, Any] = scope.setdefault("state", {}).setdefault("audit", {})
    for k, v in (("model", model), ("version", version), ("action", action), ("patient_key", patient_key),
                 ("ood_reason", ood_reason)):
        if v is not None:
            note[k] = v
    if phi_counts:
        counts = note.setdefault("phi_counts", {})
        for kind, n in phi_counts.items():
            counts[kind] = counts.get(kind, 0) + int(n)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<no route>"


class AuditMiddleware:
    def __init__(self, app: ASGIApp, ledger: AuditLedger, *, exclude_paths: tuple[str, ...] = DEFAULT_EXCLUDE) -> None:
        self.app = app
        self.ledger = ledger
        self.exclude = frozenset(exclude_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exclude:
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        in_h = self.ledger.key.content_hasher()
        out_h = self.ledger.key.content_hasher()
        got_input = False
        start: Message | None = None
        body: list[bytes] = []

        async def recv() -> Message:
            nonlocal got_input
            msg = await receive()
            if msg["type"] == "http.request" and msg.get("body"):
                in_h.update(msg["body"])
                got_input = True
            return msg

        async def capture(msg: Message) -> None:
            nonlocal start
            if msg["type"] == "http.response.start":
                start = msg
            elif msg["type"] == "http.response.body":
                chunk = msg.get("body", b"")
                if chunk:
                    out_h.update(chunk)
                    body.append(chunk)

        try:
            await self.app(scope, recv, capture)
        except Exception as exc:
            # A response may already be captured (Starlette re-raises after rendering its 500).
            log.error("request failed", extra={"event": "unhandled", "code": type(exc).__name__,
                                               "request_id": scope.get("state", {}).get("request_id")})
        if start is None:
            err = MedinferError("internal error; see the service log by request id")
            start, body = await _render(err, scope)
            out_h = self.ledger.key.content_hasher()
            out_h.update(b"".join(body))

        state = scope.get("state", {})
        note = state.get("audit", {})
        principal = state.get("principal")
        patient_key = note.get("patient_key") or _header(scope, PATIENT_KEY_HEADER)
        event = AuditEvent(
            action=note.get("action") or f"{scope.get('method', '')} {_route_template(scope)}",
            route=_route_template(scope),
            status=int(start["status"]),
            request_id=str(state.get("request_id") or ""),
            sub=getattr(principal, "sub", None),
            client_id=getattr(principal, "client_id", None),
            model=note.get("model"),
            version=None if note.get("version") is None else str(note["version"]),
            latency_us=int((time.perf_counter() - t0) * 1e6),
            input_digest=in_h.hexdigest() if got_input else None,
            output_digest=out_h.hexdigest() if body else None,
            phi_counts=dict(note.get("phi_counts", {})),
            patient_digest=self.ledger.key.patient_digest(patient_key) if patient_key else None,
            ood_reason=note.get("ood_reason"),
        )
        try:
            await self.ledger.append(event)
        except AuditUnavailable as err:
            start, body = await _render(err, scope)
        await send(start)
        await send({"type": "http.response.body", "body": b"".join(body), "more_body": False})


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            value = v.decode("latin-1").strip()
            return value or None
    return None


async def _render(err: MedinferError, scope: Scope) -> tuple[Message, list[bytes]]:
    from medinfer.common.http import problem_response

    resp = problem_response(err, scope.get("state", {}).get("request_id"))
    msgs: list[Message] = []

    async def collect(m: Message) -> None:
        msgs.append(m)

    async def no_receive() -> Message:
        return {"type": "http.disconnect"}

    await resp({"type": "http"}, no_receive, collect)
    return msgs[0], [m.get("body", b"") for m in msgs[1:]]
