"""Reading the ledger for the audit API: search records, verify the chain, accounting of disclosures.

Plain functions over :class:`AuditStore` (no HTTP here): ``GET /audit/records``,
``POST /audit/verify`` and ``GET /audit/disclosures`` in
:mod:`medinfer.gateway.routes.audit` translate to and from these. Records are
returned as stored: identifiers, route templates, statuses and keyed digests,
never request content (the ledger holds none).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from medinfer.audit.checkpoint import load_public_keys
from medinfer.audit.record import AuditKey, AuditRecord
from medinfer.audit.store import AuditStore
from medinfer.audit.verify import VerifyResult, verify_ledger
from medinfer.common.errors import ValidationFailed

__all__ = ["SEARCH_FIELDS", "parse_time", "search_records", "record_json", "verify_report", "verify_chain",
           "MAX_PAGE"]

SEARCH_FIELDS = ("request_id", "sub", "client_id", "model", "route", "action", "status")
MAX_PAGE = 1000


def parse_time(text: str | None, field: str) -> str | None:
    """An ISO 8601 date or time (UTC when it names no zone) as the ledger's fixed-width UTC text."""
    if text is None or text == "":
        return None
    try:
        d = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(f"{field} must be an ISO 8601 date or time such as 2026-01-31T08:00:00Z",
                               field=field) from None
    if d.tzinfo is not None:
        d = d.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_json(rec: AuditRecord) -> dict[str, Any]:
    """One record for the API: every stored field (optional ones as null when unset)."""
    return rec.to_json()


def search_records(store: AuditStore, filters: dict[str, Any], *, since: str | None = None,
                   until: str | None = None, after_seq: int = 0, limit: int = 100) -> dict[str, Any]:
    """Records matching every given filter (exact match), oldest first, one page after ``after_seq``."""
    unknown = set(filters) - set(SEARCH_FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown filter(s): {', '.join(sorted(unknown))}", field="query")
    limit = max(1, min(int(limit), MAX_PAGE))
    rows = store.search({k: v for k, v in filters.items() if v is not None}, since=since, until=until,
                        after_seq=after_seq, limit=limit + 1)
    page = rows[:limit]
    return {
        "records": [record_json(r) for r in page],
        "count": len(page),
        "next_after_seq": page[-1].seq if len(rows) > limit else None,
    }


def verify_chain(store: AuditStore, keys: list[AuditKey], checkpoint_file: Path,
                 checkpoint_key_file: Path) -> dict[str, Any]:
    """Every record's MAC and link, and the chain against the signed checkpoints in ``checkpoint_file``
    (verified with ``checkpoint_key_file``'s public half; either missing: none), as ``verify_report``."""
    files = [checkpoint_file] if checkpoint_file.is_file() else []
    public = load_public_keys([checkpoint_key_file]) if checkpoint_key_file.is_file() else {}
    return verify_report(verify_ledger(store, keys, checkpoint_files=files, checkpoint_keys=public))


def verify_report(res: VerifyResult) -> dict[str, Any]:
    """The result of a chain check, saying where it broke (``first_problem``) and how far it is anchored."""
    problems = [{"seq": p.seq, "kind": p.kind, "message": p.message} for p in res.problems]
    return {
        "ok": res.ok,
        "checked": res.checked,
        "last_seq": res.last_seq,
        "checkpoints": res.checkpoints,
        "anchored_seq": res.anchored_seq,
        "anchored_ts": res.anchored_ts,
        "unanchored_records": max(0, res.last_seq - res.anchored_seq),
        "first_problem": problems[0] if problems else None,
        "problems": problems,
        "ood_reasons": dict(sorted(res.ood_reasons.items())),
    }
