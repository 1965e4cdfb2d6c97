"""The imaging routes in the real preprocessor app (in-process ASGI)."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import orjson
import pydicom
import pytest

from medinfer.common.v2 import HEADER_LENGTH, decode_request
from medinfer.preprocess.app import create_app
from medinfer.preprocess.settings import PreprocessSettings
from tests.support.asgi import multipart, request
from tests.support.dicom_factory import PHI, ct_slice, make_dicom

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    return create_app(PreprocessSettings(home=home, dicom_deid_secret="route-test-secret-0123456789"))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_preprocess_binary_v2_by_default(app):
    raw = (TEST_FILES / "CT_small.dcm").read_bytes()
    r = request(app, "POST", "/v1/image/preprocess", json={"input": b64(raw)})
    assert r.status == 200 and r.headers["content-type"] == "application/octet-stream"
    header, tensors = decode_request(r.body, r.headers[HEADER_LENGTH.lower()])
    (t,) = tensors
    assert t.name == "image" and t.datatype == "FP32" and t.shape == [1, 1, 64, 64]
    assert 0.0 <= float(t.data.min()) and float(t.data.max()) <= 1.0
    info = orjson.loads(r.headers["x-medinfer-image"])
    assert info["modality"] == "CT" and info["rows"] == 128


def test_preprocess_json_on_accept_and_multipart_upload(app):
    raw = make_dicom(np.stack([ct_slice(32, seed=i) for i in range(3)]))
    r = request(app, "POST", "/v1/image/preprocess", json={"input": b64(raw), "frame": 2},
                headers={"accept": "application/json"})
    assert r.status == 200
    body = r.json()
    assert body["image"]["frame"] == 2 and body["inputs"][0]["shape"] == [1, 1, 64, 64]
    json_values = np.asarray(body["inputs"][0]["data"], np.float32)
    form, ctype = multipart({"frame": "2"}, raw)
    r2 = request(app, "POST", "/v1/image/preprocess", body=form, headers={"content-type": ctype})
    _, (t,) = decode_request(r2.body, r2.headers[HEADER_LENGTH.lower()])
    np.testing.assert_allclose(t.data.ravel(), json_values, atol=1e-6)


def test_preprocess_raw_body_with_query_options(app):
    raw = make_dicom(np.stack([ct_slice(32, seed=i) for i in range(3)]))
    r = request(app, "POST", "/v1/image/preprocess?frame=2&window_center=40&window_width=400", body=raw,
                headers={"content-type": "application/dicom", "accept": "application/json"})
    assert r.status == 200, r.body
    assert r.json()["image"]["frame"] == 2
    r = request(app, "POST", "/v1/image/preprocess?frame=x", body=raw, headers={"content-type": "application/dicom"})
    assert r.status == 422 and r.json()["field"] == "frame"


@pytest.mark.parametrize("body,status,code", [
    ({"input": "not base64!!"}, 400, "invalid-base64"),
    ({"input": b64(b"plain text, not an image" * 10)}, 415, "unsupported-image-format"),
    ({"nothing": 1}, 422, "validation-failed"),
    ({"input": b64((TEST_FILES / "CT_small.dcm").read_bytes()), "frame": 5}, 422, "frame-out-of-range"),
    ({"input": b64((TEST_FILES / "CT_small.dcm").read_bytes()), "frame": -1}, 422, "validation-failed"),
    ({"input": b64((TEST_FILES / "CT_small.dcm").read_bytes()), "model": "nope"}, 404, "model-not-found"),
    ({"input": b64((TEST_FILES / "CT_small.dcm").read_bytes()), "window": [1, 0]}, 422, "validation-failed"),
    ({"input": b64(make_dicom(ct_slice(16), burned_in="YES")), "burned_in": "refuse"}, 422, "burned-in-annotation"),
    ({"input": b64(make_dicom(ct_slice(16))), "burned_in": "off"}, 422, "burned-in-off-not-allowed"),
    ({"input": b64(make_dicom(ct_slice(16))), "burned_in": "blur"}, 422, "validation-failed"),
])
def test_preprocess_errors_are_problem_json(app, body, status, code):
    r = request(app, "POST", "/v1/image/preprocess", json=body)
    assert r.status == status and r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code
    for value in PHI.values():
        assert value.encode() not in r.body


def test_deidentify_route_raw_json_and_multipart(app):
    raw = make_dicom(ct_slice(16), private=True)
    for kwargs in (
        {"body": raw, "headers": {"content-type": "application/dicom"}},
        {"json": {"input": b64(raw)}},
    ):
        r = request(app, "POST", "/v1/dicom/deidentify", **kwargs)
        assert r.status == 200 and r.headers["content-type"] == "application/dicom"
        assert b"Doe^Jane" not in r.body and b"MRN-0042-7731" not in r.body
        report = orjson.loads(r.headers["x-medinfer-deid-report"])
        assert report["private_removed"] >= 3 and report["uids_replaced"] >= 3
    form, ctype = multipart({}, raw)
    r = request(app, "POST", "/v1/dicom/deidentify", body=form, headers={"content-type": ctype})
    assert r.status == 200 and b"Doe^Jane" not in r.body


def test_deidentify_refuses_non_dicom(app):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, format="PNG")
    r = request(app, "POST", "/v1/dicom/deidentify", body=buf.getvalue(),
                headers={"content-type": "application/octet-stream"})
    assert r.status == 415 and r.json()["code"] == "unsupported-image-format"
