"""A 5xx the preprocessor marks as about the input (a note over its de-identification budget) is relayed
once: not retried, not counted towards the circuit, so one client's slow notes cannot open it for others.
A plain 503 is still an outage: retried and counted."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiohttp import web

from medinfer.common.errors import INPUT_FAILURE_HEADER, BackendUnavailable
from medinfer.gateway.clients.preprocessor import PreprocessorClient, UpstreamProblem
from medinfer.gateway.clients.upstream import Upstream, make_session
from medinfer.gateway.resilience import CircuitBreaker, CircuitState, Deadline, RetryPolicy
from medinfer.preprocess.deid.budget import DeidTimeout

pytestmark = pytest.mark.integration


async def _serve(marked: bool, calls: list[int]) -> tuple[web.AppRunner, str]:
    async def handler(request: web.Request) -> web.Response:
        calls.append(1)
        err = DeidTimeout("de-identification exceeded its budget; the text was not processed") if marked \
            else BackendUnavailable("down")
        return web.Response(status=err.status, body=orjson.dumps(err.to_problem()),
                            headers={"Content-Type": "application/problem+json", **err.headers})

    app = web.Application()
    app.router.add_post("/v1/deidentify", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - the OS-chosen port
    return runner, f"http://127.0.0.1:{port}"


async def _exercise(marked: bool) -> tuple[list[int], CircuitBreaker, BaseException]:
    calls: list[int] = []
    runner, url = await _serve(marked, calls)
    breaker = CircuitBreaker("preprocessor", failure_threshold=3, reset_timeout_s=60)
    session = make_session(url, connections=4, timeout_s=5)
    client = PreprocessorClient(Upstream("preprocessor", session, hop_timeout_s=2,
                                         policy=RetryPolicy(attempts=3, initial_backoff_s=0.01, max_backoff_s=0.02),
                                         breaker=breaker))
    errors = []
    try:
        for _ in range(4):
            try:
                await client.post_json("/v1/deidentify", {"text": "x"}, Deadline(5))
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                errors.append(exc)
    finally:
        await session.close()
        await runner.cleanup()
    return calls, breaker, errors[-1]


def test_a_note_over_budget_is_relayed_once_and_leaves_the_circuit_closed():
    calls, breaker, err = asyncio.run(_exercise(marked=True))
    assert len(calls) == 4  # one call per request: never retried
    assert breaker.state == CircuitState.CLOSED
    assert isinstance(err, UpstreamProblem)
    assert err.status == 503 and err.code == "deidentification-timeout"
    assert DeidTimeout("x").headers[INPUT_FAILURE_HEADER] == "input"


def test_an_unmarked_503_is_still_an_outage():
    calls, breaker, err = asyncio.run(_exercise(marked=False))
    assert len(calls) == 3  # the first request retried three times, each counted; then the circuit refuses
    assert breaker.state == CircuitState.OPEN
    assert not isinstance(err, UpstreamProblem)
