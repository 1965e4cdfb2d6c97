"""Fault tests with real processes: Triton SIGKILLed under load (the stack restarts it), a stalling backend,
intermittent 503s.

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

from medinfer.stack import RestartPolicy, Stack
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


def test_triton_sigkilled_under_load_is_restarted_by_the_stack_and_service_resumes(
        tmp_path: Path, model_repository_template: Path) -> None:
    """The Stack (what ``medinfer up`` runs) restarts a SIGKILLed tritonserver; the gateway is not restarted,
    answers fast 503s only while Triton is down, and serves the routed version again once it is back."""
    home = tmp_path / "home"
    home.mkdir()
    copy_repository(model_repository_template, home)
    env = {"MEDINFER_GATEWAY_BREAKER_RESET_TIMEOUT_S": "1", "MEDINFER_GATEWAY_BREAKER_FAILURE_THRESHOLD": "3",
           "MEDINFER_GATEWAY_RATE_LIMIT_RPS": "100000", "MEDINFER_GATEWAY_RATE_LIMIT_BURST": "100000"}
    events: list[tuple[float, str]] = []
    t0 = time.monotonic()
    stack = Stack(home, new_stack_ports(), extra_env=env, models=("breast_cancer",),
                  triton_restart=RestartPolicy(initial_backoff_s=0.5),
                  on_event=lambda line: events.append((time.monotonic() - t0, line)))
    stack.start()
    expected = _expected(home)
    body = EXAMPLE.read_bytes()
    deadline_ms = 2000
    results: list[tuple[float, float, int, dict, str | None]] = []
    lock = threading.Lock()
    stop = threading.Event()
    gateway = next(c.process for c in stack.children if c.name == "gateway")

    def worker() -> None:
        s = _session(str(home / "tls" / "ca.pem"), home)
        while not stop.is_set():
            start = time.monotonic()
            r = s.post(stack.gateway_url + "/infer", data=body, timeout=15,
                       headers={"Content-Type": "application/json", "X-Request-Timeout-Ms": str(deadline_ms)})
            end = time.monotonic()
            with lock:
                doc = r.json()
                results.append((start - t0, end - t0, r.status_code, doc, doc.get("version")))
            if r.status_code != 200:
                time.sleep(0.05)

    def restarted() -> float | None:
        return next((at for at, line in events if "restarted and ready" in line), None)

    try:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(worker) for _ in range(4)]
            time.sleep(1.5)
            killed_at = time.monotonic() - t0
            os.killpg(stack.triton.process.pid, 9)  # the server and its Python-backend stubs, no clean-up
            wait_until = time.monotonic() + 60
            while restarted() is None:
                assert time.monotonic() < wait_until, f"Triton was not restarted: {events}"
                time.sleep(0.05)
            ready_at = restarted()
            # The outage window: from the kill until Triton is ready plus one breaker cool-down and a probe.
            window_end = ready_at + 1.0 + 1.5
            wait_until = time.monotonic() + 20
            while time.monotonic() < wait_until:
                with lock:
                    if any(st >= ready_at and code == 200 for st, _, code, _, _ in results):
                        break
                time.sleep(0.05)
            time.sleep(max(0.0, t0 + window_end + 2.0 - time.monotonic()))  # steady traffic past the window
            stop.set()
            for f in futures:
                f.result()
        metrics = requests.get(stack.gateway_metrics_url + "/metrics", timeout=5).text
        routed = stack.triton.model_ready("breast_cancer", 1)
        gateway_alive = gateway.poll() is None and gateway is next(c.process for c in stack.children
                                                                   if c.name == "gateway")
    finally:
        stop.set()
        stack.stop()

    assert results, "no requests were made"
    for start, end, code, doc, _ in results:
        assert end - start <= deadline_ms / 1000 + 1.0, "a request outlived its deadline"
        if code == 200:
            assert doc["outputs"][0]["data"][0] == pytest.approx(expected, rel=1e-6)
        else:
            assert code in (503, 504), doc
            assert doc["code"] in ("backend-unavailable", "circuit-open", "deadline-exceeded", "model-unavailable")
    before = [r for r in results if r[1] < killed_at]
    # Down: from the kill until the new server process exists (it may serve before the stack has seen every
    # model ready and logged "restarted and ready", so that line is not the end of the outage).
    relaunched_at = stack.triton_started_at - t0
    during = [r for r in results if killed_at + 0.3 < r[0] and r[1] < relaunched_at]
    failed = [r for r in results if r[2] != 200]
    after = [r for r in results if r[0] > window_end]
    assert before and all(r[2] == 200 for r in before)
    assert during and all(r[2] != 200 for r in during), "requests were served while Triton was down"
    assert all(killed_at - deadline_ms / 1000 <= r[0] <= window_end for r in failed), \
        "a request failed outside the outage window"
    assert after and all(r[2] == 200 for r in after), "service did not resume after the restart"
    assert {r[4] for r in results if r[2] == 200} == {"1"}  # the routed version, before and after
    assert routed and gateway_alive and stack.triton_restarts == 1
    assert any("exited with -9" in line and "restart 1/" in line for _, line in events), events
    recovery_s = min(r[1] for r in results if r[0] >= ready_at and r[2] == 200) - ready_at
    print(f"\noutage {ready_at - killed_at:.2f}s (kill -> restarted Triton ready); first 200 {recovery_s:.2f}s after "
          f"ready; {len(failed)} of {len(results)} requests failed, all inside the window")
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
