"""EdgeMiddleware as an ASGI unit: request ids, body limit, metrics hook, and the recorder's fail-closed commit."""

from __future__ import annotations

import asyncio

import orjson

from medinfer.common.edge import EdgeMiddleware
from medinfer.common.errors import BackendUnavailable


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.committed: list[tuple[int, bytes, bytes]] = []

    class Draft:
        def __init__(self) -> None:
            self.inp, self.out = b"", b""

        def request_chunk(self, chunk: bytes) -> None:
            self.inp += chunk

        def response_chunk(self, chunk: bytes) -> None:
            self.out += chunk

    def begin(self, scope):
        return None if scope["path"] == "/healthz" else self.Draft()

    async def commit(self, draft, scope, status, started):
        self.committed.append((status, draft.inp, draft.out))
        return BackendUnavailable("the audit ledger cannot be written", code="audit-unavailable") if self.fail else None


async def echo_app(scope, receive, send):
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"n":', "more_body": True})
    await send({"type": "http.response.body", "body": str(len(body)).encode() + b"}"})


async def boom_app(scope, receive, send):
    raise RuntimeError("MRN 12345 leaked into an exception")


def call(mw, *, path="/infer", headers=(), chunks=(b"abc",)):
    sent = []
    queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(msg):
        sent.append(msg)

    scope = {"type": "http", "scheme": "http", "method": "POST", "path": path, "headers": list(headers)}
    asyncio.run(mw(scope, receive, send))
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:]), scope


def test_request_id_adopted_only_when_opaque_and_echoed():
    mw = EdgeMiddleware(echo_app, max_body_bytes=100)
    rid = "0123456789abcdef0123"
    _, headers, _, scope = call(mw, headers=[(b"x-request-id", rid.encode())])
    assert headers[b"x-request-id"] == rid.encode() and scope["state"]["request_id"] == rid
    _, headers, _, _ = call(mw, headers=[(b"x-request-id", b"MRN-1234567")])
    assert headers[b"x-request-id"] != b"MRN-1234567" and len(headers[b"x-request-id"]) == 24


def test_body_limit_by_declared_length_and_by_stream_and_metrics_see_413():
    done = []
    rec = Recorder()
    mw = EdgeMiddleware(echo_app, max_body_bytes=5, on_done=lambda scope, status, s: done.append(status),
                        recorder=rec)
    status, headers, body, _ = call(mw, headers=[(b"content-length", b"6")], chunks=(b"123456",))
    assert status == 413 and headers[b"content-type"] == b"application/problem+json"
    status, _, body, _ = call(mw, chunks=(b"123", b"456"))  # no Content-Length: counted as it streams
    assert status == 413 and orjson.loads(body)["status"] == 413
    assert done == [413, 413] and [c[0] for c in rec.committed] == [413, 413]  # 413s are recorded too
    status, _, body, _ = call(mw, chunks=(b"12", b"345"))
    assert status == 200 and body == b'{"n":5}'
    assert rec.committed[-1] == (200, b"12345", b'{"n":5}')


def test_recorder_failure_replaces_the_response_fail_closed():
    rec = Recorder(fail=True)
    mw = EdgeMiddleware(echo_app, max_body_bytes=100, recorder=rec)
    status, headers, body, _ = call(mw)
    assert status == 503 and b'"n"' not in body and headers[b"x-request-id"]
    assert rec.committed and rec.committed[0][0] == 200  # it tried to record the real answer


def test_unrecorded_path_streams_through():
    rec = Recorder()
    mw = EdgeMiddleware(echo_app, max_body_bytes=100, recorder=rec)
    status, _, body, _ = call(mw, path="/healthz")
    assert status == 200 and body == b'{"n":3}' and rec.committed == []


def test_unhandled_error_is_a_500_problem_without_its_message(caplog):
    rec = Recorder()
    done = []
    mw = EdgeMiddleware(boom_app, max_body_bytes=100, recorder=rec, on_done=lambda sc, st, s: done.append(st))
    status, _, body, _ = call(mw)
    assert status == 500 and b"12345" not in body
    assert rec.committed[0][0] == 500 and done == [500]
    assert "12345" not in caplog.text
    status, _, body, _ = call(EdgeMiddleware(boom_app, max_body_bytes=100))  # without a recorder too
    assert status == 500 and b"12345" not in body


def test_edge_errors_under_fhir_are_operation_outcomes():
    from medinfer.gateway.routes.fhir import FHIR_PREFIX, outcome_response

    renderers = {FHIR_PREFIX: outcome_response}
    mw = EdgeMiddleware(echo_app, max_body_bytes=5, recorder=Recorder(), error_renderers=renderers)
    for path, status in (("/fhir/r4/$infer", 413), ("/infer", 413)):
        got, headers, body, _ = call(mw, path=path, headers=[(b"content-length", b"9")], chunks=(b"123456789",))
        fhir = path.startswith(FHIR_PREFIX)
        assert got == status
        assert headers[b"content-type"] == (b"application/fhir+json" if fhir else b"application/problem+json")
    mw = EdgeMiddleware(echo_app, max_body_bytes=5, recorder=Recorder(fail=True), error_renderers=renderers)
    status, headers, body, _ = call(mw, path="/fhir/r4/$infer", chunks=(b"{}",))  # the audit store is down
    doc = orjson.loads(body)
    assert status == 503 and doc["resourceType"] == "OperationOutcome"
    assert doc["issue"][0]["details"]["coding"][0]["code"] == "audit-unavailable"
