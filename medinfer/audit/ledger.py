"""The async front of the ledger: group commit and fail-closed appends.

Requests ``await ledger.append(event)`` before their response is sent. One
writer thread drains everything queued while its previous commit was in flight
into a single transaction (group commit): under load one fsync covers many
requests, and a request waits only for its own group's commit. The thread
hands each group's results back to the event loop in one
``call_soon_threadsafe``; an asyncio task between the two would add two more
loop turns to every request's wait. When the store cannot be written every
waiting request gets :class:`AuditUnavailable` (503): nothing is served
without its record.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable

from medinfer.audit.checkpoint import CheckpointWriter
from medinfer.audit.record import AuditEvent, AuditKey, AuditRecord
from medinfer.audit.store import AuditStore
from medinfer.common.errors import BackendUnavailable

__all__ = ["AuditLedger", "AuditUnavailable"]

log = logging.getLogger("medinfer.audit")

_Pending = tuple[AuditEvent, "asyncio.Future[AuditRecord]", asyncio.AbstractEventLoop]
_STOP = None


class AuditUnavailable(BackendUnavailable):
    code, title = "audit-unavailable", "Audit ledger unavailable"


def _settle(results: list[tuple[asyncio.Future[AuditRecord], AuditRecord | None]]) -> None:
    """On the loop's thread: complete the futures of one group (None = the group failed)."""
    for fut, rec in results:
        if fut.done():
            continue
        if rec is None:
            fut.set_exception(AuditUnavailable("the audit ledger cannot be written", retry_after=5))
        else:
            fut.set_result(rec)


class AuditLedger:
    def __init__(self, store: AuditStore, key: AuditKey, *, max_batch: int = 512,
                 checkpoints: CheckpointWriter | None = None) -> None:
        """Set ``observe_write(seconds)`` and ``count_failure()`` to export the wait for the commit (what each
        request pays) and the records that could not be written. ``checkpoints`` anchors the head outside
        the database after commits (signed, append-only)."""
        self.store = store
        self.key = key
        self.checkpoints = checkpoints
        self.max_batch = max(1, max_batch)
        self.observe_write: Callable[[float], None] | None = None
        self.count_failure: Callable[[], None] | None = None
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0
        self.records = 0
        self.failures = 0

    async def append(self, event: AuditEvent) -> AuditRecord:
        """Queue ``event`` and wait until the transaction holding it commits."""
        loop = asyncio.get_running_loop()
        if self._thread is None:
            self._start()
        fut: asyncio.Future[AuditRecord] = loop.create_future()
        started = time.perf_counter()
        self._queue.put((event, fut, loop))
        try:
            return await fut
        except AuditUnavailable:
            if self.count_failure is not None:
                self.count_failure()
            raise
        finally:
            if self.observe_write is not None:
                self.observe_write(time.perf_counter() - started)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_loop, name="audit-writer", daemon=True)
                self._thread.start()

    def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            records: list[AuditRecord | None] = list(self.store.append([e for e, _, _ in batch], self.key))
            self.batches += 1
            self.records += len(records)
            if self.checkpoints is not None and records:
                tail = records[-1]
                self.checkpoints.after_commit(tail.seq, tail.hash)
        except Exception as exc:  # the store is down, full, locked or gone: fail closed
            self.failures += 1
            log.error("audit append failed", extra={"event": "audit-write-failed", "code": type(exc).__name__})
            records = [None] * len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for (_, fut, loop), rec in zip(batch, records):
            by_loop.setdefault(loop, []).append((fut, rec))
        for loop, results in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, results)
            except RuntimeError:  # that loop has closed: nobody is waiting any more
                pass

    async def aclose(self) -> None:
        """Let queued appends finish, then stop the writer and release the store."""
        thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(thread.join)
            self._thread = None
        if self.checkpoints is not None:
            self.checkpoints.flush()
        self.store.dispose()
