"""Bad input -> a typed 4xx, before any large allocation; nothing else escapes."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate

from medinfer.common.errors import MedinferError, PayloadTooLarge
from medinfer.preprocess.imaging import ImageLimits, ImagePreprocessor
from medinfer.preprocess.imaging.errors import (
    BurnedInAnnotationRefused,
    CorruptImage,
    ImageTooLarge,
    NoPixelData,
    TooManyFrames,
    UnsupportedImageFormat,
    UnsupportedTransferSyntax,
)
from tests.support.dicom_factory import PHI, ct_slice, make_dicom

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
PRE = ImagePreprocessor()


def _check(exc: MedinferError, status: int) -> None:
    assert exc.status == status
    for value in PHI.values():  # no header value ever appears in an error
        assert value not in exc.detail


@pytest.mark.parametrize("payload", [b"", b"hello", b"GIF89a" + b"\0" * 200, b"%PDF-1.7" + b"\0" * 300,
                                     b"\0" * 128 + b"DICX" + b"\0" * 10])
def test_not_an_image_is_415(payload):
    with pytest.raises(UnsupportedImageFormat) as e:
        PRE.decode(payload)
    _check(e.value, 415)


def test_dicom_without_part10_header_is_415():
    with pytest.raises(UnsupportedImageFormat):
        PRE.decode((TEST_FILES / "no_meta.dcm").read_bytes())


def test_truncated_pixel_data_is_422():
    with pytest.raises(CorruptImage) as e:
        PRE.decode((TEST_FILES / "MR_truncated.dcm").read_bytes())
    _check(e.value, 422)


def test_truncated_file_is_422():
    raw = make_dicom(ct_slice(64))
    for cut in (140, 400, len(raw) // 2, len(raw) - 3):
        with pytest.raises(MedinferError) as e:
            PRE.decode(raw[:cut])
        assert 400 <= e.value.status < 500


def test_no_pixel_data_is_422():
    with pytest.raises(NoPixelData):
        PRE.decode((TEST_FILES / "rtplan.dcm").read_bytes())


def test_unsupported_transfer_syntax_is_415():
    raw = make_dicom(ct_slice(16))
    ds = pydicom.dcmread(io.BytesIO(raw))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no decoder
    ds.PixelData = encapsulate([b"\0" * 64])
    ds["PixelData"].VR = "OB"
    buf = io.BytesIO()
    ds.save_as(buf)
    with pytest.raises(UnsupportedTransferSyntax) as e:
        PRE.decode(buf.getvalue())
    _check(e.value, 415)


def test_decompression_bomb_dicom_refused_before_decoding():
    # 8 bytes of pixels declaring a 60000 x 60000 frame.
    raw = make_dicom(np.zeros((2, 2), np.uint16), declared={"Rows": 60000, "Columns": 60000})
    tracemalloc.start()
    with pytest.raises(ImageTooLarge) as e:
        PRE.decode(raw)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    _check(e.value, 413)
    assert peak < 20 * 1024 * 1024


def test_declared_payload_over_the_decoded_limit_is_413():
    pre = ImagePreprocessor(ImageLimits(max_decoded_bytes=1000))
    with pytest.raises(ImageTooLarge):
        pre.decode(make_dicom(ct_slice(32)))


def test_too_many_frames_is_413():
    pre = ImagePreprocessor(ImageLimits(max_frames=4))
    frames = np.zeros((5, 4, 4), np.uint16)
    with pytest.raises(TooManyFrames) as e:
        pre.decode(make_dicom(frames))
    _check(e.value, 413)


def test_png_bomb_is_413_before_load():
    img = Image.new("1", (6000, 6000))  # a few kB compressed, 36 Mpx declared (limit 16.7 Mpx)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    with pytest.raises(ImageTooLarge):
        PRE.decode(buf.getvalue())


def test_truncated_png_and_jpeg_are_422():
    for fmt in ("PNG", "JPEG"):
        buf = io.BytesIO()
        Image.fromarray((np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)).save(buf, format=fmt)
        raw = buf.getvalue()
        with pytest.raises(CorruptImage):
            PRE.decode(raw[: len(raw) // 2])


def test_input_over_byte_limit_is_413():
    pre = ImagePreprocessor(ImageLimits(max_input_bytes=100))
    with pytest.raises(PayloadTooLarge):
        pre.decode(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)


def test_burned_in_annotation_refused_unless_policy_allows():
    raw = make_dicom(ct_slice(32), burned_in="YES")
    with pytest.raises(BurnedInAnnotationRefused) as e:
        PRE.decode(raw)
    _check(e.value, 422)
    assert ImagePreprocessor(allow_burned_in=True).decode(raw).pixels.shape == (32, 32)
    assert PRE.decode(make_dicom(ct_slice(32), burned_in="NO")).pixels.shape == (32, 32)
