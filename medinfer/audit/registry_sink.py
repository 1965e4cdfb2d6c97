"""Registry changes into the audit ledger.

The registry calls ``record(event)`` from a worker thread after each committed
change (publish, promote, rollback, tag, canary, automatic rollback). The
ledger record names the action, model, new version and actor; its
``input_digest`` is the keyed digest of the full event (before, after, reason),
so the registry's own history row can be proven unaltered against the ledger.
A ledger failure propagates to the caller (the admin API answers 503); the
registry keeps the event in its outbox and delivers it again later.

Delivery is at-least-once: the event's ``outbox_id`` becomes the record's
``request_id`` (``registry-outbox-<id>``), so a record written twice (a crash
between the append and the outbox's "delivered" mark) is recognisable. The
digest covers the event without ``outbox_id``: exactly what ``make_event`` built.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from medinfer.audit.ledger import AuditLedger
from medinfer.audit.record import AuditEvent

__all__ = ["LedgerRegistrySink", "registry_event_to_audit"]


def registry_event_to_audit(ledger: AuditLedger, event: dict[str, Any]) -> AuditEvent:
    body = {k: v for k, v in event.items() if k != "outbox_id"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    after = event.get("after")
    outbox_id = event.get("outbox_id")
    return AuditEvent(
        action=f"registry.{event['action']}", route="registry", status=200, sub=str(event.get("actor") or "")[:128],
        request_id="" if outbox_id is None else f"registry-outbox-{int(outbox_id)}",
        model=event.get("model"), version=None if after is None else str(after),
        input_digest=ledger.key.content_digest(canonical),
    )


class LedgerRegistrySink:
    """Bridges the registry's synchronous hook to the ledger's event loop (durable: a
    successful ``record`` means the record is committed in the ledger)."""

    durable = True

    def __init__(self, ledger: AuditLedger, loop: asyncio.AbstractEventLoop, timeout_s: float = 10.0) -> None:
        self.ledger = ledger
        self.loop = loop
        self.timeout_s = timeout_s

    def record(self, event: dict[str, Any]) -> None:
        audit = registry_event_to_audit(self.ledger, event)
        asyncio.run_coroutine_threadsafe(self.ledger.append(audit), self.loop).result(self.timeout_s)
