"""The data plane's per-kind admission of /v2 and gRPC inferences, with fakes (no server), and the codecs it uses:
body decoding (gzip/deflate, bounded), de-identified text put back in place, the OOD flag on NaN answers."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib

import numpy as np
import orjson
import pytest
from tritonclient.grpc import service_pb2 as pb

from medinfer.common.errors import MedinferError
from medinfer.common.http import decode_content
from medinfer.common.v2 import split_body
from medinfer.gateway.dataplane import (
    DataPlane,
    ImageModelNeedsInfer,
    rewrite_grpc_texts,
    rewrite_rest_texts,
    wire_bytes,
)
from medinfer.gateway.pipelines import CleanTexts
from medinfer.gateway.resilience import Deadline
from medinfer.gateway.v2_ood import flag_rest_response
from medinfer.gateway.v2_validation import InvalidTensor, TensorLimits, grpc_views, rest_views
from medinfer.monitoring import OodDecision
from medinfer.triton.catalog import CatalogEntry
from medinfer.triton.model_config import ModelConfig, TensorSpec

TEXT_CFG = ModelConfig("note_embedding", "python", (TensorSpec("TEXT", "BYTES", (1,)),),
                       (TensorSpec("EMBEDDING", "FP32", (4,)),), max_batch_size=8)
TAB_CFG = ModelConfig("bc", "python", (TensorSpec("features", "FP32", (3,)),), (TensorSpec("p", "FP32", (1,)),),
                      max_batch_size=8)
TEXT = CatalogEntry("note_embedding", 1, {"kind": "text", "input": {"name": "TEXT"}}, TEXT_CFG)
IMAGE = CatalogEntry("image_quality", 1, {"kind": "image"}, None)
TABULAR = CatalogEntry("bc", 1, {"kind": "tabular", "input": {"name": "features"}}, TAB_CFG)


class FakeText:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def clean(self, texts, deadline, headers, patient_key, gate):
        self.calls.append(list(texts))
        return CleanTexts([f"[clean {i}]" for i in range(len(texts))], {"NAME": len(texts)}, None)


class FakeMediaOod:
    def text_gate(self, entry):
        return None


class FakeService:
    def __init__(self, monitored: bool = False) -> None:
        self.text = FakeText()
        self.media_ood = FakeMediaOod()
        self.monitored = monitored
        self.gated: list[np.ndarray] = []

    def monitors_tabular(self, entry) -> bool:
        return self.monitored

    def gate_tabular(self, entry, x):
        self.gated.append(x)
        return OodDecision(True, "out-of-support", (0,))


def admit(svc: FakeService, entry: CatalogEntry, header: dict, tail: bytes = b""):
    plane = DataPlane(svc, TensorLimits())
    views, outputs, _ = rest_views(header, tail)
    return asyncio.run(plane.admit_v2(entry, views, outputs, features=lambda: np.ones((1, 3), np.float32),
                                      deadline=Deadline(5), headers=None, patient_key=None))


NOTE = "Patient John Smith, MRN 123456"


def test_text_is_deidentified_and_put_back_in_the_same_form() -> None:
    svc = FakeService()
    header = {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [2, 1], "data": [[NOTE], [NOTE]]}],
              "id": "x"}
    adm = admit(svc, TEXT, header)
    assert svc.text.calls == [[NOTE, NOTE]] and adm.phi_counts == {"NAME": 2}
    body, hl = rewrite_rest_texts(header, b"", [(-1, -1)], adm.texts)
    assert hl is None and NOTE.encode() not in body
    assert orjson.loads(body)["inputs"][0] == {"name": "TEXT", "datatype": "BYTES", "shape": [2, 1],
                                               "data": ["[clean 0]", "[clean 1]"]}
    raw = wire_bytes([NOTE])
    header = {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [1, 1],
                          "parameters": {"binary_data_size": len(raw)}}]}
    adm = admit(svc, TEXT, header, raw)
    body, hl = rewrite_rest_texts(header, raw, [(0, len(raw))], adm.texts)
    new_header, tail = split_body(body, str(hl))
    assert tail == wire_bytes(["[clean 0]"]) and NOTE.encode() not in body
    assert new_header["inputs"][0]["parameters"]["binary_data_size"] == len(tail)


@pytest.mark.parametrize("form", ["raw", "typed"])
def test_grpc_text_is_replaced_in_place(form: str) -> None:
    svc = FakeService()
    req = pb.ModelInferRequest(model_name="note_embedding")
    t = req.inputs.add(name="TEXT", datatype="BYTES", shape=[1, 1])
    if form == "raw":
        req.raw_input_contents.append(wire_bytes([NOTE]))
    else:
        t.contents.bytes_contents.append(NOTE.encode())
    views, outputs = grpc_views(req)
    adm = asyncio.run(DataPlane(svc, TensorLimits()).admit_v2(
        TEXT, views, outputs, features=lambda: None, deadline=Deadline(5), headers=None, patient_key=None))
    rewrite_grpc_texts(req, adm.texts)
    assert NOTE.encode() not in req.SerializeToString()


def test_non_utf8_text_is_400_and_never_deidentified_or_forwarded() -> None:
    svc = FakeService()
    raw = wire_bytes(["x"])[:4] + b"\xff"
    with pytest.raises(InvalidTensor):
        admit(svc, TEXT, {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [1, 1],
                                      "parameters": {"binary_data_size": len(raw)}}]}, raw)
    assert svc.text.calls == []


def test_invalid_requests_stop_before_any_upstream() -> None:
    svc = FakeService(monitored=True)
    with pytest.raises(InvalidTensor):
        admit(svc, TEXT, {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [9, 1], "data": ["a"] * 9}]})
    with pytest.raises(InvalidTensor):
        admit(svc, TABULAR, {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 4], "data": [0] * 4}]})
    assert svc.text.calls == [] and svc.gated == []


def test_image_models_are_refused_naming_infer() -> None:
    with pytest.raises(ImageModelNeedsInfer) as info:
        admit(FakeService(), IMAGE, {"inputs": [{"name": "image", "datatype": "FP32", "shape": [1], "data": [0]}]})
    assert info.value.status == 400 and "POST /infer" in info.value.detail


def test_monitored_tabular_is_gated_and_others_are_only_validated() -> None:
    svc = FakeService(monitored=True)
    header = {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}
    assert admit(svc, TABULAR, header).ood.reason == "out-of-support" and len(svc.gated) == 1
    plain = FakeService()
    adm = admit(plain, TABULAR, header)
    assert adm.ood is None and adm.texts is None and plain.gated == []


def test_a_model_without_a_config_is_not_forwarded() -> None:
    entry = CatalogEntry("bc", 1, {"kind": "tabular"}, None)
    with pytest.raises(MedinferError) as info:
        admit(FakeService(), entry, {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 3],
                                                 "data": [1, 2, 3]}]})
    assert info.value.status == 503


def test_content_encodings_are_decoded_within_the_limit() -> None:
    body = b'{"inputs": []}'
    assert decode_content(gzip.compress(body), "gzip", 100) == body
    assert decode_content(zlib.compress(body), "deflate", 100) == body
    assert decode_content(body, None, 100) == body
    bomb = gzip.compress(b"0" * 10_000_000)
    with pytest.raises(MedinferError) as info:
        decode_content(bomb, "gzip", 1_000_000)
    assert info.value.status == 413
    for data, coding, status in ((b"not gzip", "gzip", 400), (gzip.compress(body)[:-8], "gzip", 400),
                                 (body, "br", 415)):
        with pytest.raises(MedinferError) as info:
            decode_content(data, coding, 100)
        assert info.value.status == status


def test_a_flagged_answer_with_nan_keeps_triton_s_values() -> None:
    body = b'{"model_name":"bc","model_version":"1","outputs":[{"name":"p","datatype":"FP32","shape":[1,1],' \
           b'"data":[NaN]}]}'
    out, hl = flag_rest_response(body, None, OodDecision(True, "non-finite", (0,)))
    doc = json.loads(out)
    assert hl is None and np.isnan(doc["outputs"][0]["data"][0])
    assert doc["parameters"] == {"ood": True, "ood_reason": "non-finite", "ood_rows": "0"}
