"""The per-replica in-flight bound at the edge: fast 503s past it, nothing refused below it, probes always answered."""

from __future__ import annotations

import asyncio

import orjson

from medinfer.common.edge import EdgeMiddleware
from medinfer.common.load_shedding import InFlightLimit
from tests.support.asgi import _call
from tests.unit.test_edge_middleware import Recorder


def _app_and_gate():
    gate = asyncio.Event()

    async def slow_app(scope, receive, send):
        await receive()
        if scope["path"] != "/healthz":
            await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})

    return slow_app, gate


def test_past_the_bound_a_fast_503_with_retry_after_and_no_audit_record():
    shed: list[str] = []
    limit = InFlightLimit(2, exempt_paths=frozenset({"/healthz"}), on_shed=shed.append)
    recorder = Recorder()

    async def scenario():
        app, gate = _app_and_gate()
        edge = EdgeMiddleware(app, max_body_bytes=1024, recorder=recorder, admission=limit)
        held = [asyncio.create_task(_call(edge, "POST", "/infer", b"{}", {})) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert limit.in_flight == 2
        refused = await asyncio.wait_for(_call(edge, "POST", "/infer", b"{}", {}), 1)
        refused_v2 = await asyncio.wait_for(_call(edge, "POST", "/v2/models/m/infer", b"{}", {}), 1)
        probe = await asyncio.wait_for(_call(edge, "GET", "/healthz", b"", {}), 1)
        gate.set()
        served = await asyncio.gather(*held)
        after = await _call(edge, "POST", "/infer", b"{}", {})
        return refused, refused_v2, probe, served, after

    refused, refused_v2, probe, served, after = asyncio.run(scenario())
    assert refused.status == 503 and refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/problem+json" and "x-request-id" in refused.headers
    assert refused.json()["code"] == "overloaded" and "error" not in refused.json()
    assert refused_v2.status == 503 and refused_v2.json()["error"]  # tritonclient reads "error"
    assert probe.status == 200
    assert [r.status for r in served] == [200, 200] and after.status == 200
    assert shed == ["http", "http"]
    assert [c[0] for c in recorder.committed] == [200, 200, 200]  # refused requests were never audited
    assert limit.in_flight == 0


def test_below_the_bound_nothing_is_refused():
    limit = InFlightLimit(50)

    async def scenario():
        app, gate = _app_and_gate()
        edge = EdgeMiddleware(app, max_body_bytes=1024, admission=limit)
        tasks = [asyncio.create_task(_call(edge, "POST", "/infer", b"{}", {})) for _ in range(50)]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(*tasks)

    assert all(r.status == 200 for r in asyncio.run(scenario()))
    assert limit.in_flight == 0


def test_zero_disables_the_bound():
    limit = InFlightLimit(0)
    assert all(limit.try_acquire() for _ in range(10_000))
    assert orjson.loads(orjson.dumps(limit.refusal("/v2/x").to_problem()))["error"]
