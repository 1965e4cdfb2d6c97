"""The preprocessor as a real process on an OS-assigned port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.services import ServiceProcess, run_service
from tests.support.stack import copy_repository

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def preprocessor(tmp_path_factory, model_repository_template: Path) -> Iterator[ServiceProcess]:
    home = tmp_path_factory.mktemp("pre-home")
    copy_repository(model_repository_template, home)
    env = {"MEDINFER_HOME": str(home), "MEDINFER_PREPROCESS_MAX_BODY_BYTES": "65536"}
    with run_service("medinfer.preprocess", "MEDINFER_PREPROCESS_", env, home / "pre.log") as svc:
        yield svc


@pytest.fixture(scope="module")
def record(model_repository_template: Path) -> dict:
    meta = json.loads((model_repository_template / "breast_cancer" / "1" / "medinfer.json").read_text())
    return {f["name"]: f["mean"] for f in meta["features"]}


def test_health_and_ready(preprocessor: ServiceProcess) -> None:
    assert requests.get(preprocessor.url + "/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(preprocessor.url + "/readyz", timeout=5)
    assert ready.status_code == 200 and "breast_cancer" in ready.json()["models"]


def test_normalize_orders_features_by_schema(preprocessor: ServiceProcess, record: dict) -> None:
    shuffled = dict(reversed(list(record.items())))
    r = requests.post(preprocessor.url + "/v1/tabular/normalize",
                      json={"model": "breast_cancer", "input": shuffled}, timeout=5)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 1 and body["tensor"]["shape"] == [1, 30]
    assert body["tensor"]["data"] == pytest.approx(list(record.values()), rel=1e-6)
    assert r.headers["x-request-id"]


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"model": "breast_cancer", "input": [1.0] * 29}, 422, "wrong-feature-count"),
        ({"model": "no_such_model", "input": [1.0] * 30}, 404, "model-not-found"),
        ({"model": "breast_cancer", "version": 99, "input": [1.0] * 30}, 404, "model-not-found"),
        ({"model": "breast_cancer", "input": ["12.5"] + [1.0] * 29}, 422, "not-a-number"),
        ({"input": [1.0] * 30}, 422, "validation-failed"),
    ],
)
def test_bad_input_is_problem_json(preprocessor: ServiceProcess, payload, status, code) -> None:
    r = requests.post(preprocessor.url + "/v1/tabular/normalize", json=payload, timeout=5)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code


def test_malformed_and_oversized_bodies(preprocessor: ServiceProcess) -> None:
    r = requests.post(preprocessor.url + "/v1/tabular/normalize", data=b'{"model": "breast_cancer", "input": [NaN]}',
                      headers={"content-type": "application/json"}, timeout=5)
    assert r.status_code == 400 and r.json()["code"] == "malformed-json"
    r = requests.post(preprocessor.url + "/v1/tabular/normalize", data=b"[" + b"1," * 40000 + b"1]", timeout=5)
    assert r.status_code == 413 and r.json()["code"] == "payload-too-large"
    r = requests.get(preprocessor.url + "/nope", timeout=5)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_metrics_count_deid_entities_without_phi(preprocessor: ServiceProcess) -> None:
    note = "Seen by Dr. Hortensia Blackwood on 02/11/2023, MRN 77441122."
    r = requests.post(preprocessor.url + "/v1/deidentify", json={"text": note, "operator": "tag"}, timeout=60)
    assert r.status_code == 200, r.text
    text = requests.get(preprocessor.metrics_url + "/metrics", timeout=5).text
    assert 'medinfer_preprocess_deid_entities_total{label="NAME"}' in text
    assert "medinfer_preprocess_deid_failures_total 0.0" in text
    assert 'medinfer_preprocess_requests_total{route="/v1/deidentify",status="200"}' in text
    for phi in ("Hortensia", "Blackwood", "77441122", "02/11/2023"):
        assert phi not in text
