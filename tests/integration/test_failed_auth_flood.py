"""A flood of requests with bad tokens from one source: after the source's failed-auth budget it gets 429
instead of 401, a valid token from the same source is still served, and the ledger grows by a bounded number
of records (the first failure per window in full, the rest as one aggregate record with a count) that verify
against their checkpoints. A real gateway process, its SQLite ledger read back."""

from __future__ import annotations

import sqlite3
import time

import pytest

from medinfer.audit import AuditKey, AuditStore, sqlite_url, verify_ledger
from medinfer.audit.checkpoint import load_public_keys
from medinfer.audit.failures import AGGREGATE_ACTION
from medinfer.security.devkeys import mint_dev_token
from tests.support.secure_gateway import GatewayProcess

pytestmark = pytest.mark.integration

FLOOD = 300
WINDOW_S = 1.0


@pytest.fixture
def gw(tmp_path):
    g = GatewayProcess(tmp_path, {"MEDINFER_GATEWAY_AUDIT_FAILURE_WINDOW_S": str(WINDOW_S),
                                  "MEDINFER_GATEWAY_AUTH_FAILURE_RPS": "5", "MEDINFER_GATEWAY_AUTH_FAILURE_BURST": "20",
                                  "MEDINFER_GATEWAY_AUDIT_CHECKPOINT_INTERVAL_S": "0"})
    g.start()
    yield g
    g.stop()


def _rows(gw: GatewayProcess) -> list[dict]:
    con = sqlite3.connect(gw.home / "medinfer.db")
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM audit_ledger ORDER BY seq")]
    finally:
        con.close()


def test_failed_auth_flood_is_limited_and_aggregated(gw):
    before = len(_rows(gw))  # start-up records (registry adoption)
    started = time.monotonic()
    statuses = [gw.request("GET", "/v2/models/breast_cancer", token="not.a.jwt").status for _ in range(FLOOD)]
    elapsed = time.monotonic() - started
    assert statuses[:20] == [401] * 20  # the burst
    # then the source is over its failed-auth budget: 401s only as fast as the bucket refills (5/s)
    assert statuses.count(401) <= 20 + 5 * elapsed + 2, (statuses.count(401), elapsed)
    assert set(statuses) == {401, 429}
    limited = gw.request("GET", "/v2/models/breast_cancer", token="still.not.jwt")
    assert limited.status == 429 and int(limited.headers["retry-after"]) >= 1
    valid = mint_dev_token(gw.keys, "models:read")
    assert gw.request("GET", "/v2/models/no_such_model", token=valid).status == 404  # authenticated, not limited

    time.sleep(WINDOW_S * 2.5)  # the window closes: its aggregate record is appended
    rows = _rows(gw)[before:]
    failed = [r for r in rows if r["status"] in (401, 429) and r["sub"] is None]
    windows = int(elapsed / WINDOW_S) + 2
    # at most two records per window (the first in full, one aggregate), not one per request
    assert len(failed) <= 2 * windows < FLOOD / 10, [(r["action"], r["repeat"]) for r in failed]
    aggregates = [r for r in failed if r["action"] == AGGREGATE_ACTION]
    assert aggregates and all(r["repeat"] >= 1 for r in aggregates)
    # every failed request is accounted for: full records plus the counts of the aggregates
    assert len(failed) - len(aggregates) + sum(r["repeat"] for r in aggregates) == FLOOD + 1
    first = failed[0]
    assert first["action"] != AGGREGATE_ACTION and aggregates[0]["request_id"] == first["request_id"]

    gw.stop()  # flushes the last checkpoint
    store = AuditStore(sqlite_url(gw.home / "medinfer.db"))
    try:
        res = verify_ledger(store, [AuditKey.from_file(gw.keys.audit_key_file)],
                            checkpoint_files=[gw.home / "audit-checkpoints.jsonl"],
                            checkpoint_keys=load_public_keys([gw.home / "keys" / "audit-checkpoint.pem"]))
    finally:
        store.dispose()
    assert res.ok, res.problems
    assert res.anchored_seq == res.last_seq
