"""Triton Python-backend model that runs ``model.onnx`` with ONNX Runtime.

Copied as ``model.py`` into each version folder. Triton's dynamic batcher hands
``execute`` several requests at once: their inputs are concatenated along the
batch axis, run in one ONNX Runtime call, and split back per request.
This file runs inside Triton's stub process: it may import only numpy,
onnxruntime and ``triton_python_backend_utils``.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.config = json.loads(args["model_config"])
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        opts = ort.SessionOptions()
        threads = int(self.config.get("parameters", {}).get("ORT_INTRA_OP_THREADS", {}).get("string_value", "1"))
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            os.path.join(version_dir, "model.onnx"), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i["name"] for i in self.config["input"]]
        self.output_names = [o["name"] for o in self.config["output"]]
        self.output_dtypes = {
            o["name"]: pb_utils.triton_string_to_numpy(o["data_type"]) for o in self.config["output"]
        }

    def execute(self, requests):
        feeds = {name: [] for name in self.input_names}
        sizes = []
        for request in requests:
            n = None
            for name in self.input_names:
                arr = pb_utils.get_input_tensor_by_name(request, name).as_numpy()
                feeds[name].append(arr)
                n = arr.shape[0]
            sizes.append(n)
        batch = {k: (v[0] if len(v) == 1 else np.concatenate(v, axis=0)) for k, v in feeds.items()}
        try:
            results = self.session.run(self.output_names, batch)
        except Exception as exc:  # noqa: BLE001 - reported per request, never crashes the stub
            err = pb_utils.TritonError(f"onnxruntime failed: {type(exc).__name__}")
            return [pb_utils.InferenceResponse(error=err) for _ in requests]
        responses = []
        start = 0
        for n in sizes:
            outs = [
                pb_utils.Tensor(name, np.ascontiguousarray(res[start : start + n]).astype(self.output_dtypes[name], copy=False))
                for name, res in zip(self.output_names, results)
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=outs))
            start += n
        return responses
