"""Shadow traffic: repeat a share of requests on a candidate version, compare, never answer with it.

After the routed version has answered (and the answer is on its way to the caller), the
request is sent again to the model's ``shadow`` version (``medinfer/registry/shadow.py``),
in a background task with its own circuit breaker and no retries, so a failing candidate
can neither slow nor fail real traffic. The two answers are compared output by output
(same names, shapes and datatypes; numbers within ``rtol``/``atol``, strings equal):

* ``medinfer_shadow_requests_total{model,version,outcome}``: ``match``, ``mismatch``,
  ``error`` (the shadow call failed) or ``skipped`` (``max_inflight`` mirrors already running);
* ``medinfer_shadow_max_abs_diff{model,version}``: the largest absolute difference per request;
* an audit record per mirrored request, action ``shadow infer match|mismatch|error``, with
  the request id, the shadow version and HMAC digests of input and shadow output (no content).

The shadow request counts as in flight on its version, so clearing the shadow unloads the
version only after mirrors already sent have finished.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram

from medinfer.audit import AuditEvent
from medinfer.common.http import opaque_request_id
from medinfer.common.v2 import HEADER_LENGTH, V2Tensor, decode_response
from medinfer.gateway.clients.triton import TritonClient
from medinfer.gateway.resilience import Deadline
from medinfer.registry.routing import InflightTracker, RoutingTable

__all__ = ["ShadowMirror", "compare_outputs"]

log = logging.getLogger("medinfer.gateway")

DIFF_BUCKETS = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0)


def compare_outputs(primary: list[V2Tensor], shadow: list[V2Tensor], *, rtol: float = 1e-3,
                    atol: float = 1e-4) -> tuple[bool, float]:
    """(match, largest absolute difference; inf when the outputs do not line up)."""
    a = {t.name: t for t in primary}
    b = {t.name: t for t in shadow}
    if a.keys() != b.keys():
        return False, math.inf
    worst = 0.0
    match = True
    for name, x in a.items():
        y = b[name]
        if x.datatype != y.datatype or list(x.shape) != list(y.shape):
            return False, math.inf
        if x.datatype == "BYTES":
            if not np.array_equal(x.data, y.data):
                match, worst = False, math.inf
            continue
        xa, ya = np.asarray(x.data, dtype=np.float64), np.asarray(y.data, dtype=np.float64)
        if xa.size:
            worst = max(worst, float(np.max(np.abs(xa - ya))))
        match = match and bool(np.allclose(xa, ya, rtol=rtol, atol=atol))
    return match, worst


class ShadowMirror:
    def __init__(self, table: RoutingTable, triton: TritonClient, tracker: InflightTracker, *,
                 registry: CollectorRegistry, ledger: Any = None, timeout_s: float = 10.0,
                 max_inflight: int = 32) -> None:
        self.table, self.triton, self.tracker, self.ledger = table, triton, tracker, ledger
        self.timeout_s, self.max_inflight = timeout_s, max_inflight
        self._tasks: set[asyncio.Task] = set()
        self.requests = Counter("medinfer_shadow_requests", "Requests mirrored to a shadow version, by outcome",
                                ["model", "version", "outcome"], registry=registry)
        self.diff = Histogram("medinfer_shadow_max_abs_diff",
                              "Largest absolute output difference between the shadow and the routed version",
                              ["model", "version"], buckets=DIFF_BUCKETS, registry=registry)

    # ---- entry points (return at once; the mirror runs in the background) -------------------------
    def mirror_v2(self, model: str, version: int, request_id: str, body: bytes, headers: dict[str, str],
                  answer: bytes, answer_header_length: str | None) -> None:
        """A ``/v2`` request the routed version answered with ``answer`` (JSON or binary)."""
        sv = self._pick(model, version, request_id)
        if sv is not None:
            self._spawn(self._run(model, sv, request_id, body,
                                  lambda: self._v2_call(model, sv, body, headers, answer, answer_header_length)))

    def mirror_tensors(self, model: str, version: int, request_id: str, inputs: list[V2Tensor],
                       outputs: list[V2Tensor]) -> None:
        """A ``/infer`` request: the same input tensors, compared with the routed version's outputs."""
        sv = self._pick(model, version, request_id)
        if sv is not None:
            digest_src = b"".join(np.ascontiguousarray(t.data).tobytes() for t in inputs)
            self._spawn(self._run(model, sv, request_id, digest_src,
                                  lambda: self._tensor_call(model, sv, inputs, outputs)))

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.timeout_s)

    # ---- internals -----------------------------------------------------------------------------------
    def _pick(self, model: str, version: int, request_id: str) -> int | None:
        sv = self.table.shadow(model, request_id)
        if sv is None or sv == version:
            return None
        if len(self._tasks) >= self.max_inflight:
            self.requests.labels(model, str(sv), "skipped").inc()
            return None
        return sv

    def _spawn(self, coro) -> None:  # noqa: ANN001
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _v2_call(self, model: str, sv: int, body: bytes, headers: dict[str, str], answer: bytes,
                       answer_hl: str | None) -> tuple[bool, float, bytes]:
        resp = await self.triton.forward("POST", f"v2/models/{model}/versions/{sv}/infer",
                                         Deadline(self.timeout_s), body, headers, operation="shadow")
        if resp.status != 200:
            raise RuntimeError(f"shadow status {resp.status}")
        _, primary = decode_response(answer, answer_hl)
        _, shadow = decode_response(resp.body, resp.headers.get(HEADER_LENGTH))
        return (*compare_outputs(primary, shadow), resp.body)

    async def _tensor_call(self, model: str, sv: int, inputs: list[V2Tensor],
                           outputs: list[V2Tensor]) -> tuple[bool, float, bytes]:
        shadow = await self.triton.infer(model, sv, inputs, Deadline(self.timeout_s))
        raw = b"".join(np.ascontiguousarray(t.data).tobytes() for t in shadow)
        return (*compare_outputs(outputs, shadow), raw)

    async def _run(self, model: str, sv: int, request_id: str, input_bytes: bytes, call) -> None:  # noqa: ANN001
        t0 = time.perf_counter()
        out = b""
        try:
            with self.tracker.track(model, sv):
                match, worst, out = await call()
            outcome = "match" if match else "mismatch"
            if math.isfinite(worst):
                self.diff.labels(model, str(sv)).observe(worst)
        except Exception:  # noqa: BLE001 - a shadow failure never reaches the caller
            outcome, status = "error", 0
        else:
            status = 200
        self.requests.labels(model, str(sv), outcome).inc()
        if self.ledger is None:
            return
        try:
            in_h, out_h = self.ledger.key.content_hasher(), self.ledger.key.content_hasher()
            in_h.update(input_bytes)
            out_h.update(out)
            await self.ledger.append(AuditEvent(
                action=f"shadow infer {outcome}", route=f"shadow:/v2/models/{model}/infer", status=status,
                request_id=opaque_request_id(request_id) or "", model=model, version=str(sv),
                latency_us=int((time.perf_counter() - t0) * 1e6), input_digest=in_h.hexdigest(),
                output_digest=out_h.hexdigest() if out else None,
            ))
        except Exception:  # noqa: BLE001 - the ledger counts its own failures
            log.warning("shadow audit record not written", extra={"model": model, "code": "audit-unavailable"})
