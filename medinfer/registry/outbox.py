"""Transactional outbox for the registry's audit events.

Why: a registry change used to be committed first and handed to the audit sink
afterwards; a ledger outage (or a crash in between) left the change with no
audit record at all. Now each change writes its event into
``registry_audit_outbox`` inside the change's own transaction, so a committed
change always has its event, and delivery to the sink happens after the commit:

* the change's own call delivers every pending row in id order (older rows
  first, so records reach the ledger in the order the changes were made) and
  raises 503 if the sink fails; the row then stays pending;
* the gateway's registry runtime retries periodically and at start-up
  (``OutboxPump``), so pending rows are delivered once the ledger is back, also
  after the process that made the change died.

Concurrent deliverers (gateway replicas on one PostgreSQL) claim the *oldest*
pending row with a lease, by compare-and-set (``UPDATE ... WHERE claim is free``);
a deliverer that finds the oldest row leased by someone else backs off instead
of skipping ahead, which keeps id order and means one deliverer at a time in
the normal case. Delivery is at-least-once: a crash (or a sink timeout) after
the sink accepted an event but before the row is marked delivered lets the
lease expire and the event be delivered again. Every delivered event carries
``outbox_id``, so such a duplicate is recognisable (the ledger sink writes it
as the record's ``request_id``).

A sink whose ``durable`` attribute is False (``LogAuditSink``: the local CLI,
or a gateway without a ledger) gets the new event logged at once, but rows stay
pending for a durable deliverer on the same database: a log line is not the
ledger, and a CLI must not drain records a ledger-backed gateway is owed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medinfer.common.errors import BackendUnavailable, Conflict, MedinferError
from medinfer.registry.db import OutboxRow, utcnow

__all__ = ["AuditOutbox", "OutboxPump", "is_durable"]

log = logging.getLogger("medinfer.registry")

_BUSY = object()  # another deliverer holds the oldest pending row


def is_durable(sink: Any) -> bool:
    """Sinks are durable unless they say otherwise (``durable = False``)."""
    return bool(getattr(sink, "durable", True))


def _aware(ts: dt.datetime | None) -> dt.datetime | None:
    return ts.replace(tzinfo=dt.UTC) if ts is not None and ts.tzinfo is None else ts


def _encode(event: dict[str, Any]) -> str:
    # The same canonical form the ledger sink digests, so the decoded event is the original.
    return json.dumps(event, sort_keys=True, separators=(",", ":"), default=str)


class _StoreLike:  # the part of ``Store`` used here (typing only)
    def session(self) -> Any: ...


class AuditOutbox:
    """Enqueue events inside a change's transaction; deliver them after it committed."""

    def __init__(self, *, lease_s: float = 30.0, wait_s: float = 15.0, owner: str | None = None) -> None:
        """``lease_s`` must exceed the sink's own timeout (the ledger sink waits 10 s);
        ``wait_s``: how long a change waits for its row when another process is delivering."""
        self.lease_s = lease_s
        self.wait_s = wait_s
        self.owner = owner or f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.observe_pending: Callable[[int], None] | None = None
        self._lock = threading.Lock()

    # ---- inside the change's transaction -------------------------------------------------------
    @staticmethod
    def add(s: Session, event: dict[str, Any]) -> int:
        row = OutboxRow(
            created_at=utcnow(),
            action=str(event["action"])[:64],
            model=str(event["model"])[:64],
            payload=_encode(event),
            attempts=0,
        )
        s.add(row)
        s.flush()
        return row.id

    # ---- reads ---------------------------------------------------------------------------------
    @staticmethod
    def pending(store: _StoreLike) -> int:
        with store.session() as s:
            return int(s.scalar(sa.select(sa.func.count()).where(OutboxRow.delivered_at.is_(None))) or 0)

    @staticmethod
    def is_pending(store: _StoreLike, outbox_id: int) -> bool:
        with store.session() as s:
            return s.scalar(sa.select(OutboxRow.delivered_at).where(OutboxRow.id == outbox_id)) is None

    @staticmethod
    def event(store: _StoreLike, outbox_id: int) -> dict[str, Any]:
        with store.session() as s:
            payload = s.scalar(sa.select(OutboxRow.payload).where(OutboxRow.id == outbox_id))
        return json.loads(payload) | {"outbox_id": outbox_id}

    # ---- delivery ------------------------------------------------------------------------------
    def _claim_next(self, store: _StoreLike) -> tuple[int, dict[str, Any]] | object | None:
        """The oldest pending row, leased to us; ``_BUSY`` if someone else holds it."""
        try:
            with store.session() as s:
                row = s.execute(
                    sa.select(OutboxRow.id, OutboxRow.payload, OutboxRow.claimed_by, OutboxRow.claim_until)
                    .where(OutboxRow.delivered_at.is_(None))
                    .order_by(OutboxRow.id)
                    .limit(1)
                ).first()
                if row is None:
                    return None
                now = utcnow()
                until = _aware(row.claim_until)
                if until is not None and until > now and row.claimed_by != self.owner:
                    return _BUSY
                res = s.execute(
                    sa.update(OutboxRow)
                    .where(
                        OutboxRow.id == row.id,
                        OutboxRow.delivered_at.is_(None),
                        sa.or_(
                            OutboxRow.claim_until.is_(None),
                            OutboxRow.claim_until <= now,
                            OutboxRow.claimed_by == self.owner,
                        ),
                    )
                    .values(
                        claimed_by=self.owner,
                        claim_until=now + dt.timedelta(seconds=self.lease_s),
                        attempts=OutboxRow.attempts + 1,
                    )
                    .execution_options(synchronize_session=False)
                )
                if res.rowcount != 1:
                    return _BUSY  # lost the compare-and-set to a concurrent deliverer
                return row.id, json.loads(row.payload)
        except Conflict:
            return _BUSY  # SQLite: a concurrent writer; try again on the next pass

    def _finish(self, store: _StoreLike, outbox_id: int, error: str | None) -> None:
        values: dict[str, Any] = {"claimed_by": None, "claim_until": None}
        if error is None:
            values["delivered_at"] = utcnow()
        else:
            values["last_error"] = error[:64]
        with store.session() as s:
            s.execute(
                sa.update(OutboxRow)
                .where(OutboxRow.id == outbox_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def deliver(self, store: _StoreLike, sink: Any, *, wait_for: int | None = None) -> int:
        """Deliver pending rows in id order through ``sink``; returns how many were delivered.

        Raises 503 when the sink fails (the row stays pending) or when ``wait_for``
        (the caller's own row) is still pending after ``wait_s`` (another process
        held the oldest row's lease all that time).
        """
        delivered = 0
        try:
            if not is_durable(sink):
                if wait_for is not None:
                    sink.record(self.event(store, wait_for))
                return 0
            deadline = time.monotonic() + self.wait_s
            while True:
                delivered += self._pass(store, sink)
                if wait_for is None or not self.is_pending(store, wait_for):
                    return delivered
                if time.monotonic() >= deadline:
                    raise BackendUnavailable(
                        "the change is committed but its audit record is still queued for delivery",
                        code="audit-pending",
                        retry_after=5,
                        extra={"change_committed": True},
                    )
                time.sleep(0.05)  # another deliverer holds the lease (or SQLite was busy): retry
        finally:
            self._observe(store)

    def _pass(self, store: _StoreLike, sink: Any) -> int:
        """Claim, deliver and mark rows until none is left or another deliverer holds the oldest."""
        delivered = 0
        with self._lock:
            while True:
                claimed = self._claim_next(store)
                if claimed is None or claimed is _BUSY:
                    return delivered
                outbox_id, event = claimed  # type: ignore[misc]
                try:
                    sink.record(event | {"outbox_id": outbox_id})
                except Exception as exc:  # noqa: BLE001 - any sink failure leaves the row pending
                    code = exc.code if isinstance(exc, MedinferError) else "audit-unavailable"
                    log.error(
                        "audit sink failed; the event stays in the outbox",
                        extra={"event": event["action"], "model": event["model"], "code": code},
                    )
                    self._finish(store, outbox_id, code if isinstance(exc, MedinferError) else type(exc).__name__)
                    raise BackendUnavailable(
                        "the change is committed but its audit record could not be written yet; "
                        "it stays queued and is delivered when the audit ledger is back",
                        code=code,
                        retry_after=5,
                        extra={"change_committed": True},
                    ) from None
                self._finish(store, outbox_id, None)
                delivered += 1

    def _observe(self, store: _StoreLike) -> None:
        if self.observe_pending is None:
            return
        try:
            self.observe_pending(self.pending(store))
        except MedinferError:
            pass  # the database is down: the gauge keeps its last value


class OutboxPump:
    """Retries pending deliveries from the runtime's background loop, at most every ``interval_s``."""

    def __init__(self, deliver: Callable[[], int], interval_s: float = 5.0) -> None:
        self.deliver, self.interval_s = deliver, interval_s
        self._last = float("-inf")

    def run(self) -> int:
        """One delivery pass now (start-up); failures are logged, the rows stay pending."""
        self._last = time.monotonic()
        try:
            return self.deliver()
        except MedinferError as exc:
            log.warning("audit outbox delivery deferred", extra={"code": exc.code})
            return 0

    def tick(self) -> None:
        if time.monotonic() - self._last >= self.interval_s:
            self.run()
