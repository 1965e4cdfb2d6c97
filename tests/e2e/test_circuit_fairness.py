"""No client can open a circuit for the others, and an overloaded replica sheds fast (real gateway and Triton).

Each test runs its own gateway process against the session stack's Triton and preprocessor, with the
breaker at its defaults (5 consecutive failures or a 50% error rate open it), so what the tests send
would have opened it under the old rules: short caller deadlines, request ids that read like Triton's
"not found"/"unavailable", strings in FP32 data (a Triton 500), and a half-open probe cancelled by its
gRPC client. Bounded: about a thousand small requests in all.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from medinfer.stack import Stack
from tests.support.faults import switchable_proxy
from tests.support.ports import free_port
from tests.support.services import run_service
from tests.support.stack import dev_auth_header

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
IDS = ["unavailable-1", "not found", "Request for unknown model: 'x' is not found", "model is not ready"]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "infer_breast_cancer.json"
FEATURES = 30


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


def _gateway_env(stack: Stack, grpc_port: int, **extra: str) -> dict[str, str]:
    return {
        "MEDINFER_HOME": str(stack.home), "MEDINFER_GATEWAY_INSECURE_HTTP": "true",
        "MEDINFER_GATEWAY_PREPROCESSOR_URL": stack.preprocessor_url, "MEDINFER_GATEWAY_TRITON_URL": stack.triton_url,
        "MEDINFER_GATEWAY_TRITON_GRPC_TARGET": f"127.0.0.1:{stack.ports.triton.grpc}",
        "MEDINFER_GATEWAY_GRPC_PORT": str(grpc_port),
        "MEDINFER_GATEWAY_RATE_LIMIT_RPS": "100000", "MEDINFER_GATEWAY_RATE_LIMIT_BURST": "100000",
        **extra,
    }


def _session(stack: Stack) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.headers.update(dev_auth_header(stack.home))
    return s


def _grpc_request(rid: str = "", datatype: str = "FP32") -> pb.ModelInferRequest:
    x = np.full((1, FEATURES), 12.0, dtype=np.float32)
    tensor = pb.ModelInferRequest.InferInputTensor(name="features", datatype=datatype, shape=[1, FEATURES])
    return pb.ModelInferRequest(id=rid, model_name="breast_cancer", inputs=[tensor], raw_input_contents=[x.tobytes()])


def _circuits_never_opened(metrics: str) -> None:
    for backend in ("triton", "triton-grpc"):
        assert _metric(metrics, "medinfer_gateway_circuit_transitions_total", backend=backend, state="open") == 0
        assert _metric(metrics, "medinfer_gateway_circuit_state", backend=backend) == 0


def test_a_thousand_1ms_deadlines_leave_the_circuit_closed_for_others(stack: Stack, tmp_path: Path) -> None:
    grpc_port = free_port()
    body = EXAMPLE.read_bytes()
    env = _gateway_env(stack, grpc_port)
    with run_service("medinfer.gateway", "MEDINFER_GATEWAY_", env, tmp_path / "gw.log") as gw:
        def short(_: int) -> int:
            s = _session(stack)
            r = s.post(gw.url + "/infer", data=body, timeout=10,
                       headers={"Content-Type": "application/json", "X-Request-Timeout-Ms": "1"})
            return r.status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(short, range(1000)))
        assert set(codes) <= {200, 504}, set(codes)
        assert codes.count(504) >= 500, "the 1 ms deadline should end most requests"

        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        meta = (("authorization", dev_auth_header(stack.home)["Authorization"]),)
        outcomes = []
        for _ in range(100):  # the client's own 1 ms gRPC deadline
            try:
                stub.ModelInfer(_grpc_request(), timeout=0.001, metadata=meta)
                outcomes.append(grpc.StatusCode.OK)
            except grpc.RpcError as exc:
                outcomes.append(exc.code())
        assert set(outcomes) <= {grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED}, set(outcomes)
        assert outcomes.count(grpc.StatusCode.DEADLINE_EXCEEDED) >= 10  # loopback gRPC often answers within 1 ms

        # Another client, no deadline of its own: served.
        r = _session(stack).post(gw.url + "/infer", data=body, headers={"Content-Type": "application/json"},
                                 timeout=10)
        assert r.status_code == 200, r.text
        assert stub.ModelInfer(_grpc_request(), timeout=10, metadata=meta).outputs[0].name == "probability"
        channel.close()
        metrics = _session(stack).get(_ops(gw) + "/metrics", timeout=5).text
    _circuits_never_opened(metrics)


def test_ids_that_read_like_tritons_errors_change_nothing(stack: Stack, tmp_path: Path) -> None:
    grpc_port = free_port()
    env = _gateway_env(stack, grpc_port)
    with run_service("medinfer.gateway", "MEDINFER_GATEWAY_", env, tmp_path / "gw.log") as gw:
        for rid in IDS:
            _crafted_ids_leave_circuits_closed(stack, gw.url, grpc_port, rid)
        metrics = _session(stack).get(_ops(gw) + "/metrics", timeout=5).text
    _circuits_never_opened(metrics)


def _crafted_ids_leave_circuits_closed(stack: Stack, gw_url: str, grpc_port: int, rid: str) -> None:
    s = _session(stack)
    url = gw_url + "/v2/models/breast_cancer/infer"
    wrong_type = {"id": rid, "inputs": [{"name": "features", "datatype": "INT32", "shape": [1, FEATURES],
                                         "data": [1] * FEATURES}]}
    strings = {"id": rid, "inputs": [{"name": "features", "datatype": "FP32", "shape": [1, FEATURES],
                                      "data": ["x"] * FEATURES}]}
    # A valid input for the gateway's OOD gate plus one Triton's JSON reader cannot parse (its 500).
    strings_beside = {"id": rid, "inputs": [
        {"name": "features", "datatype": "FP32", "shape": [1, FEATURES], "data": [12.0] * FEATURES},
        {"name": "extra", "datatype": "FP32", "shape": [1, 2], "data": ["x", "y"]}]}
    for doc in [wrong_type, strings, strings_beside] * 4:
        r = s.post(url, data=json.dumps(doc), headers={"Content-Type": "application/json"}, timeout=10)
        # Triton says 400 to the first and 500 (its JSON reader's INTERNAL) to the others: all the client's.
        assert 400 <= r.status_code < 500, (r.status_code, r.text)
        assert "Retry-After" not in r.headers and r.json()["error"]
        assert rid not in r.text  # Triton's text (which quotes the id) is not relayed

    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    meta = (("authorization", dev_auth_header(stack.home)["Authorization"]),)
    for _ in range(8):
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(_grpc_request(rid, datatype="INT32"), timeout=10, metadata=meta)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Any client's valid request still goes through, on both protocols.
    assert stub.ModelInfer(_grpc_request("ok"), timeout=10, metadata=meta).outputs[0].name == "probability"
    channel.close()
    r = s.post(gw_url + "/infer", data=EXAMPLE.read_bytes(), headers={"Content-Type": "application/json"},
               timeout=10)
    assert r.status_code == 200, r.text


def test_a_cancelled_half_open_probe_does_not_leave_the_circuit_stuck(stack: Stack, tmp_path: Path) -> None:
    grpc_port = free_port()
    with switchable_proxy(("127.0.0.1", stack.ports.triton.grpc)) as (target, proxy):
        env = _gateway_env(stack, grpc_port, MEDINFER_GATEWAY_TRITON_GRPC_TARGET=target,
                           MEDINFER_GATEWAY_UPSTREAM_TIMEOUT_S="2", MEDINFER_GATEWAY_BREAKER_RESET_TIMEOUT_S="1",
                           MEDINFER_GATEWAY_BREAKER_FAILURE_THRESHOLD="3", MEDINFER_GATEWAY_RETRY_ATTEMPTS="1")
        with run_service("medinfer.gateway", "MEDINFER_GATEWAY_", env, tmp_path / "gw.log") as gw:
            channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            meta = (("authorization", dev_auth_header(stack.home)["Authorization"]),)
            assert stub.ModelInfer(_grpc_request(), timeout=10, metadata=meta).outputs

            # Triton hangs: three calls run out the gateway's own 2 s hop budget, which counts; the circuit opens.
            proxy.set_mode("freeze")
            with ThreadPoolExecutor(3) as pool:
                hung = list(pool.map(lambda _: _grpc_error(stub, meta, 10), range(3)))
            assert all("did not answer" in d for d in hung), hung
            assert "circuit open" in _grpc_error(stub, meta, 10)

            # Half-open after 1 s: the probe hangs on the frozen backend, and its client cancels it.
            time.sleep(1.2)
            probe = stub.ModelInfer.future(_grpc_request(), timeout=20, metadata=meta)
            time.sleep(0.5)
            assert not probe.done(), "the probe should be waiting on the frozen backend"
            assert "circuit open" in _grpc_error(stub, meta, 10)  # one probe at a time
            circuit = _session(stack).get(gw.url + "/readyz", timeout=5).json()
            probe.cancel()
            assert circuit["status"] == "degraded" and circuit["circuits"] == {"triton-grpc": "half_open"}

            # Triton answers again: the next call is let through as the probe, and the circuit closes.
            proxy.set_mode("pass")
            deadline = time.monotonic() + 30
            details = []
            while True:
                details.append(_grpc_error(stub, meta, 5))
                if details[-1] == "":
                    break
                assert time.monotonic() < deadline, f"the circuit stayed open after the cancel: {details[-3:]}"
                time.sleep(0.3)
            channel.close()
            metrics = _session(stack).get(_ops(gw) + "/metrics", timeout=5).text
            ready = _session(stack).get(gw.url + "/readyz", timeout=5).json()
    assert _metric(metrics, "medinfer_gateway_circuit_state", backend="triton-grpc") == 0
    assert ready["status"] == "ready" and "circuits" not in ready, ready


def _ops(gw) -> str:
    """The gateway's operations listener (/metrics, /healthz, /readyz): never on the API port."""
    return gw.metrics_url


