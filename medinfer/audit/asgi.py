"""``AuditRecorder``: every HTTP request leaves one ledger record before its response goes out.

The gateway's edge middleware (:class:`medinfer.common.edge.EdgeMiddleware`)
drives it: the recorder digests request and response bodies as they stream
past (keyed HMAC, never stored), and the edge sends the buffered response only
once the record's group commit is done. If the append fails the client gets
the 503 instead of the response (fail-closed). Routes add what only they know
through :func:`annotate` (model, version, PHI entity counts, action, the OOD
gate's reason code); the principal comes from ``scope["state"]["principal"]``
set by the auth dependency. Paths are recorded as route templates
(``/v2/models/{model_name}/infer``), never as sent: a URL may carry identifiers.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import Scope

from medinfer.audit.failures import FailedAuthAggregator
from medinfer.audit.ledger import AuditLedger, AuditUnavailable
from medinfer.audit.record import AuditEvent, AuditKey
from medinfer.common.errors import MedinferError
from medinfer.common.http import request_source
from medinfer.common.http_metrics import route_template

__all__ = ["AuditRecorder", "annotate", "PATIENT_KEY_HEADER"]

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


class _Draft:
    """One request's record in the making: the two running digests."""

    __slots__ = ("in_h", "out_h", "got_input", "got_output")

    def __init__(self, key: AuditKey) -> None:
        self.in_h = key.content_hasher()
        self.out_h = key.content_hasher()
        self.got_input = self.got_output = False

    def request_chunk(self, chunk: bytes) -> None:
        self.in_h.update(chunk)
        self.got_input = True

    def response_chunk(self, chunk: bytes) -> None:
        self.out_h.update(chunk)
        self.got_output = True


class AuditRecorder:
    """The edge middleware's :class:`~medinfer.common.edge.RequestRecorder` for the audit ledger."""

    def __init__(self, ledger: AuditLedger, *, exclude_paths: tuple[str, ...] = DEFAULT_EXCLUDE,
                 failures: FailedAuthAggregator | None = None) -> None:
        """``failures``: aggregate the records of requests that failed authentication, per source."""
        self.ledger = ledger
        self.exclude = frozenset(exclude_paths)
        self.failures = failures

    def begin(self, scope: Scope) -> _Draft | None:
        return None if scope.get("path") in self.exclude else _Draft(self.ledger.key)

    async def commit(self, draft: _Draft, scope: Scope, status: int, started: float) -> MedinferError | None:
        state = scope.get("state", {})
        note = state.get("audit", {})
        principal = state.get("principal")
        patient_key = note.get("patient_key") or _header(scope, PATIENT_KEY_HEADER)
        route = route_template(scope, unmatched="<no route>")
        rid = str(state.get("request_id") or "")
        if (self.failures is not None and principal is None and status in (401, 429)
                and not self.failures.admit(request_source(scope), rid, route, status)):
            return None  # counted into this source's aggregate record for the window
        event = AuditEvent(
            action=note.get("action") or f"{scope.get('method', '')} {route}",
            route=route,
            status=status,
            request_id=rid,
            sub=getattr(principal, "sub", None),
            client_id=getattr(principal, "client_id", None),
            model=note.get("model"),
            version=None if note.get("version") is None else str(note["version"]),
            latency_us=int((time.perf_counter() - started) * 1e6),
            input_digest=draft.in_h.hexdigest() if draft.got_input else None,
            output_digest=draft.out_h.hexdigest() if draft.got_output else None,
            phi_counts=dict(note.get("phi_counts", {})),
            patient_digest=self.ledger.key.patient_digest(patient_key) if patient_key else None,
            ood_reason=note.get("ood_reason"),
        )
        try:
            await self.ledger.append(event)
        except AuditUnavailable as err:
            return err
        return None


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            value = v.decode("latin-1").strip()
            return value or None
    return None
