"""Burned-in PHI in pixels: policy, OCR masking on the image route, /v1/dicom/deidentify and the CLI.

Real Tesseract runs here (Debian ``tesseract-ocr``); frames are small so each OCR call
takes well under a second.
"""

from __future__ import annotations

import base64
import io
import logging

import numpy as np
import orjson
import pydicom
import pytest
import typer
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit
from typer.testing import CliRunner

from medinfer.cli.dicom import register
from medinfer.common.errors import ValidationFailed
from medinfer.preprocess.app import create_app
from medinfer.preprocess.imaging.burned_in import BurnedInPolicy, needs_ocr
from medinfer.preprocess.imaging.errors import BurnedInAnnotationRefused
from medinfer.preprocess.imaging.ocr import TesseractOcr
from medinfer.preprocess.settings import PreprocessSettings
from tests.support.asgi import request
from tests.support.burned_in import burn, text_mask, us_frame
from tests.support.dicom_factory import ct_slice, make_dicom

NAME, MRN, DOB = "KOWALSKI^MARTA", "48213377", "03/14/1962"
SECRET = "burned-in-test-secret-0123456789"
OCR = TesseractOcr()


def _lines(size: int = 14):
    """PHI values (the gold) first, then their labels, which are not PHI."""
    return [(NAME, (10, 8), "DejaVuSans.ttf", size), (MRN, (50, 30), "DejaVuSansMono.ttf", size),
            (DOB, (50, 52), "DejaVuSans.ttf", size),
            ("MRN", (10, 30), "DejaVuSansMono.ttf", size), ("DOB", (10, 52), "DejaVuSans.ttf", size)]


def _us(rows=200, cols=320, frames=1, seed=0):
    base = np.stack([us_frame(rows, cols, seed + i) for i in range(frames)])
    cov, boxes = text_mask((rows, cols), _lines())
    return burn(base, cov, 255), boxes[:3]


def _us_dicom(frames=3, **kw) -> tuple[bytes, list]:
    px, boxes = _us(frames=frames)
    extra = {"PatientName": NAME, "PatientID": MRN, "PatientBirthDate": "19620314"}
    return make_dicom(px if frames > 1 else px[0], modality="US", extra=extra, **kw), boxes


def _read_text(gray: np.ndarray) -> str:
    return " ".join(w.text for w in OCR.words(gray)).upper()


def _assert_unreadable(frame: np.ndarray) -> None:
    text = _read_text(frame)
    for secret in ("KOWALSKI", "MARTA", MRN, "1962"):
        assert secret not in text


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    return create_app(PreprocessSettings(home=home, dicom_deid_secret=SECRET))


def test_policy_resolution_by_modality_sop_class_and_request():
    policy = BurnedInPolicy()
    assert policy.resolve(raster=True) == "mask"
    assert policy.resolve(raster=False, modality="US") == "mask"
    assert policy.resolve(raster=False, modality="CT") == "auto"
    assert policy.resolve(raster=False, modality="CT", sop_class="1.2.840.10008.5.1.4.1.1.7") == "mask"
    assert policy.resolve(raster=False, modality="CT", requested="refuse") == "refuse"
    with pytest.raises(ValidationFailed):
        policy.resolve(raster=False, modality="CT", requested="off")
    assert BurnedInPolicy(allow_off=True).resolve(raster=True, requested="off") == "off"
    with pytest.raises(ValueError):
        BurnedInPolicy({"US": "off"})
    assert not needs_ocr("auto", False) and needs_ocr("auto", True) and needs_ocr("mask", False)
    assert not needs_ocr("off", True)
    with pytest.raises(BurnedInAnnotationRefused):
        needs_ocr("refuse", True)


def test_image_route_masks_png_text_before_the_tensor(app):
    px, _ = _us()
    buf = io.BytesIO()
    Image.fromarray(px[0]).save(buf, format="PNG")
    decoded = app.state.imaging.preprocessor.decode(buf.getvalue())
    assert decoded.info["burned_in"]["policy"] == "mask" and decoded.info["burned_in"]["masked_boxes"] >= 3
    _assert_unreadable(np.rint(decoded.pixels * 255).astype(np.uint8))
    r = request(app, "POST", "/v1/image/preprocess", body=buf.getvalue(),
                headers={"content-type": "image/png", "accept": "application/json"})
    assert r.status == 200, r.body
    assert r.json()["image"]["burned_in"]["masked_boxes"] >= 3


def test_ct_without_flag_is_not_read_and_flagged_ct_is_masked(app):
    r = request(app, "POST", "/v1/image/preprocess", json={"input": base64.b64encode(make_dicom(ct_slice(32))).decode()},
                headers={"accept": "application/json"})
    assert r.status == 200 and r.json()["image"]["burned_in"] == {
        "policy": "auto", "ocr": False, "frames_read": 0, "words": 0, "masked_boxes": 0}
    raw = make_dicom(ct_slice(32), burned_in="YES")
    r = request(app, "POST", "/v1/image/preprocess", json={"input": base64.b64encode(raw).decode()},
                headers={"accept": "application/json"})
    assert r.status == 200 and r.json()["image"]["burned_in"]["ocr"] is True


