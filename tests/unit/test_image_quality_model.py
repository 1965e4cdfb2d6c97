"""The image_quality model: deterministic, card matches the build, and it serves from the route's tensor."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

from medinfer.common.v2 import HEADER_LENGTH, decode_request
from medinfer.preprocess.app import create_app
from medinfer.preprocess.settings import PreprocessSettings
from medinfer.shipped_models import build_model, project_root
from medinfer.triton.onnx_signature import config_from_onnx, onnx_signature
from medinfer.triton.repository import METADATA_FILE, ModelRepository
from tests.support.asgi import request
from tests.support.dicom_factory import ct_slice, make_dicom

CLASSES = ["ok", "blank", "truncated", "wrong_window", "corrupted"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("iq")
    return out, build_model("image_quality", out)


def test_deterministic_and_the_card_is_the_builds_own_output(built):
    # The committed card was written by an earlier run of the same script: equality
    # proves both that training is deterministic and that the card tells the truth.
    out, meta = built
    committed = (project_root() / "models" / "image_quality" / "README.md").read_text()
    assert committed == (out / "README.md").read_text()
    m = meta["metrics"]
    assert set(m["train_sources"]).isdisjoint(m["test_sources"])
    assert m["sklearn_vs_onnx_agreement"] == 1.0
    assert m["accuracy"] > 0.7 and f"{m['accuracy']:.3f}" in committed


def test_onnx_signature(built):
    out, meta = built
    inputs, outputs = onnx_signature(onnx.load(str(out / "model.onnx")))
    assert [(t.name, t.datatype, t.dims) for t in inputs] == [("image", "FP32", (-1, 1, 64, 64))]
    assert [(t.name, t.datatype, t.dims) for t in outputs] == [
        ("probabilities", "FP32", (-1, 5)), ("class_index", "INT64", (-1, 1))]
    cfg = config_from_onnx("image_quality", out / "model.onnx")
    assert cfg.max_batch_size > 0 and cfg.dynamic_batching is not None
    assert meta["kind"] == "image" and meta["classes"] == CLASSES


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_route_tensor_feeds_the_model(built, tmp_path):
    out, meta = built
    repo = ModelRepository(tmp_path / "models")
    files = {p.name: p for p in out.iterdir() if p.name != METADATA_FILE}
    repo.write_version(config_from_onnx("image_quality", out / "model.onnx"), 1, files, meta)
    app = create_app(PreprocessSettings(home=tmp_path, model_repository=tmp_path / "models",
                                        dicom_deid_secret="iq-test-secret-0123456789"))
    sess = ort.InferenceSession(str(out / "model.onnx"))
    good = make_dicom(ct_slice(256), slope=1.0, intercept=-1024.0, window=(40.0, 400.0))
    blank = _png(np.full((128, 128), 90, np.uint8))
    top = ct_slice(256)
    top[128:] = 0  # bottom half lost
    truncated = make_dicom(top, slope=1.0, intercept=-1024.0, window=(40.0, 400.0))
    hu = ct_slice(128).astype(np.float64) - 1024
    img = np.clip((hu - 40 + 200) / 400, 0, 1) + np.random.default_rng(1).normal(0, 0.6, hu.shape)
    noise = _png((np.clip(img, 0, 1) * 255).astype(np.uint8))  # a CT slice under heavy noise
    got, probs_of = {}, {}
    for name, raw in (("good", good), ("blank", blank), ("truncated", truncated), ("noise", noise)):
        r = request(app, "POST", "/v1/image/preprocess",
                    json={"input": base64.b64encode(raw).decode(), "model": "image_quality"})
        assert r.status == 200, r.body
        _, (t,) = decode_request(r.body, r.headers[HEADER_LENGTH.lower()])
        assert t.shape == [1, 1, 64, 64] and json.loads(r.headers["x-medinfer-image"])["version"] == 1
        probs, cls = sess.run(["probabilities", "class_index"], {"image": t.data})
        assert probs.shape == (1, 5) and abs(float(probs.sum()) - 1) < 1e-4
        got[name] = CLASSES[int(cls[0, 0])]
        probs_of[name] = probs[0]
    assert got["blank"] == "blank" and got["noise"] == "corrupted"
    # Losing the bottom half raises P(truncated) over the intact slice.
    assert probs_of["truncated"][2] > probs_of["good"][2]
    wrong_kind = request(app, "POST", "/v1/tabular/normalize", json={"input": {}, "model": "image_quality"})
    assert wrong_kind.status == 422
