"""image_quality on the real tritonserver: the preprocessor's binary v2 body is a valid
Triton request, results match ONNX Runtime, and concurrent requests are batched."""

from __future__ import annotations

import base64
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pydicom
import pytest
import requests

from medinfer.common.v2 import HEADER_LENGTH, decode_request, decode_response
from medinfer.preprocess.app import create_app
from medinfer.preprocess.settings import PreprocessSettings
from medinfer.triton.server import TritonPorts, TritonServer
from tests.support.asgi import request
from tests.support.ports import free_ports

pytestmark = pytest.mark.integration
TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"


def test_preprocessed_dicom_served_by_triton(tmp_path: Path, model_repository_template: Path) -> None:
    shutil.copytree(model_repository_template, tmp_path / "models")
    app = create_app(PreprocessSettings(home=tmp_path, model_repository=tmp_path / "models",
                                        dicom_deid_secret="triton-test-secret-0123456789"))
    bodies = []
    for name in ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "examples_jpeg2k.dcm"):
        raw = (TEST_FILES / name).read_bytes()
        r = request(app, "POST", "/v1/image/preprocess",
                    json={"input": base64.b64encode(raw).decode(), "model": "image_quality"})
        assert r.status == 200
        bodies.append((r.body, r.headers[HEADER_LENGTH.lower()]))
    server = TritonServer(tmp_path / "models", tmp_path, TritonPorts(*free_ports(3)),
                          models=("image_quality",))
    server.start()
    try:
        server.wait_ready(120)
        url = f"http://127.0.0.1:{server.ports.http}/v2/models/image_quality/infer"
        sess = ort.InferenceSession(str(tmp_path / "models" / "image_quality" / "1" / "model.onnx"))

        def infer(body_and_len):
            body, hlen = body_and_len
            resp = requests.post(url, data=body, headers={HEADER_LENGTH: hlen,
                                                          "Content-Type": "application/octet-stream"}, timeout=30)
            assert resp.status_code == 200, resp.text
            return decode_response(resp.content, resp.headers.get(HEADER_LENGTH))[1]

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(infer, bodies * 4))
        for (body, hlen), outs in zip(bodies * 4, results):
            _, (t,) = decode_request(body, hlen)
            by_name = {o.name: o.data for o in outs}
            want_p, want_c = sess.run(["probabilities", "class_index"], {"image": t.data})
            np.testing.assert_allclose(by_name["probabilities"], want_p, rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(by_name["class_index"], want_c)
    finally:
        server.stop()
