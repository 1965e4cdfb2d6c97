"""Fuzz the DICOM and image parsing paths: every input ends in success or a 4xx, never
another exception. Budgets are bounded (max_examples, no deadline) to keep the suite fast."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import pydicom
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from medinfer.common.errors import MedinferError
from medinfer.preprocess.dicom_deid import DicomDeidentifier, KeyedMapper
from medinfer.preprocess.imaging import ImageLimits, ImagePreprocessor, ImageTarget
from tests.support.dicom_factory import make_dicom

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
PRE = ImagePreprocessor(ImageLimits(max_pixels=1024 * 1024, max_frames=64, max_decoded_bytes=64 * 1024 * 1024))
TARGET = ImageTarget("image", "FP32", (1, 32, 32))
DEID = DicomDeidentifier(KeyedMapper("fuzz-secret-0123456789abcdef"))
FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.arange(32 * 32).reshape(32, 32) % 251).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.arange(32 * 32 * 3).reshape(32, 32, 3) % 253).astype(np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


SEEDS = [
    (TEST_FILES / "CT_small.dcm").read_bytes(),
    (TEST_FILES / "MR_small_RLE.dcm").read_bytes(),
    (TEST_FILES / "MR_small_jp2klossless.dcm").read_bytes(),
    (TEST_FILES / "SC_rgb_small_odd_jpeg.dcm").read_bytes(),
    make_dicom(np.arange(3 * 8 * 8, dtype=np.uint16).reshape(3, 8, 8), window=(50.0, 100.0)),
    _png(),
    _jpeg(),
]


def _outcome(fn, data: bytes) -> None:
    try:
        fn(data)
    except MedinferError as exc:
        assert 400 <= exc.status < 500, (type(exc).__name__, exc.status)


@st.composite
def mutated(draw):
    seed = draw(st.sampled_from(SEEDS))
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.integers(0, 3))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == 0:  # flip a byte
            data[pos] = draw(st.integers(0, 255))
        elif kind == 1:  # truncate
            data = data[: max(pos, 1)]
        elif kind == 2:  # insert junk
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:  # overwrite a little-endian length or value with an extreme number
            data[pos : pos + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\x00\x00"]))
    return bytes(data)


@FUZZ
@given(mutated())
def test_preprocess_never_raises_anything_but_4xx(data):
    _outcome(lambda d: PRE.preprocess(d, TARGET), data)


@FUZZ
@given(mutated())
def test_deidentify_never_raises_anything_but_4xx(data):
    if data[128:132] == b"DICM":
        _outcome(DEID.deidentify_bytes, data)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_behind_a_dicom_preamble(tail):
    _outcome(lambda d: PRE.preprocess(d, TARGET), b"\0" * 128 + b"DICM" + tail)


header_values = st.fixed_dictionaries({
    "Rows": st.integers(0, 65535), "Columns": st.integers(0, 65535),
    "NumberOfFrames": st.one_of(st.integers(-2, 5000), st.just("")),
    "BitsAllocated": st.sampled_from([0, 1, 8, 12, 16, 32, 64, 65535]),
    "BitsStored": st.integers(0, 40), "SamplesPerPixel": st.integers(0, 4),
    "PhotometricInterpretation": st.sampled_from(["MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR", "HSV", ""]),
    "PixelRepresentation": st.integers(0, 2),
    "WindowCenter": st.floats(-1e6, 1e6),
    "WindowWidth": st.one_of(st.floats(-10, 1e6), st.just("")),
    "RescaleSlope": st.floats(-1e3, 1e3), "RescaleIntercept": st.floats(-1e6, 1e6),
    "VOILUTFunction": st.sampled_from(["LINEAR", "LINEAR_EXACT", "SIGMOID", "BOGUS"]),
})


@FUZZ
@given(header_values)
def test_hostile_pixel_headers(declared):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about the invalid values we want written
            raw = make_dicom(np.zeros((4, 4), np.uint16), declared=declared)
    except Exception:
        return  # pydicom refused to write this combination; nothing to parse
    _outcome(lambda d: PRE.preprocess(d, TARGET), raw)


def test_unparseable_integer_string_is_422():
    raw = (TEST_FILES / "badVR.dcm").read_bytes()  # NumberOfFrames '1A'
    _outcome(lambda d: PRE.preprocess(d, TARGET), raw)


def test_rust_decoder_panic_is_a_422():
    """A corrupt RLE segment (found by the fuzzer) makes pylibjpeg-rle panic with a BaseException."""
    data = (Path(__file__).resolve().parents[1] / "data" / "dicom" / "rle_decoder_panic.dcm").read_bytes()
    with pytest.raises(MedinferError) as info:
        PRE.preprocess(data, TARGET)
    assert info.value.status == 422 and info.value.code == "corrupt-image"