def test_deidentify_masks_every_frame_of_a_multiframe_ultrasound(app, caplog):
    raw, boxes = _us_dicom(frames=3)
    with caplog.at_level(logging.DEBUG):
        r = request(app, "POST", "/v1/dicom/deidentify", body=raw, headers={"content-type": "application/dicom"})
    assert r.status == 200
    report = orjson.loads(r.headers["x-medinfer-deid-report"])
    assert report["pixels"]["policy"] == "mask" and report["pixels"]["frames_read"] == 3
    ds = pydicom.dcmread(io.BytesIO(r.body))
    assert ds.BurnedInAnnotation == "NO" and ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert "113101" in [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert "Clean Pixel Data Option" in list(ds.DeidentificationMethod)
    frames = ds.pixel_array
    assert frames.shape == (3, 200, 320)
    for frame in frames:
        _assert_unreadable(frame)
        for left, top, width, height in boxes:  # every gold box filled with one value
            assert np.ptp(frame[top:top + height, left:left + width]) == 0
    for secret in ("KOWALSKI", MRN, "1962"):
        assert secret not in caplog.text and secret.encode() not in r.body


def _jpeg_dicom() -> bytes:
    px, _ = _us(rows=160, cols=320)
    buf = io.BytesIO()
    Image.fromarray(px[0]).save(buf, format="JPEG", quality=92)
    ds = pydicom.dcmread(io.BytesIO(make_dicom(px[0], modality="OT", extra={"PatientName": NAME})))
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_deidentify_masks_a_jpeg_compressed_dicom_and_writes_it_uncompressed(app):
    r = request(app, "POST", "/v1/dicom/deidentify", body=_jpeg_dicom(), headers={"content-type": "application/dicom"})
    assert r.status == 200, r.body
    ds = pydicom.dcmread(io.BytesIO(r.body))
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.BurnedInAnnotation == "NO" and ds.LossyImageCompression == "01"
    _assert_unreadable(ds.pixel_array)


def test_refuse_policy_is_422_and_returns_nothing(app):
    raw, _ = _us_dicom(frames=1)
    for path in ("/v1/dicom/deidentify", "/v1/image/preprocess"):
        r = request(app, "POST", path, json={"input": base64.b64encode(raw).decode(), "burned_in": "refuse"})
        assert r.status == 422 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "burned-in-annotation"
        assert b"KOWALSKI" not in r.body and MRN.encode() not in r.body and b"DICM" not in r.body
    clean = make_dicom(ct_slice(32), modality="CT")
    r = request(app, "POST", "/v1/dicom/deidentify", json={"input": base64.b64encode(clean).decode(),
                                                          "burned_in": "refuse"})
    assert r.status == 200  # OCR ran and found no PHI: nothing to refuse


@pytest.mark.parametrize("overrides", [{"image_ocr_command": "/nonexistent/tesseract"},
                                       {"image_ocr_timeout_s": 0.001}])
def test_ocr_unavailable_fails_closed_with_503(tmp_path, overrides):
    app = create_app(PreprocessSettings(home=tmp_path, dicom_deid_secret=SECRET, deid_enabled=False, **overrides))
    raw, _ = _us_dicom(frames=1)
    for path in ("/v1/dicom/deidentify", "/v1/image/preprocess"):
        r = request(app, "POST", path, body=raw, headers={"content-type": "application/dicom"})
        assert r.status == 503 and r.json()["code"] == "ocr-unavailable"
        assert b"KOWALSKI" not in r.body and b"DICM" not in r.body
    ct = make_dicom(ct_slice(32))  # CT needs no OCR under the default policy: still served
    r = request(app, "POST", "/v1/image/preprocess", body=ct, headers={"content-type": "application/dicom"})
    assert r.status == 200


def test_cli_masks_burned_in_phi(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDINFER_PREPROCESS_DICOM_DEID_SECRET", SECRET)
    monkeypatch.setenv("MEDINFER_HOME", str(tmp_path / "home"))
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    raw, _ = _us_dicom(frames=2)
    (src / "us.dcm").write_bytes(raw)
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """root"""

    register(app)
    result = CliRunner().invoke(app, ["dicom", "deid", str(src), str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "pixels_masked: 1" in result.output and "KOWALSKI" not in result.output
    (written,) = list(out.rglob("*.dcm"))
    ds = pydicom.dcmread(written)
    assert ds.BurnedInAnnotation == "NO"
    for frame in ds.pixel_array:
        _assert_unreadable(frame)
    result = CliRunner().invoke(app, ["dicom", "deid", str(src), str(tmp_path / "o2"), "--no-progress",
                                      "--burned-in", "refuse"])
    assert result.exit_code == 2 and "error:burned-in-annotation: 1" in result.output
