"""Pixel chain: modality LUT, VOI window, MONOCHROME1, multi-frame, codecs, tensor targets."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from medinfer.preprocess.imaging import ImagePreprocessor, ImageTarget, detect_format
from medinfer.preprocess.imaging.errors import FrameOutOfRange
from tests.support.dicom_factory import ct_slice, make_dicom

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
PRE = ImagePreprocessor()


def data(name: str) -> bytes:
    return (TEST_FILES / name).read_bytes()


def test_format_detection_uses_magic_bytes_only():
    assert detect_format(data("CT_small.dcm")) == "dicom"
    png = io.BytesIO()
    Image.new("L", (4, 4)).save(png, format="PNG")
    assert detect_format(png.getvalue()) == "png"
    jpg = io.BytesIO()
    Image.new("RGB", (4, 4)).save(jpg, format="JPEG")
    assert detect_format(jpg.getvalue()) == "jpeg"


def test_rescale_then_window_matches_pydicom_and_spans_unit_range():
    stored = ct_slice(64)
    raw = make_dicom(stored, slope=1.0, intercept=-1024.0, window=(40.0, 400.0))
    out = PRE.decode(raw).pixels
    ds = pydicom.dcmread(io.BytesIO(raw))
    ref = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
    lo, hi = apply_voi_lut(np.array([-1e9, 1e9]), ds)
    np.testing.assert_allclose(out, (ref - lo) / (hi - lo), atol=1e-5)
    hu = stored.astype(float) - 1024
    assert np.all(out[hu <= 40 - 0.5 - 199.5] == 0.0)  # below the window -> black
    assert np.all(out[hu > 40 - 0.5 + 199.5] == 1.0)  # above -> white


def test_window_override_changes_the_result():
    raw = make_dicom(ct_slice(64), slope=1.0, intercept=-1024.0, window=(40.0, 400.0))
    soft = PRE.decode(raw).pixels
    lung = PRE.decode(raw, window=(-600.0, 1500.0)).pixels
    assert not np.allclose(soft, lung)
    assert lung.min() >= 0 and lung.max() <= 1


def test_rescale_slope_and_intercept_are_applied():
    stored = np.array([[0, 100], [200, 300]], dtype=np.uint16)
    a = PRE.decode(make_dicom(stored, slope=2.0, intercept=-50.0, window=(250.0, 500.0))).pixels
    b = PRE.decode(make_dicom(stored, window=(250.0, 500.0))).pixels
    assert not np.allclose(a, b)
    # stored 300 -> 550 HU, above the window's top (500) only when the slope is applied
    assert a[1, 1] == 1.0 and b[1, 1] < 1.0


def test_monochrome1_is_inverted():
    stored = (np.arange(64 * 64).reshape(64, 64) % 4096).astype(np.uint16)
    m2 = PRE.decode(make_dicom(stored, photometric="MONOCHROME2", modality="CR")).pixels
    m1 = PRE.decode(make_dicom(stored, photometric="MONOCHROME1", modality="CR")).pixels
    np.testing.assert_allclose(m1, 1.0 - m2, atol=1e-6)


def test_no_voi_scales_by_frame_min_max():
    stored = np.array([[10, 20], [30, 50]], dtype=np.uint16)
    out = PRE.decode(make_dicom(stored, modality="MR")).pixels
    np.testing.assert_allclose(out, (stored - 10) / 40.0, atol=1e-6)


def test_multiframe_frame_selection_and_default_middle_frame():
    frames = np.stack([np.full((8, 8), v, np.uint16) for v in (0, 100, 200)])
    frames[:, 0, 0], frames[:, 0, 1] = 300, 0  # every frame spans 0..300
    raw = make_dicom(frames, modality="XA")
    for i, v in enumerate((0, 100, 200)):
        d = PRE.decode(raw, frame=i)
        assert d.info["frame"] == i and d.info["frames"] == 3
        assert d.pixels[4, 4] == pytest.approx(v / 300 if v else 0.0)
    assert PRE.decode(raw).info["frame"] == 1
    with pytest.raises(FrameOutOfRange):
        PRE.decode(raw, frame=3)


def test_pydicom_multiframe_file_selects_the_requested_frame():
    raw = data("examples_ybr_color.dcm")
    ds = pydicom.dcmread(io.BytesIO(raw))
    a, b = PRE.decode(raw, frame=0).pixels, PRE.decode(raw, frame=20).pixels
    assert a.shape == b.shape == (int(ds.Rows), int(ds.Columns), 3)
    assert not np.allclose(a, b)


@pytest.mark.parametrize("name", [
    "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_bigendian.dcm", "MR_small_implicit.dcm",
])
def test_compressed_transfer_syntaxes_decode_to_the_same_image(name):
    ref = PRE.decode(data("MR_small.dcm")).pixels
    np.testing.assert_allclose(PRE.decode(data(name)).pixels, ref, atol=1e-6)


@pytest.mark.parametrize("name", ["JPGExtended.dcm", "JPEG2000.dcm", "SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_rle.dcm",
                                  "examples_palette.dcm", "693_J2KI.dcm"])
def test_lossy_and_colour_files_decode(name):
    px = PRE.decode(data(name)).pixels
    assert px.dtype == np.float32 and px.min() >= 0 and px.max() <= 1 and px.max() > px.min()


def test_ct_small_uses_its_rescale():
    raw = data("CT_small.dcm")
    ds = pydicom.dcmread(io.BytesIO(raw))
    hu = apply_modality_lut(ds.pixel_array, ds)
    out = PRE.decode(raw).pixels
    np.testing.assert_allclose(out, (hu - hu.min()) / (hu.max() - hu.min()), atol=1e-5)


@pytest.mark.parametrize("dims,shape", [
    ((1, 32, 48), (1, 1, 32, 48)), ((3, 16, 16), (1, 3, 16, 16)), ((16, 16), (1, 16, 16)),
    ((20, 24, 3), (1, 20, 24, 3)),
])
def test_tensor_targets(dims, shape):
    t = ImageTarget("x", "FP32", dims)
    out = PRE.preprocess(data("CT_small.dcm"), t).tensor
    assert out.shape == shape and out.dtype == np.float32 and out.flags.c_contiguous


def test_uint8_and_fp16_targets_and_normalization():
    raw = data("MR_small.dcm")
    u8 = PRE.preprocess(raw, ImageTarget("x", "UINT8", (1, 64, 64))).tensor
    f32 = PRE.preprocess(raw, ImageTarget("x", "FP32", (1, 64, 64))).tensor
    np.testing.assert_array_equal(u8, np.rint(f32 * 255).astype(np.uint8))
    norm = PRE.preprocess(raw, ImageTarget("x", "FP16", (1, 64, 64), mean=(0.5,), std=(0.25,))).tensor
    assert norm.dtype == np.float16
    np.testing.assert_allclose(norm.astype(np.float32), (f32 - 0.5) / 0.25, atol=2e-2)


def test_rgb_to_grey_uses_bt601_weights():
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 255
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, format="PNG")
    out = PRE.preprocess(png.getvalue(), ImageTarget("x", "FP32", (1, 8, 8))).tensor
    np.testing.assert_allclose(out, 0.299, atol=1e-5)


def test_sixteen_bit_png():
    arr = (np.arange(16 * 16).reshape(16, 16) * 200).astype(np.uint16)
    png = io.BytesIO()
    Image.fromarray(arr).save(png, format="PNG")
    out = PRE.decode(png.getvalue()).pixels
    np.testing.assert_allclose(out, arr / 65535.0, atol=1e-6)
