"""The async front of the ledger: group commit and fail-closed appends.

Requests ``await ledger.append(event)`` before their response is sent. One
background task drains everything queued while the previous commit was in
flight into a single transaction (group commit): under load one fsync covers
many requests, and a request waits only for its own group's commit. When the
store cannot be written every waiting request gets :class:`AuditUnavailable`
(503): nothing is served without its record.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from medinfer.audit.record import AuditEvent, AuditKey, AuditRecord
from medinfer.audit.store import AuditStore
from medinfer.common.errors import BackendUnavailable

__all__ = ["AuditLedger", "AuditUnavailable"]

log = logging.getLogger("medinfer.audit")


class AuditUnavailable(BackendUnavailable):
    code, title = "audit-unavailable", "Audit ledger unavailable"


class AuditLedger:
    def __init__(self, store: AuditStore, key: AuditKey, *, max_batch: int = 512) -> None:
        """Set ``observe_write(seconds)`` and ``count_failure()`` to export the wait for the commit (what each
        request pays) and the records that could not be written."""
        self.store = store
        self.observe_write: Callable[[float], None] | None = None
        self.count_failure: Callable[[], None] | None = None
        self.key = key
        self.max_batch = max(1, max_batch)
        self._pending: list[tuple[AuditEvent, asyncio.Future[AuditRecord]]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-writer")
        self.batches = 0
        self.records = 0
        self.failures = 0
        self._busy = False

    async def append(self, event: AuditEvent) -> AuditRecord:
        """Queue ``event`` and wait until the transaction holding it commits."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run(), name="audit-writer")
        fut: asyncio.Future[AuditRecord] = loop.create_future()
        self._pending.append((event, fut))
        assert self._wake is not None
        self._wake.set()
        started = time.perf_counter()
        try:
            return await fut
        except AuditUnavailable:
            if self.count_failure is not None:
                self.count_failure()
            raise
        finally:
            if self.observe_write is not None:
                self.observe_write(time.perf_counter() - started)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                self._busy = True
                try:
                    records = await loop.run_in_executor(
                        self._executor, self.store.append, [e for e, _ in batch], self.key)
                except Exception as exc:  # the store is down, full, locked or gone: fail closed
                    self.failures += 1
                    log.error("audit append failed", extra={"event": "audit-write-failed", "code": type(exc).__name__})
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(AuditUnavailable("the audit ledger cannot be written", retry_after=5))
                    continue
                finally:
                    self._busy = False
                self.batches += 1
                self.records += len(records)
                for (_, fut), rec in zip(batch, records):
                    if not fut.done():
                        fut.set_result(rec)

    async def aclose(self) -> None:
        """Let queued appends finish, then stop the writer and release the store."""
        while self._pending or self._busy:
            await asyncio.sleep(0.005)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._executor.shutdown(wait=True)
        self.store.dispose()
