"""W3C traceparent crosses gateway -> preprocessor when OpenTelemetry export is on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from medinfer.stack import Stack
from tests.support.services import run_service
from tests.support.stack import dev_auth_header

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "infer_breast_cancer.json"


def test_trace_id_propagates_to_the_preprocessor(tmp_path: Path, stack: Stack) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    pre_env = {"MEDINFER_HOME": str(stack.home), "MEDINFER_PREPROCESS_OTEL_EXPORTER": "console"}
    with run_service("medinfer.preprocess", "MEDINFER_PREPROCESS_", pre_env, tmp_path / "pre.log") as pre:
        env = {"MEDINFER_HOME": str(stack.home), "MEDINFER_GATEWAY_INSECURE_HTTP": "true",
               "MEDINFER_GATEWAY_PREPROCESSOR_URL": pre.url, "MEDINFER_GATEWAY_TRITON_URL": stack.triton_url,
               "MEDINFER_GATEWAY_TABULAR_NORMALIZER": "preprocessor", "MEDINFER_GATEWAY_GRPC_PORT": "0",
               "MEDINFER_GATEWAY_OTEL_EXPORTER": "console"}
        with run_service("medinfer.gateway", "MEDINFER_GATEWAY_", env, tmp_path / "gw.log") as gw:
            r = requests.post(gw.url + "/infer", data=EXAMPLE.read_bytes(), timeout=10,
                              headers={"Content-Type": "application/json", **dev_auth_header(stack.home),
                                       "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
            assert r.status_code == 200, r.text
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if f"0x{trace_id}" in gw.log() and f"0x{trace_id}" in pre.log():
                    break
                time.sleep(0.3)
            gw_log, pre_log = gw.log(), pre.log()
    assert f"0x{trace_id}" in gw_log, "gateway span missing"
    assert f"0x{trace_id}" in pre_log, "the preprocessor did not join the client's trace"
