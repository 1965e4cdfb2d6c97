"""Small ONNX models for registry tests, built with ``onnx.helper`` (no downloads).

* ``linear``: ``y = x @ W + b`` with input ``x`` FP32 [-1, n_in], output ``y`` FP32 [-1, n_out].
* ``flaky``: the same signature, but the graph gathers column ``floor(x[0, 0])`` of
  ``y``: ONNX Runtime raises for any request whose first feature is >= n_out, so a
  "deliberately broken" version that still passes the smoke test on inputs in [0, 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["linear", "flaky", "write_folder"]


def _graph(n_in: int, n_out: int, seed: int, nodes_extra=None, extra_inits=None):
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.normal(size=(n_in, n_out)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.normal(size=(n_out,)).astype(np.float32), "B")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_in])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n_out])
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["y" if not nodes_extra else "lin"]),
    ]
    nodes += nodes_extra or []
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=[w, b] + (extra_inits or []))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def linear(path: Path, *, n_in: int = 4, n_out: int = 2, seed: int = 0) -> Path:
    onnx.save(_graph(n_in, n_out, seed), str(path))
    return path


def flaky(path: Path, *, n_in: int = 4, n_out: int = 2, seed: int = 1) -> Path:
    """Gathers ``lin[:, floor(x[0,0])]`` and broadcasts it back to [batch, n_out]."""
    extra_inits = [
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
        numpy_helper.from_array(np.zeros((1, n_out), dtype=np.float32), "zeros_row"),
    ]
    nodes = [
        helper.make_node("Slice", ["x", "zero", "one", "axis0"], ["row0"]),  # [1, n_in]
        helper.make_node("Slice", ["row0", "zero", "one", "one"], ["first"]),  # [1, 1]
        helper.make_node("Floor", ["first"], ["ffirst"]),
        helper.make_node("Cast", ["ffirst"], ["idx2d"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["idx2d", "one"], ["idx"]),  # [1]
        helper.make_node("Gather", ["lin", "idx"], ["col"], axis=1),  # [batch, 1]
        helper.make_node("Add", ["col", "zeros_row"], ["colb"]),  # [batch, n_out]
        helper.make_node("Add", ["lin", "colb"], ["y"]),
    ]
    onnx.save(_graph(n_in, n_out, seed, nodes, extra_inits), str(path))
    return path


def write_folder(folder: Path, builder=linear, *, card: str | None = None, **kw) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    builder(folder / "model.onnx", **kw)
    if card is not None:
        (folder / "README.md").write_text(card)
    return folder
