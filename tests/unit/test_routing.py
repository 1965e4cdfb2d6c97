import base64
import io

import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from medinfer.gateway.routing import InputKind, classify_input


def _png() -> str:
    buf = io.BytesIO()
    Image.new("L", (32, 32)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _jpeg() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buf, format="JPEG")
    return base64.b64encode(buf.getvalue()).decode()


def _dicom() -> str:
    path = get_testdata_file("CT_small.dcm")
    assert pydicom.dcmread(path).Modality == "CT"
    return base64.b64encode(open(path, "rb").read()).decode()


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("Patient seen today for chest pain, troponin negative.", InputKind.TEXT),
        ("x" * 400, InputKind.TEXT),
        ({"mean_radius": 14.0}, InputKind.TABULAR),
        ([1.0, 2.0, 3.0], InputKind.TABULAR),
        ([[1.0, 2.0], [3.0, 4.0]], InputKind.TABULAR),
        ({"datatype": "FP32", "shape": [1, 2], "data": [1, 2]}, InputKind.TENSOR),
        (None, InputKind.UNKNOWN),
        ([], InputKind.UNKNOWN),
        (42, InputKind.UNKNOWN),
    ],
)
def test_classify_by_structure(value, kind) -> None:
    assert classify_input(value) is kind


def test_images_are_recognised_by_their_bytes() -> None:
    assert classify_input(_png()) is InputKind.IMAGE
    assert classify_input(_jpeg()) is InputKind.IMAGE
    assert classify_input(_dicom()) is InputKind.DICOM
    # base64 of bytes that are not an image stays text
    assert classify_input(base64.b64encode(b"\x00" * 300).decode()) is InputKind.TEXT
