"""The real tritonserver from the nvidia-pytriton wheel, through our launcher."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient

from medinfer.shipped_models import build_model
from medinfer.triton.server import TritonPorts, TritonServer, TritonStartError
from tests.support.ports import free_ports

pytestmark = pytest.mark.integration


def _ports() -> TritonPorts:
    return TritonPorts(*free_ports(3))


def test_serves_the_shipped_model_with_onnxruntime_results(tmp_path: Path, model_repository_template: Path) -> None:
    shutil.copytree(model_repository_template, tmp_path / "models")
    server = TritonServer(tmp_path / "models", tmp_path, _ports(), models=("breast_cancer",))
    server.start()
    try:
        server.wait_ready(120)
        client = httpclient.InferenceServerClient(f"127.0.0.1:{server.ports.http}")
        meta = client.get_model_metadata("breast_cancer")
        assert meta["inputs"][0]["name"] == "features" and meta["inputs"][0]["shape"] == [-1, 30]
        x = np.random.default_rng(0).uniform(5, 30, size=(5, 30)).astype(np.float32)
        inp = httpclient.InferInput("features", [5, 30], "FP32")
        inp.set_data_from_numpy(x)
        got = client.infer("breast_cancer", [inp]).as_numpy("probability")
        import onnxruntime as ort

        sess = ort.InferenceSession(str(tmp_path / "models" / "breast_cancer" / "1" / "model.onnx"))
        np.testing.assert_allclose(got, sess.run(None, {"features": x})[0], rtol=1e-6)
    finally:
        server.stop()
    assert server.process is None


def test_start_failure_reports_tritons_own_error(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    build_model("breast_cancer", tmp_path / "build")
    (repo / "broken" / "1").mkdir(parents=True)
    (repo / "broken" / "config.pbtxt").write_text('name: "broken"\nbackend: "python"\nmax_batch_size: -3\n')
    server = TritonServer(repo, tmp_path, _ports(), models=("broken",))
    server.start()
    try:
        with pytest.raises(TritonStartError) as info:
            server.wait_ready(60)
        assert "broken" in str(info.value)
    finally:
        server.stop()
