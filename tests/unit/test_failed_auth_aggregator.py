"""FailedAuthAggregator: the first failure per source and window in full, the rest as one aggregate record
(repeat = count); windows close on time, on eviction and at shutdown; the records verify."""

from __future__ import annotations

import asyncio

from medinfer.audit import AuditKey, AuditLedger, AuditStore, sqlite_url, verify_ledger
from medinfer.audit.failures import AGGREGATE_ACTION, FailedAuthAggregator

KEY = AuditKey(b"f" * 32)


def test_windows_eviction_and_shutdown(tmp_path):
    store = AuditStore(sqlite_url(tmp_path / "a.db"))
    ledger = AuditLedger(store, KEY)
    now = [0.0]

    async def run():
        agg = FailedAuthAggregator(ledger, window_s=10, max_sources=2, clock=lambda: now[0])
        full = [agg.admit("10.0.0.1", f"r{i}", "/infer", 401) for i in range(50)]
        assert full == [True] + [False] * 49
        now[0] = 11  # the window is over: the next failure opens a new one and closes the old
        assert agg.admit("10.0.0.1", "next", "/infer", 429) is True
        assert agg.admit("10.0.0.2", "b", "/v2", 401) and agg.admit("10.0.0.2", "b2", "/v2", 401) is False
        assert agg.admit("10.0.0.3", "c", "/v2", 401)  # a third source evicts the oldest window (10.0.0.1)
        assert agg.admit("10.0.0.3", "c2", "/v2", 401) is False
        await asyncio.sleep(0.05)
        await agg.aclose()  # flushes 10.0.0.2 and 10.0.0.3
        await ledger.aclose()
        return agg.aggregated

    assert asyncio.run(run()) == 49 + 1 + 1
    store = AuditStore(sqlite_url(tmp_path / "a.db"))
    aggregates = [r for r in store.iter_records() if r.action == AGGREGATE_ACTION]
    assert sorted((r.request_id, r.repeat, r.status) for r in aggregates) == [
        ("b", 1, 401), ("c", 1, 401), ("r0", 49, 401)]
    assert verify_ledger(store, [KEY]).ok
    store.dispose()
