"""Tamper-evident audit ledger: one hash-chained record per request and per registry change.

Entry points: :class:`AuditLedger` (async, group commit, fail-closed),
:class:`AuditRecorder` (one record per HTTP request, before the response),
:func:`annotate` (routes add model, version, PHI counts), :func:`verify_ledger`,
:func:`disclosures` (accounting of disclosures), :func:`open_ledger`.
"""

from __future__ import annotations

from pathlib import Path

from medinfer.audit.asgi import PATIENT_KEY_HEADER, AuditRecorder, annotate
from medinfer.audit.export import disclosures, to_csv, to_json_report
from medinfer.audit.ledger import AuditLedger, AuditUnavailable
from medinfer.audit.record import AuditEvent, AuditKey, AuditRecord
from medinfer.audit.store import AuditStore, sqlite_url
from medinfer.audit.verify import Problem, VerifyResult, verify_ledger

__all__ = [
    "AuditEvent", "AuditKey", "AuditRecord", "AuditStore", "AuditLedger", "AuditUnavailable", "AuditRecorder",
    "annotate", "PATIENT_KEY_HEADER", "verify_ledger", "VerifyResult", "Problem", "disclosures", "to_csv",
    "to_json_report", "sqlite_url", "open_ledger",
]


def open_ledger(url: str, key_file: Path, *, max_batch: int = 512, sqlite_synchronous: str = "FULL") -> AuditLedger:
    """Migrate the store at ``url`` and return a ledger writing with the key in ``key_file``."""
    store = AuditStore(url, sqlite_synchronous=sqlite_synchronous)
    return AuditLedger(store, AuditKey.from_file(key_file), max_batch=max_batch)
