"""Accounting of disclosures (45 CFR 164.528): which requests touched one patient's data.

Records hold only a keyed digest of the patient key, so the report is found by
digesting the key the operator supplies with every known audit key. The report
lists who (principal), when, what (action, model, version) and the outcome,
including the OOD gate's reason code when the input was flagged or rejected
(empty for requests the gate passed and for records older than the field).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from medinfer.audit.record import AuditKey, utc_now
from medinfer.audit.store import AuditStore

__all__ = ["disclosures", "to_json_report", "to_csv", "COLUMNS"]

COLUMNS = ("time", "request_id", "recipient_sub", "recipient_client_id", "action", "route", "model",
           "version", "status", "ood_reason", "seq")


def disclosures(store: AuditStore, keys: list[AuditKey], patient_key: str, since: str | None) -> list[dict[str, Any]]:
    digests = sorted({k.patient_digest(patient_key) for k in keys})
    out = []
    for r in store.iter_records(since=since, patient_digests=digests):
        out.append({
            "time": r.ts, "request_id": r.request_id, "recipient_sub": r.sub, "recipient_client_id": r.client_id,
            "action": r.action, "route": r.route, "model": r.model, "version": r.version, "status": r.status,
            "ood_reason": r.ood_reason, "seq": r.seq,
        })
    return out


def to_json_report(rows: list[dict[str, Any]], since: str | None) -> dict[str, Any]:
    return {"report": "accounting-of-disclosures", "generated_at": utc_now(), "since": since,
            "count": len(rows), "disclosures": rows}


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: ("" if row.get(k) is None else row[k]) for k in COLUMNS})
    return buf.getvalue()
