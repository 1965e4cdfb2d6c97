"""Failed-authentication records, aggregated per source so a flood cannot grow the ledger without bound.

Each request that fails authentication (401, or 429 once its source is over the
failed-auth budget) used to write its own fsync'd record: an unauthenticated
client could grow the ledger as fast as it could send. Now, per source (the TCP
peer; behind an Ingress that is the ingress pod) and per window
(``audit_failure_window_s``), the **first** failure is recorded in full and the
rest are counted; when the window ends one aggregate record is appended:
``action = "auth-failures-aggregated"``, ``status`` the last status seen,
``repeat`` = the number of requests it stands for, ``request_id`` = the first
record's (which links the two). So a source costs at most two records per
window whatever it sends. Records hold no source address (as before): the
aggregation is per source, the record is not about the source.

Counts still pending at shutdown are flushed before the ledger closes; the
sources tracked are bounded (``max_sources``, the oldest is flushed first).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

from medinfer.audit.ledger import AuditLedger, AuditUnavailable
from medinfer.audit.record import AuditEvent, utc_now

__all__ = ["FailedAuthAggregator", "AGGREGATE_ACTION"]

log = logging.getLogger("medinfer.audit")

AGGREGATE_ACTION = "auth-failures-aggregated"


@dataclass
class _Window:
    started: float
    request_id: str
    route: str
    status: int = 0
    suppressed: int = 0


class FailedAuthAggregator:
    def __init__(self, ledger: AuditLedger, *, window_s: float = 60.0, max_sources: int = 10_000,
                 clock=time.monotonic) -> None:
        self.ledger = ledger
        self.window_s = window_s
        self.max_sources = max_sources
        self._clock = clock
        self._windows: OrderedDict[str, _Window] = OrderedDict()
        self._flusher: asyncio.Task | None = None
        self._pending: set[asyncio.Task] = set()
        self._retry: list[AuditEvent] = []  # aggregate records the ledger could not take yet
        self.aggregated = 0  # requests folded into aggregate records (for tests and metrics)

    def admit(self, source: str, request_id: str, route: str, status: int) -> bool:
        """True: record this failure in full (the first from ``source`` in its window). False: it was counted
        into the window's aggregate record instead."""
        now = self._clock()
        w = self._windows.get(source)
        if w is not None and now - w.started < self.window_s:
            w.suppressed += 1
            w.status = status
            return False
        if w is not None:
            self._emit(self._windows.pop(source))
        self._windows[source] = _Window(now, request_id, route, status)
        while len(self._windows) > self.max_sources:
            _, oldest = self._windows.popitem(last=False)
            self._emit(oldest)
        self._ensure_flusher()
        return True

    def _emit(self, w: _Window) -> None:
        if not w.suppressed:
            return
        self.aggregated += w.suppressed
        event = AuditEvent(action=AGGREGATE_ACTION, route=w.route, status=w.status, request_id=w.request_id,
                           repeat=w.suppressed, ts=utc_now())
        task = asyncio.get_running_loop().create_task(self._append(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _append(self, event: AuditEvent) -> None:
        try:
            await self.ledger.append(event)
        except AuditUnavailable:  # kept and retried by the flusher: a ledger outage does not lose the counts
            log.error("aggregate audit record deferred", extra={"event": "audit-aggregate-failed",
                                                                 "code": "unavailable"})
            if len(self._retry) < self.max_sources:
                self._retry.append(event)
            else:  # bounded: fold into the last deferred record
                self._retry[-1].repeat = (self._retry[-1].repeat or 0) + (event.repeat or 0)
            self._ensure_flusher()

    def _ensure_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while self._windows or self._retry:
            await asyncio.sleep(max(0.05, min(self.window_s / 4, 5.0)))
            self.flush_due()

    def _resend(self) -> None:
        retry, self._retry = self._retry, []
        for event in retry:
            task = asyncio.get_running_loop().create_task(self._append(event))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def flush_due(self) -> None:
        """Close the windows that have ended (appending their aggregate records)."""
        now = self._clock()
        for source in [s for s, w in self._windows.items() if now - w.started >= self.window_s]:
            self._emit(self._windows.pop(source))
        self._resend()

    async def aclose(self) -> None:
        """Append every pending count (before the ledger closes)."""
        if self._flusher is not None:
            self._flusher.cancel()
        while self._windows:
            _, w = self._windows.popitem(last=False)
            self._emit(w)
        self._resend()
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        if self._retry:
            lost = sum(e.repeat or 0 for e in self._retry)
            log.error("aggregate audit records lost at shutdown",
                      extra={"event": "audit-aggregate-lost", "code": str(lost)})
