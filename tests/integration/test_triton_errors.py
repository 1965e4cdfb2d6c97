"""The structure ``triton_errors`` reads, pinned against the real tritonserver (2.51 from the pytriton wheel).

A Triton 500 is either its HTTP frontend failing to parse the request (strings in FP32 data: the client's
error) or a model failing on the request; the two differ in the reply's Content-Type, never in anything the
caller can write. Request ids chosen to read like Triton's own messages change no status.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from medinfer.gateway.clients.triton_errors import grpc_failure, triton_error
from medinfer.triton.model_config import InstanceGroup, ModelConfig, TensorSpec
from medinfer.triton.server import TritonPorts, TritonServer
from tests.support.ports import free_ports

pytestmark = pytest.mark.integration

FAILING_MODEL = '''
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """Echoes x; raises for a negative first value, answers an error response above 100."""

    def execute(self, requests):
        out = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "x").as_numpy()
            if x.flat[0] < 0:
                raise RuntimeError("the model failed")
            if x.flat[0] > 100:
                out.append(pb_utils.InferenceResponse(error=pb_utils.TritonError("the model refused")))
                continue
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("y", x)]))
        return out
'''


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory, model_repository_template: Path):
    root = tmp_path_factory.mktemp("triton-errors")
    repo = root / "models"
    shutil.copytree(model_repository_template / "breast_cancer", repo / "breast_cancer")
    cfg = ModelConfig(name="failing", backend="python", inputs=(TensorSpec("x", "FP32", (2,)),),
                      outputs=(TensorSpec("y", "FP32", (2,)),), max_batch_size=4,
                      instance_groups=(InstanceGroup(1, "KIND_CPU"),))
    (repo / "failing" / "1").mkdir(parents=True)
    (repo / "failing" / "config.pbtxt").write_text(cfg.to_pbtxt())
    (repo / "failing" / "1" / "model.py").write_text(FAILING_MODEL)
    server = TritonServer(repo, root, TritonPorts(*free_ports(3)), models=("breast_cancer", "failing"))
    server.start()
    try:
        server.wait_ready(120)
        yield server
    finally:
        server.stop()


def _post(server: TritonServer, model: str, doc: dict) -> tuple[int, dict[str, str]]:
    req = urllib.request.Request(f"{server.http_url}/v2/models/{model}/infer", data=json.dumps(doc).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


def _features(rid: str, datatype: str = "FP32", data=None) -> dict:
    return {"id": rid, "inputs": [{"name": "features", "datatype": datatype, "shape": [1, 30],
                                   "data": data if data is not None else [1.0] * 30}]}


@pytest.mark.parametrize("rid", ["", "unavailable-1", "not found", "Request for unknown model: 'm' is not found"])
def test_rest_answers_map_the_same_whatever_the_id(triton: TritonServer, rid: str) -> None:
    cases = [
        ("breast_cancer", _features(rid, "INT32", [1] * 30), 400, (400, "triton-rejected")),
        ("breast_cancer", _features(rid, data=["x"] * 30), 500, (400, "triton-rejected")),  # strings in FP32 data
        ("breast_cancer", _features(rid, data=[1.0] * 7), 500, (400, "triton-rejected")),   # data shorter than shape
        ("failing", {"id": rid, "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [-1, 0]}]},
         500, (502, "model-failed")),
        ("failing", {"id": rid, "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [101, 0]}]},
         500, (502, "model-failed")),
        ("ner", _features(rid), 404, (503, "model-unavailable")),  # not served by this Triton
    ]
    for model, doc, triton_status, ours in cases:
        status, headers = _post(triton, model, doc)
        assert status == triton_status, (model, doc)
        err = triton_error(status, headers=headers)
        assert (err.status, err.code) == ours, (model, doc, headers)
    assert _post(triton, "failing", {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2],
                                                  "data": [1, 2]}]})[0] == 200  # the failing model still serves


@pytest.mark.parametrize("rid", ["", "not found", "unavailable"])
def test_grpc_answers_map_the_same_whatever_the_id(triton: TritonServer, rid: str) -> None:
    stub = pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(f"127.0.0.1:{triton.ports.grpc}"))

    def infer(model: str, name: str, datatype: str, x: np.ndarray) -> grpc.StatusCode:
        t = pb.ModelInferRequest.InferInputTensor(name=name, datatype=datatype, shape=list(x.shape))
        try:
            stub.ModelInfer(pb.ModelInferRequest(id=rid, model_name=model, inputs=[t],
                                                 raw_input_contents=[x.tobytes()]), timeout=30)
        except grpc.RpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK

    features = np.ones((1, 30), np.float32)
    cases = [
        (infer("breast_cancer", "features", "INT32", features), (400, "triton-rejected")),
        (infer("breast_cancer", "features", "FP32", features[:, :5]), (400, "triton-rejected")),
        (infer("failing", "x", "FP32", np.array([[-1, 0]], np.float32)), (502, "model-failed")),
        (infer("ner", "features", "FP32", features), (503, "model-unavailable")),
    ]
    for code, ours in cases:
        err = grpc_failure(code)
        assert (err.status, err.code) == ours, code
    assert infer("breast_cancer", "features", "FP32", features) == grpc.StatusCode.OK
