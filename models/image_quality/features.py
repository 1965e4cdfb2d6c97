"""The image-quality feature extractor, written as an ONNX graph.

Input ``image`` FP32 [N, 1, 64, 64] in [0, 1] (the preprocessor's output for this
model); output ``features`` FP32 [N, F]. Training computes the features by running
this same graph in ONNX Runtime, so training and serving cannot drift apart.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

__all__ = ["FEATURE_NAMES", "feature_graph", "SIZE"]

SIZE = 64
OPSET = 17
_THRESHOLDS = (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95)
FEATURE_NAMES = (
    ["mean", "std", "frac_black", "frac_white", "grad_x", "grad_y", "lap_x", "lap_y",
     "flat_rows", "flat_rows_bottom_run", "row_std_top_half", "row_std_bottom_half",
     "row_mean_std", "col_mean_std", "frac_mid", "grad_ratio", "flat_rows_top_run",
     "max_row_step", "max_col_step", "max_row_coverage_drop", "max_col_coverage_drop"]
    + [f"cdf_{t}" for t in _THRESHOLDS]
)


class _G:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.n = 0

    def const(self, value, dtype=np.float32) -> str:
        self.n += 1
        name = f"c{self.n}"
        self.inits.append(onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        self.n += 1
        out = f"t{self.n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def mean(self, x: str, axes: list[int], keep: int = 0) -> str:
        return self.op("ReduceMean", [x], axes=axes, keepdims=keep)

    def frac(self, cond: str) -> str:  # bool [N,1,H,W] -> [N]
        return self.mean(self.op("Cast", [cond], to=TensorProto.FLOAT), [1, 2, 3])

    def slice(self, x: str, start: int, end: int, axis: int) -> str:
        return self.op("Slice", [x, self.const([start], np.int64), self.const([end], np.int64),
                                 self.const([axis], np.int64)])


def feature_graph() -> onnx.ModelProto:
    g = _G()
    x = "image"
    eps = g.const(1e-6)
    feats: list[str] = []
    m = g.mean(x, [1, 2, 3])
    centered = g.op("Sub", [x, g.mean(x, [1, 2, 3], keep=1)])
    std = g.op("Sqrt", [g.op("Add", [g.mean(g.op("Mul", [centered, centered]), [1, 2, 3]), eps])])
    feats += [m, std]
    feats.append(g.frac(g.op("Less", [x, g.const(0.02)])))
    feats.append(g.frac(g.op("Greater", [x, g.const(0.98)])))
    dx = g.op("Sub", [g.slice(x, 1, SIZE, 3), g.slice(x, 0, SIZE - 1, 3)])
    dy = g.op("Sub", [g.slice(x, 1, SIZE, 2), g.slice(x, 0, SIZE - 1, 2)])
    gx, gy = g.mean(g.op("Abs", [dx]), [1, 2, 3]), g.mean(g.op("Abs", [dy]), [1, 2, 3])
    lx = g.mean(g.op("Abs", [g.op("Sub", [g.slice(dx, 1, SIZE - 1, 3), g.slice(dx, 0, SIZE - 2, 3)])]), [1, 2, 3])
    ly = g.mean(g.op("Abs", [g.op("Sub", [g.slice(dy, 1, SIZE - 1, 2), g.slice(dy, 0, SIZE - 2, 2)])]), [1, 2, 3])
    feats += [gx, gy, lx, ly]
    # Row profile: a truncated frame ends in constant rows.
    row_mean = g.mean(x, [3], keep=1)  # [N,1,H,1]
    rc = g.op("Sub", [x, row_mean])
    row_std = g.op("Sqrt", [g.op("Add", [g.mean(g.op("Mul", [rc, rc]), [1, 3]), eps])])  # [N,H]
    flat = g.op("Cast", [g.op("Less", [row_std, g.const(0.004)])], to=TensorProto.FLOAT)  # [N,H]
    feats.append(g.mean(flat, [1]))
    not_flat_from_bottom = g.op("CumSum", [g.op("Sub", [g.const(1.0), flat]), g.const(1, np.int64)], reverse=1)
    in_run = g.op("Cast", [g.op("Less", [not_flat_from_bottom, g.const(0.5)])], to=TensorProto.FLOAT)
    feats.append(g.mean(in_run, [1]))
    feats.append(g.mean(g.slice(row_std, 0, SIZE // 2, 1), [1]))
    feats.append(g.mean(g.slice(row_std, SIZE // 2, SIZE, 1), [1]))
    for axis in (3, 2):
        prof = g.mean(x, [1, axis])  # [N, H] or [N, W]
        pc = g.op("Sub", [prof, g.mean(prof, [1], keep=1)])
        feats.append(g.op("Sqrt", [g.op("Add", [g.mean(g.op("Mul", [pc, pc]), [1]), eps])]))
    mid = g.op("And", [g.op("Greater", [x, g.const(0.1)]), g.op("Less", [x, g.const(0.9)])])
    feats.append(g.frac(mid))
    feats.append(g.op("Div", [g.op("Add", [gx, gy]), g.op("Add", [std, g.const(1e-3)])]))
    # Truncation is a bottom-only straight cut; natural background is at both ends.
    not_flat_from_top = g.op("CumSum", [g.op("Sub", [g.const(1.0), flat]), g.const(1, np.int64)])
    feats.append(g.mean(g.op("Cast", [g.op("Less", [not_flat_from_top, g.const(0.5)])], to=TensorProto.FLOAT), [1]))
    for axis in (3, 2):
        prof = g.mean(x, [1, axis])
        step = g.op("Abs", [g.op("Sub", [g.slice(prof, 1, SIZE, 1), g.slice(prof, 0, SIZE - 1, 1)])])
        feats.append(g.op("ReduceMax", [step], axes=[1], keepdims=0))
    # Coverage: per row, the fraction of pixels that differ from the last row's fill.
    # A truncation cuts straight through the anatomy, so coverage drops to zero in
    # one row; a natural air boundary is curved and coverage falls off gradually.
    for axis in (2, 3):
        last = g.slice(x, SIZE - 1, SIZE, axis)
        differs = g.op("Cast", [g.op("Greater", [g.op("Abs", [g.op("Sub", [x, last])]), g.const(0.02)])],
                       to=TensorProto.FLOAT)
        cover = g.mean(differs, [1, 5 - axis])  # [N, SIZE]
        drop = g.op("Sub", [g.slice(cover, 0, SIZE - 1, 1), g.slice(cover, 1, SIZE, 1)])
        feats.append(g.op("ReduceMax", [drop], axes=[1], keepdims=0))
    for t in _THRESHOLDS:
        feats.append(g.frac(g.op("Less", [x, g.const(t)])))
    cols = [g.op("Unsqueeze", [f, g.const([1], np.int64)]) for f in feats]
    g.nodes.append(helper.make_node("Concat", cols, ["features"], axis=1))
    graph = helper.make_graph(
        g.nodes, "image_quality_features",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 1, SIZE, SIZE])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, len(FEATURE_NAMES)])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    return model
