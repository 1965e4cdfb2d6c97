"""Drift monitor and OOD gate on the real inference path: gateway -> tritonserver."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
import requests

from medinfer.stack import Stack
from tests.support.services import run_service
from tests.support.stack import GatewayClient, dev_auth_header

pytestmark = pytest.mark.e2e

TRAIN = Path(__file__).resolve().parents[2] / "models" / "breast_cancer" / "train.py"


@pytest.fixture(scope="module")
def records() -> tuple[list[str], list[list[float]]]:
    train = runpy.run_path(str(TRAIN))
    return train["feature_names"](), train["load_split"]()[1].tolist()


def _unit_swapped(names: list[str], row: list[float]) -> dict[str, float]:
    """'mean_radius' sent in cm instead of mm: inside the schema's plausible range, outside training support."""
    rec = dict(zip(names, row))
    rec["mean_radius"] = rec["mean_radius"] / 10.0
    return rec


def test_profile_ships_beside_the_model_version(stack: Stack) -> None:
    doc = json.loads((stack.home / "models" / "breast_cancer" / "1" / "reference_profile.json").read_text())
    assert doc["kind"] == "tabular" and doc["gate"]["target_frr"] == 0.01 and len(doc["feature_names"]) == 30


def test_flag_policy_answers_and_marks_the_response(gateway: GatewayClient, records) -> None:
    names, rows = records
    ok = gateway.post("/infer", json={"model": "breast_cancer", "input": dict(zip(names, rows[0]))})
    assert ok.status_code == 200 and ok.json()["ood"] is False and "ood_reason" not in ok.json()
    bad = gateway.post("/infer", json={"model": "breast_cancer", "input": _unit_swapped(names, rows[1])})
    assert bad.status_code == 200, bad.text
    body = bad.json()
    assert body["ood"] is True and body["ood_reason"] == "out-of-support" and body["outputs"]
    drift = gateway.get("/admin/models/breast_cancer/drift")
    assert drift.status_code == 200
    (v,) = drift.json()["versions"]
    assert v["version"] == "1" and v["policy"] == "flag" and v["ood_counts"].get("out-of-support", 0) >= 1
    assert v["records_total"] >= 2
    metrics = gateway.metrics()
    assert 'medinfer_ood_total{model="breast_cancer",reason="out-of-support",version="1"}' in metrics
    assert gateway.get("/admin/models/nope/drift").json()["code"] == "model-not-found"
    anonymous = requests.get(gateway.url("/admin/models/breast_cancer/drift"), verify=gateway.session.verify,
                             timeout=10)
    assert anonymous.status_code == 401
    infer_only = gateway.get("/admin/models/breast_cancer/drift",
                             headers=dev_auth_header(Path(gateway.session.verify).parents[1], "infer"))
    assert infer_only.status_code == 403


def test_drift_detected_after_a_stream_of_unit_swapped_records(gateway: GatewayClient, records) -> None:
    names, rows = records
    for row in rows[:120]:
        r = gateway.post("/infer", json={"model": "breast_cancer", "input": _unit_swapped(names, row)})
        assert r.status_code == 200
    (v,) = gateway.get("/admin/models/breast_cancer/drift").json()["versions"]
    assert v["ready"] and v["drift_detected"] and "mean_radius" in v["drifted_features"]


def test_reject_policy_is_a_422_problem_without_values(stack: Stack, records, tmp_path: Path) -> None:
    names, rows = records
    env = {
        "MEDINFER_HOME": str(stack.home), "MEDINFER_GATEWAY_INSECURE_HTTP": "true",
        "MEDINFER_GATEWAY_PREPROCESSOR_URL": stack.preprocessor_url, "MEDINFER_GATEWAY_TRITON_URL": stack.triton_url,
        "MEDINFER_GATEWAY_OOD_POLICIES": '{"breast_cancer": "reject"}',
    }
    with run_service("medinfer.gateway", "MEDINFER_GATEWAY_", env, tmp_path / "gw.log") as gw:
        rec = _unit_swapped(names, rows[2])
        auth = dev_auth_header(stack.home)
        r = requests.post(gw.url + "/infer", json={"input": rec}, headers=auth, timeout=10)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
        doc = r.json()
        assert doc["code"] == "ood-rejected" and doc["reason"] == "out-of-support"
        assert f"{rec['mean_radius']:.4g}"[:5] not in r.text
        ok = requests.post(gw.url + "/infer", json={"input": dict(zip(names, rows[3]))}, headers=auth, timeout=10)
        assert ok.status_code == 200 and ok.json()["ood"] is False


def test_drift_disabled_leaves_the_response_unchanged(stack: Stack, records, tmp_path: Path) -> None:
    names, rows = records
    env = {
        "MEDINFER_HOME": str(stack.home), "MEDINFER_GATEWAY_INSECURE_HTTP": "true",
        "MEDINFER_GATEWAY_PREPROCESSOR_URL": stack.preprocessor_url, "MEDINFER_GATEWAY_TRITON_URL": stack.triton_url,
        "MEDINFER_GATEWAY_DRIFT_ENABLED": "false",
    }
    with run_service("medinfer.gateway", "MEDINFER_GATEWAY_", env, tmp_path / "gw.log") as gw:
        auth = dev_auth_header(stack.home)
        r = requests.post(gw.url + "/infer", json={"input": _unit_swapped(names, rows[4])}, headers=auth, timeout=10)
        assert r.status_code == 200 and "ood" not in r.json()
        drift = requests.get(gw.url + "/admin/models/breast_cancer/drift", headers=auth, timeout=10)
        assert drift.status_code == 404
