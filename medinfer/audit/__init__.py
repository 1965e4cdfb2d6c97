"""Tamper-evident audit ledger: one hash-chained record per request and per registry change.

Entry points: :class:`AuditLedger` (async, group commit, fail-closed),
:class:`AuditRecorder` (one record per HTTP request, before the response),
:func:`annotate` (routes add model, version, PHI counts), :func:`verify_ledger`,
:func:`disclosures` (accounting of disclosures), :func:`open_ledger`.
"""

from __future__ import annotations

from pathlib import Path

from medinfer.audit.checkpoint import CheckpointSigner, CheckpointWriter, load_public_keys
from medinfer.audit.asgi import PATIENT_KEY_HEADER, AuditRecorder, annotate
from medinfer.audit.export import disclosures, to_csv, to_json_report
from medinfer.audit.ledger import AuditLedger, AuditUnavailable
from medinfer.audit.record import AuditEvent, AuditKey, AuditRecord
from medinfer.audit.store import AuditStore, sqlite_url
from medinfer.audit.verify import Problem, VerifyResult, verify_ledger

__all__ = [
    "AuditEvent", "AuditKey", "AuditRecord", "AuditStore", "AuditLedger", "AuditUnavailable", "AuditRecorder",
    "annotate", "PATIENT_KEY_HEADER", "verify_ledger", "VerifyResult", "Problem", "disclosures", "to_csv",
    "to_json_report", "sqlite_url", "open_ledger", "CheckpointSigner", "CheckpointWriter", "load_public_keys",
]


def open_ledger(url: str, key_file: Path, *, max_batch: int = 512, sqlite_synchronous: str = "FULL",
                checkpoint_file: Path | None = None, checkpoint_key_file: Path | None = None,
                checkpoint_interval_s: float = 1.0) -> AuditLedger:
    """Migrate the store at ``url`` and return a ledger writing with the key in ``key_file``, anchoring its
    head in ``checkpoint_file`` (signed with ``checkpoint_key_file``) when both are given."""
    store = AuditStore(url, sqlite_synchronous=sqlite_synchronous)
    checkpoints = None
    if checkpoint_file is not None and checkpoint_key_file is not None:
        checkpoints = CheckpointWriter(checkpoint_file, CheckpointSigner.from_file(checkpoint_key_file),
                                       interval_s=checkpoint_interval_s)
    return AuditLedger(store, AuditKey.from_file(key_file), max_batch=max_batch, checkpoints=checkpoints)