def _in_flight(stack: Stack, gw) -> float:
    # the operations listener is outside the edge middleware: scraping it is not an in-flight request
    return _metric(_session(stack).get(_ops(gw) + "/metrics", timeout=5).text, "medinfer_gateway_in_flight_requests")


def _grpc_error(stub, meta, timeout: float) -> str:
    try:
        stub.ModelInfer(_grpc_request(), timeout=timeout, metadata=meta)
    except grpc.RpcError as exc:
        return exc.details() or ""
    return ""


def test_past_the_in_flight_bound_fast_503s_and_none_below_it(stack: Stack, tmp_path: Path) -> None:
    """Requests held in flight by a slow Triton (a proxy that stalls) fill the bound; the next get 503 at once."""
    grpc_port = free_port()
    bound = 8
    with switchable_proxy(("127.0.0.1", stack.ports.triton.http)) as (target, proxy):
        env = _gateway_env(stack, grpc_port, MEDINFER_GATEWAY_TRITON_URL=f"http://{target}",
                           MEDINFER_GATEWAY_MAX_IN_FLIGHT=str(bound))
        with run_service("medinfer.gateway", "MEDINFER_GATEWAY_", env, tmp_path / "gw.log") as gw:
            body = EXAMPLE.read_bytes()
            headers = {"Content-Type": "application/json"}

            def call(_: int, timeout_ms: str = "4000") -> tuple[int, float, requests.Response]:
                start = time.monotonic()
                r = _session(stack).post(gw.url + "/infer", data=body, timeout=15,
                                         headers={**headers, "X-Request-Timeout-Ms": timeout_ms})
                return r.status_code, time.monotonic() - start, r

            # Below the bound: many requests, never more than `bound` at once, none refused.
            with ThreadPoolExecutor(bound) as pool:
                below = list(pool.map(call, range(200)))
            assert all(code == 200 for code, _, _ in below), {code for code, _, _ in below}

            proxy.set_mode("stall")
            with ThreadPoolExecutor(bound) as pool:
                held = [pool.submit(call, i) for i in range(bound)]
                deadline = time.monotonic() + 5
                while _in_flight(stack, gw) < bound:  # /metrics is never shed; it counts itself too
                    assert time.monotonic() < deadline, "the held requests did not reach the gateway"
                    time.sleep(0.05)
                shed = [call(i) for i in range(20)]
                v2 = _session(stack).post(gw.url + "/v2/models/breast_cancer/infer", timeout=5,
                                          data=json.dumps({"inputs": []}), headers=headers)
                probes = [_session(stack).get(gw.url + "/healthz", timeout=5).status_code,
                          _session(stack).get(_ops(gw) + "/metrics", timeout=5).status_code]
                channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
                stub = pb_grpc.GRPCInferenceServiceStub(channel)
                meta = (("authorization", dev_auth_header(stack.home)["Authorization"]),)
                start = time.monotonic()
                with pytest.raises(grpc.RpcError) as grpc_shed:  # the same bound covers gRPC
                    stub.ModelInfer(_grpc_request(), timeout=10, metadata=meta)
                grpc_elapsed = time.monotonic() - start
                grpc_live = stub.ServerLive(pb.ServerLiveRequest(), timeout=5, metadata=meta).live
                channel.close()
                held_codes = [f.result()[0] for f in held]
            proxy.set_mode("pass")
            after = call(0)
            metrics = _session(stack).get(_ops(gw) + "/metrics", timeout=5).text
    for code, elapsed, r in shed:
        assert code == 503 and r.json()["code"] == "overloaded" and r.headers["Retry-After"] == "1"
        assert elapsed < 0.5, elapsed  # refused at once, not queued behind the stalled requests
    assert v2.status_code == 503 and v2.json()["error"]
    assert grpc_shed.value.code() == grpc.StatusCode.UNAVAILABLE and "overloaded" in grpc_shed.value.details()
    assert ("grpc-retry-pushback-ms", "1000") in tuple(grpc_shed.value.trailing_metadata()) and grpc_elapsed < 0.5
    assert grpc_live  # health RPCs are never refused
    assert probes == [200, 200]
    assert set(held_codes) <= {504}, held_codes  # the held requests end at their own deadline
    assert after[0] == 200
    assert _metric(metrics, "medinfer_gateway_shed_requests_total", protocol="http") == len(shed) + 1
    assert _metric(metrics, "medinfer_gateway_shed_requests_total", protocol="grpc") == 1
