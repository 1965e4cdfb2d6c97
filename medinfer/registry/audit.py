"""The audit hook of the registry.

Every publish, promotion, rollback, tag or canary change, automatic rollback,
adoption and failed validation writes its event into the audit outbox in the
same transaction as the change (``outbox.py``); after the commit the outbox
hands it to ``AuditSink.record(event)``. The event is a flat dict with
identifiers only (model, versions, actor, reason, time), never inference data:
``before`` and ``after`` are version numbers (or None); for canary events
``after`` is the version now receiving the canary share (``detail.weight``) and,
for a clear or automatic rollback, the current version taking all traffic back.
Delivered events also carry ``outbox_id`` (delivery is at-least-once, so a
redelivered event is recognisable). A sink may set ``durable = False`` (the log
sink): it is then told about new events but never marks the outbox delivered.
``medinfer.audit.registry_sink.LedgerRegistrySink`` (the tamper-evident ledger)
is the production sink; the registry also keeps its own history table
(``models history``).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, runtime_checkable

from medinfer.registry.db import utcnow

__all__ = ["AuditSink", "LogAuditSink", "make_event"]

log = logging.getLogger("medinfer.registry")


@runtime_checkable
class AuditSink(Protocol):
    def record(self, event: dict[str, Any]) -> None: ...


class LogAuditSink:
    """Writes audit events to the JSON log (``event`` field) when no ledger is wired.

    Not durable: the outbox rows stay pending for a ledger-backed deliverer (a gateway)
    on the same database, so a local CLI change still reaches the ledger."""

    durable = False

    def record(self, event: dict[str, Any]) -> None:
        log.info(
            "audit %s",
            event["action"],
            extra={
                "event": event["action"],
                "model": event["model"],
                "version": event.get("after"),
                "principal": event["actor"],
            },
        )


def make_event(
    action: str, *, model: str, actor: str, reason: str, before: Any = None, after: Any = None, **detail: Any
) -> dict[str, Any]:
    return {
        "action": action,
        "resource": f"model:{model}",
        "model": model,
        "actor": actor,
        "reason": reason,
        "before": before,
        "after": after,
        "at": utcnow().isoformat(),
        "detail": detail,
    }
