"""The audit read API (scope ``audit:read``): search records, verify the chain, accounting of disclosures.

Thin over :mod:`medinfer.audit` (the same functions as ``medinfer audit verify|export``); documented in
docs/security.md ("Audit read API"). Every call is itself audited like any other request.
"""

# No `from __future__ import annotations`: FastAPI reads the Annotated query parameters at runtime.

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from medinfer.audit import PATIENT_KEY_HEADER, annotate, disclosures, to_csv, to_json_report
from medinfer.audit.query import parse_time, search_records, verify_chain
from medinfer.common.errors import BackendUnavailable, ValidationFailed
from medinfer.common.http import ORJSONResponse
from medinfer.security.deps import require

__all__ = ["router"]

router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[require("audit:read")])


def _ledger(request: Request):
    ledger = request.app.state.security.ledger
    if ledger is None:
        raise BackendUnavailable("the audit ledger is switched off on this gateway", code="audit-disabled")
    return ledger


@router.get("/records")
async def records(
    request: Request,
    request_id: str | None = None,
    sub: str | None = None,
    client_id: str | None = None,
    model: str | None = None,
    route: Annotated[str | None, Query(description="A route template, e.g. /v2/models/{model_name}/infer")] = None,
    action: str | None = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    since: Annotated[str | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[str | None, Query(description="ISO 8601, exclusive")] = None,
    after_seq: Annotated[int, Query(ge=0, description="Keyset pagination: next_after_seq of the last page")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ORJSONResponse:
    """Records matching every given filter, oldest first (digests and identifiers only)."""
    ledger = _ledger(request)
    filters = {"request_id": request_id, "sub": sub, "client_id": client_id, "model": model, "route": route,
               "action": action, "status": status}
    page = await run_in_threadpool(search_records, ledger.store, filters, since=parse_time(since, "since"),
                                   until=parse_time(until, "until"), after_seq=after_seq, limit=limit)
    return ORJSONResponse(page)


@router.post("/verify")
async def verify(request: Request) -> ORJSONResponse:
    """Check every record's MAC and link and the chain against this gateway's signed checkpoints; says where it
    broke. Uses this gateway's keys: a ledger spanning rotated keys needs ``medinfer audit verify`` with all."""
    ledger = _ledger(request)
    settings = request.app.state.settings
    return ORJSONResponse(await run_in_threadpool(verify_chain, ledger.store, [ledger.key],
                                                  settings.audit_checkpoint_path, settings.audit_checkpoint_key_path))


@router.get("/disclosures")
async def disclosures_report(
    request: Request,
    patient_key: Annotated[str | None, Query(description="Prefer the X-Patient-Key header: URLs end up in "
                                                         "proxy logs")] = None,
    since: str | None = None,
    format: Literal["json", "csv"] = "json",  # noqa: A002 - the query parameter's name
) -> Response:
    """Accounting of disclosures for one patient (45 CFR 164.528), as ``medinfer audit export``."""
    ledger = _ledger(request)
    key = (patient_key or request.headers.get(PATIENT_KEY_HEADER.decode()) or "").strip()
    if not key:
        raise ValidationFailed("a patient key is required (X-Patient-Key header or patient_key)", field="patient_key")
    annotate(request.scope, patient_key=key)  # this access is itself a disclosure-relevant record
    since_ts = parse_time(since, "since")
    rows = await run_in_threadpool(disclosures, ledger.store, [ledger.key], key, since_ts)
    if format == "csv":
        return Response(to_csv(rows), media_type="text/csv; charset=utf-8")
    return ORJSONResponse(to_json_report(rows, since_ts))
