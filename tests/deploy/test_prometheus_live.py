"""A real Prometheus (Debian's package) scrapes the running stack with the scrape
config from deploy/monitoring/prometheus.yml, and answers queries for a gateway
metric and a Triton metric through its HTTP API.

The stack is the session's ``stack`` fixture (tests/support/stack.py: tritonserver,
preprocessor, gateway on OS-assigned loopback ports, as ``medinfer up`` runs them).
The config is used as shipped except for what must differ on one test host: target
addresses, the CA file path and a 1 s scrape interval. The gateway job is scraped
over HTTPS and verified against the stack's dev CA, as in docker-compose.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, ROOT, system_tool
from tests.deploy.test_monitoring import TRITON_GPU_ONLY, all_metrics
from tests.deploy.test_monitoring import _rules as all_rules
from tests.support.ports import free_port

pytestmark = pytest.mark.integration


def _infer(gateway: Any, n: int) -> None:
    body = (ROOT / "examples" / "infer_breast_cancer.json").read_bytes()
    for _ in range(n):
        resp = gateway.post("/infer", data=body, headers={"Content-Type": "application/json"})
        assert resp.status_code == 200, resp.text


def _config(stack: Any, gateway_port: int, tmp: Path) -> Path:
    cfg = yaml.safe_load((DEPLOY / "monitoring" / "prometheus.yml").read_text())
    cfg["global"]["scrape_interval"] = "1s"
    cfg["global"]["evaluation_interval"] = "1s"
    targets = {"gateway": f"127.0.0.1:{gateway_port}",
               "preprocessor": f"127.0.0.1:{stack.ports.preprocessor_metrics}",
               "triton": f"127.0.0.1:{stack.ports.triton.metrics}"}
    for job in cfg["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
        if "tls_config" in job:
            job["tls_config"]["ca_file"] = str(stack.tls.ca_file)
    for rule_file in cfg["rule_files"]:
        shutil.copy(DEPLOY / "monitoring" / rule_file, tmp / rule_file)
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as resp:
        data = json.load(resp)
    assert data["status"] == "success"
    return data["data"]["result"]


def _wait_for(base: str, expr: str, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = _query(base, expr)
        except urllib.error.URLError:  # Prometheus still starting
            result = []
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"no result for {expr} within {timeout}s")


def test_prometheus_scrapes_gateway_and_triton(stack: Any, gateway: Any, tmp_path: Path) -> None:
    _infer(gateway, 5)
    config = _config(stack, stack.ports.gateway_metrics, tmp_path)
    promtool = system_tool("promtool")
    check = subprocess.run([promtool, "check", "config", str(config)], check=False, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    port = free_port()
    proc = subprocess.Popen(
        [system_tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        triton = _wait_for(base, 'nv_inference_request_success{model="breast_cancer"} >= 5')
        assert triton[0]["metric"]["job"] == "triton"
        gateway = _wait_for(base, 'sum(medinfer_gateway_requests_total{job="gateway"}) >= 5')
        assert float(gateway[0]["value"][1]) >= 5
        # Every Triton metric our dashboards, alerts and KEDA triggers read exists (GPU ones need a GPU).
        live = {r["metric"]["__name__"] for r in _query(base, 'count by (__name__) ({job="triton"})')}
        wanted = {m for m in all_metrics() if m.startswith("nv_")} - TRITON_GPU_ONLY
        assert wanted and wanted <= live, wanted - live
        up = {r["metric"]["job"]: r["value"][1] for r in _wait_for(base, "up")}
        assert up["triton"] == "1" and up["gateway"] == "1", up
        # The alert rules load and evaluate against the live series.
        with urllib.request.urlopen(f"{base}/api/v1/rules", timeout=5) as resp:
            groups = json.load(resp)["data"]["groups"]
        assert sum(len(g["rules"]) for g in groups) == len(all_rules())
        assert all(r["health"] == "ok" for g in groups for r in g["rules"] if "health" in r)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
