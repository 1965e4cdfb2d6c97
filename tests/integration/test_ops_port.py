"""``/metrics`` lives on the operations port only: the API port (which the Ingress routes) answers 404 for it,
and the operations port serves nothing but metrics and health (a real gateway process)."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.support.secure_gateway import GatewayProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = GatewayProcess(tmp_path_factory.mktemp("ops-gw"))
    g.start()
    yield g
    g.stop()


def _ops(gw: GatewayProcess, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{gw.metrics_port}{path}", timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_metrics_are_not_on_the_api_port(gw):
    assert gw.request("GET", "/metrics").status == 404
    reply = gw.metrics()
    assert reply.status == 200 and b"# TYPE medinfer_gateway_requests_total" in reply.body


def test_operations_port_serves_only_metrics_and_health(gw):
    assert _ops(gw, "/healthz") == 200
    for path in ("/v2", "/v2/models/breast_cancer", "/infer", "/admin/models", "/fhir/r4/metadata"):
        assert _ops(gw, path) == 404, path
