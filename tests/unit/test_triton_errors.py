"""Triton's errors map to ours by status code and structure only; the caller's words in a message change nothing."""

from __future__ import annotations

import asyncio
import socket
import struct

import grpc
import pytest

from medinfer.common.errors import BackendUnavailable
from medinfer.gateway.clients.triton_errors import grpc_failure, triton_error
from medinfer.gateway.clients.upstream import Upstream, make_session
from medinfer.gateway.resilience import (
    CircuitBreaker,
    CircuitState,
    Deadline,
    RetryableUpstreamError,
    RetryPolicy,
    UpstreamTimeout,
)

JSON = {"Content-Type": "application/json"}
PLAIN = {"Content-Type": "text/plain"}


@pytest.mark.parametrize(("status", "headers", "http", "code"), [
    (400, JSON, 400, "triton-rejected"),        # INVALID_ARG
    (400, PLAIN, 400, "triton-rejected"),
    (501, JSON, 400, "triton-rejected"),        # UNSUPPORTED
    (500, JSON, 400, "triton-rejected"),        # raised while parsing the body: strings in FP32 data
    (500, {"content-type": "application/json; charset=utf-8"}, 400, "triton-rejected"),
    (500, PLAIN, 502, "model-failed"),          # raised by the model
    (500, {}, 502, "model-failed"),
    (404, PLAIN, 503, "model-unavailable"),     # the routed version is not loaded
    (405, PLAIN, 502, "bad-gateway"),
])
def test_rest_status_and_structure_decide(status, headers, http, code):
    err = triton_error(status, headers=headers)
    assert (err.status, err.code) == (http, code)
    assert ("Retry-After" in err.headers) == (http == 503)


@pytest.mark.parametrize(("code", "expected"), [
    (grpc.StatusCode.INVALID_ARGUMENT, (400, "triton-rejected")),
    (grpc.StatusCode.UNIMPLEMENTED, (400, "triton-rejected")),
    (grpc.StatusCode.NOT_FOUND, (503, "model-unavailable")),
    (grpc.StatusCode.INTERNAL, (502, "model-failed")),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, (413, "payload-too-large")),
    (grpc.StatusCode.PERMISSION_DENIED, (502, "bad-gateway")),
])
def test_grpc_status_decides(code, expected):
    err = grpc_failure(code)
    assert (err.status, err.code) == expected


def test_grpc_transport_outcomes_go_to_the_resilience_rules():
    assert isinstance(grpc_failure(grpc.StatusCode.UNAVAILABLE), RetryableUpstreamError)
    assert isinstance(grpc_failure(grpc.StatusCode.DEADLINE_EXCEEDED), UpstreamTimeout)


def test_no_message_is_read():
    # The old mapping turned a 400 whose message held "unavailable" (the caller's request id) into a 503.
    import inspect

    from medinfer.gateway.clients import triton_errors

    assert "body" not in inspect.signature(triton_errors.triton_error).parameters
    assert triton_error(400, headers=JSON).status == 400


# -- connection errors of every kind end as a counted 503, never an unhandled exception ------------------------------

async def _resetting_server() -> tuple[asyncio.AbstractServer, int]:
    """Reads the request, then resets the connection (RST): aiohttp's ClientConnectionResetError/ClientOSError."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_a_reset_connection_is_retried_then_counted_as_the_backends_failure():
    async def scenario():
        server, port = await _resetting_server()
        session = make_session(f"http://127.0.0.1:{port}", connections=4, timeout_s=5)
        breaker = CircuitBreaker("triton", failure_threshold=100)
        upstream = Upstream("triton", session, hop_timeout_s=5, policy=RetryPolicy(3, 0.01, 0.02), breaker=breaker)
        try:
            with pytest.raises(BackendUnavailable):
                await upstream.request("POST", "v2/models/m/infer", deadline=Deadline(5), body=b"{}")
        finally:
            await session.close()
            server.close()
        return breaker

    breaker = asyncio.run(scenario())
    assert breaker._consecutive == 3 and breaker.state is CircuitState.CLOSED
