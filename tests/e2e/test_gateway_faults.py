"""Fault tests with real processes: Triton killed mid-stream, a stalling backend, intermittent 503s.

Bounded in time and request count; they run in CI.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import requests

from medinfer.stack import Stack
from medinfer.triton.server import TritonServer
from tests.support.faults import flaky_proxy, stalling_server
from tests.support.services import run_service
from tests.support.stack import copy_repository, dev_auth_header, new_stack_ports

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "infer_breast_cancer.json"


def _expected(home: Path) -> float:
    meta = json.loads((home / "models" / "breast_cancer" / "1" / "medinfer.json").read_text())
    rec = json.loads(EXAMPLE.read_text())["input"]
    x = np.array([[rec[f["name"]] for f in meta["features"]]], dtype=np.float32)
    sess = ort.InferenceSession(str(home / "models" / "breast_cancer" / "1" / "model.onnx"))
    return float(sess.run(None, {"features": x})[0][0, 0])


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


def _session(verify, home: Path) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = verify
    s.headers.update(dev_auth_header(home))
    return s


def test_triton_killed_mid_stream_fails_fast_then_recovers(tmp_path: Path, model_repository_template: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    copy_repository(model_repository_template, home)
    env = {"MEDINFER_GATEWAY_BREAKER_RESET_TIMEOUT_S": "1", "MEDINFER_GATEWAY_BREAKER_FAILURE_THRESHOLD": "3",
           "MEDINFER_GATEWAY_RATE_LIMIT_RPS": "100000", "MEDINFER_GATEWAY_RATE_LIMIT_BURST": "100000"}
    stack = Stack(home, new_stack_ports(), extra_env=env)
    stack.start()
    expected = _expected(home)
    body = EXAMPLE.read_bytes()
    deadline_ms = 2000
    results: list[tuple[float, float, int, dict]] = []
    lock = threading.Lock()
    stop = threading.Event()
    t0 = time.monotonic()

    def worker() -> None:
        s = _session(str(home / "tls" / "ca.pem"), home)
        while not stop.is_set():
            start = time.monotonic()
            r = s.post(stack.gateway_url + "/infer", data=body, timeout=15,
                       headers={"Content-Type": "application/json", "X-Request-Timeout-Ms": str(deadline_ms)})
            end = time.monotonic()
            with lock:
                results.append((start - t0, end - t0, r.status_code, r.json()))
            if r.status_code != 200:
                time.sleep(0.05)

    try:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(worker) for _ in range(4)]
            time.sleep(1.5)
            killed_at = time.monotonic() - t0
            os.killpg(stack.triton.process.pid, 9)
            stack.triton.process.wait()
            time.sleep(3.0)
            ports = stack.ports.triton
            restart_at = time.monotonic() - t0
            restarted = TritonServer(stack.repository.root, home, ports, models=("breast_cancer",),
                                     log_path=home / "logs" / "tritonserver-2.log")
            restarted.start()
            restarted.wait_ready(120)
            ready_at = time.monotonic() - t0
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with lock:
                    if any(st >= ready_at and code == 200 for st, _, code, _ in results):
                        break
                time.sleep(0.05)
            time.sleep(0.5)
            stop.set()
            for f in futures:
                f.result()
        metrics = requests.get(stack.gateway_metrics_url + "/metrics", timeout=5).text
    finally:
        stop.set()
        stack.stop()
        if "restarted" in locals():
            restarted.stop()

    assert results, "no requests were made"
    for start, end, code, doc in results:
        assert end - start <= deadline_ms / 1000 + 1.0, "a request outlived its deadline"
        if code == 200:
            assert doc["outputs"][0]["data"][0] == pytest.approx(expected, rel=1e-6)
        else:
            assert code in (503, 504), doc
            assert doc["code"] in ("backend-unavailable", "circuit-open", "deadline-exceeded", "model-unavailable")
    before = [r for r in results if r[1] < killed_at]
    during = [r for r in results if killed_at < r[0] and r[1] < restart_at]
    after = [r for r in results if r[0] > ready_at and r[2] == 200]
    assert before and all(r[2] == 200 for r in before)
    assert during and all(r[2] != 200 for r in during)
    assert after, "traffic did not recover after Triton came back"
    recovery_s = min(r[1] for r in after) - ready_at
    print(f"\nrecovery after Triton ready: {recovery_s:.2f}s; requests: {len(results)}, "
          f"failed fast during outage: {len(during)}")
    assert _metric(metrics, "medinfer_gateway_circuit_transitions_total", backend="triton", state="open") >= 1
    assert _metric(metrics, "medinfer_gateway_circuit_state", backend="triton") == 0


def test_stalling_backend_ends_at_the_deadline_with_bounded_resources(tmp_path: Path, stack: Stack) -> None:
    with stalling_server() as (url, open_conns):
        env = {"MEDINFER_HOME": str(stack.home), "MEDINFER_GATEWAY_INSECURE_HTTP": "true",
               "MEDINFER_GATEWAY_PREPROCESSOR_URL": url, "MEDINFER_GATEWAY_TRITON_URL": url,
               "MEDINFER_GATEWAY_GRPC_PORT": "0", "MEDINFER_GATEWAY_UPSTREAM_CONNECTIONS": "16",
               "MEDINFER_GATEWAY_BREAKER_FAILURE_THRESHOLD": "1000", "MEDINFER_GATEWAY_BREAKER_ERROR_RATE": "1.1"}
        with run_service("medinfer.gateway", "MEDINFER_GATEWAY_", env, tmp_path / "gw.log") as gw:
            pid = gw.proc.pid
            body = EXAMPLE.read_bytes()

            def fds() -> int:
                return len(os.listdir(f"/proc/{pid}/fd"))

            def rss_kb() -> int:
                return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))

            def call(_: int) -> tuple[float, int, str]:
                s = _session(False, stack.home)
                start = time.monotonic()
                r = s.post(gw.url + "/infer", data=body, timeout=10,
                           headers={"Content-Type": "application/json", "X-Request-Timeout-Ms": "400"})
                return time.monotonic() - start, r.status_code, r.json()["code"]

            call(0)
            fds_before, rss_before = fds(), rss_kb()
            with ThreadPoolExecutor(24) as pool:
                outcomes = list(pool.map(call, range(120)))
            time.sleep(0.5)
            fds_after, rss_after = fds(), rss_kb()
            peak_conns = len(open_conns)
    for elapsed, status, code in outcomes:
        assert status == 504 and code == "deadline-exceeded"
        assert elapsed < 0.4 + 1.0
    assert fds_after - fds_before < 40, (fds_before, fds_after)
    assert peak_conns <= 16 + 2
    assert rss_after - rss_before < 60_000, (rss_before, rss_after)


def test_intermittent_503_is_retried_within_budget(tmp_path: Path, stack: Stack) -> None:
    expected = _expected(stack.home)
    with flaky_proxy(stack.triton_url, every=3) as (url, proxy):
        env = {"MEDINFER_HOME": str(stack.home), "MEDINFER_GATEWAY_INSECURE_HTTP": "true",
               "MEDINFER_GATEWAY_PREPROCESSOR_URL": stack.preprocessor_url, "MEDINFER_GATEWAY_TRITON_URL": url,
               "MEDINFER_GATEWAY_GRPC_PORT": "0"}
        with run_service("medinfer.gateway", "MEDINFER_GATEWAY_", env, tmp_path / "gw.log") as gw:
            s = _session(False, stack.home)
            body = EXAMPLE.read_bytes()
            for _ in range(30):
                r = s.post(gw.url + "/infer", data=body, headers={"Content-Type": "application/json"}, timeout=10)
                assert r.status_code == 200, r.text
                assert r.json()["outputs"][0]["data"][0] == pytest.approx(expected, rel=1e-6)
            metrics = requests.get(gw.metrics_url + "/metrics", timeout=5).text
    assert proxy.injected >= 10
    assert _metric(metrics, "medinfer_gateway_upstream_retries_total", backend="triton") == proxy.injected
