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


def test_an_aggregate_the_ledger_refuses_is_retried_not_lost():
    from medinfer.audit.ledger import AuditUnavailable

    class Flaky:
        def __init__(self):
            self.calls, self.written = 0, []

        async def append(self, event):
            self.calls += 1
            if self.calls <= 2:  # the store is down for the first two attempts
                raise AuditUnavailable("down")
            self.written.append(event)

    ledger = Flaky()
    now = [0.0]

    async def run():
        agg = FailedAuthAggregator(ledger, window_s=0.2, clock=lambda: now[0])
        agg.admit("s", "r0", "/infer", 401)
        for _ in range(7):
            agg.admit("s", "r", "/infer", 401)
        now[0] = 1.0
        agg.flush_due()  # attempt 1 fails
        for _ in range(40):
            await asyncio.sleep(0.06)
            if ledger.written:
                break
        await agg.aclose()

    asyncio.run(run())
    assert [(e.request_id, e.repeat) for e in ledger.written] == [("r0", 7)] and ledger.calls == 3
