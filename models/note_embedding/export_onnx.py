"""Export all-MiniLM-L6-v2 (a 6-layer BERT encoder) to ONNX straight from its safetensors.

Why not ``torch.onnx.export``: the weights ship as plain safetensors, the
architecture is a textbook BERT encoder, and writing the graph with
``onnx.helper`` keeps PyTorch (and its several-hundred-MB install) out of both
the build and the serving path. The graph reproduces what
``sentence_transformers`` computes for this model: BERT embeddings (word +
position + token type 0, LayerNorm), 6 post-LN transformer layers with exact
(erf) GELU, then the model's pooling config (mean over non-padding tokens) and
the ``Normalize`` module (L2, eps 1e-12). The serving test compares the result
with embeddings the reference library produced (cosine >= 0.999).

Inputs ``input_ids`` and ``attention_mask`` are INT64 [batch, seq];
output ``sentence_embedding`` is FP32 [batch, hidden].
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

__all__ = ["export_onnx", "INPUT_IDS", "ATTENTION_MASK", "EMBEDDING_OUTPUT"]

INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
EMBEDDING_OUTPUT = "sentence_embedding"
OPSET = 17  # LayerNormalization is a standard op from 17 on


class _Graph:
    """Collects nodes and initializers; names are made unique by a counter."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def _name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, value: np.ndarray, hint: str = "c") -> str:
        name = self._name(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(
        self, op_type: str, inputs: list[str], hint: str | None = None, out: str | None = None, **attrs
    ) -> str:
        out = out or self._name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self._name(op_type), **attrs))
        return out

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray, hint: str) -> str:
        # torch Linear stores [out, in]; MatMul wants [in, out].
        y = self.op("MatMul", [x, self.const(weight.T.astype(np.float32), hint + "_w")])
        return self.op("Add", [y, self.const(bias.astype(np.float32), hint + "_b")], hint)

    def layer_norm(self, x: str, w: dict[str, np.ndarray], prefix: str, eps: float) -> str:
        return self.op(
            "LayerNormalization",
            [x, self.const(w[prefix + ".weight"], "ln_w"), self.const(w[prefix + ".bias"], "ln_b")],
            axis=-1,
            epsilon=eps,
        )


def _attention(
    g: _Graph, x: str, mask_bias: str, w: dict[str, np.ndarray], p: str, heads: int, hidden: int
) -> str:
    head_dim = hidden // heads
    split = g.const(np.array([0, 0, heads, head_dim], dtype=np.int64), "split_shape")
    merge = g.const(np.array([0, 0, hidden], dtype=np.int64), "merge_shape")

    def project(kind: str, perm: list[int]) -> str:
        y = g.linear(x, w[f"{p}.attention.self.{kind}.weight"], w[f"{p}.attention.self.{kind}.bias"], kind)
        return g.op("Transpose", [g.op("Reshape", [y, split])], perm=perm)

    q = project("query", [0, 2, 1, 3])  # [B, H, S, D]
    k = project("key", [0, 2, 3, 1])  # [B, H, D, S]
    v = project("value", [0, 2, 1, 3])  # [B, H, S, D]
    scores = g.op("MatMul", [q, k])
    scores = g.op("Mul", [scores, g.const(np.array(1.0 / math.sqrt(head_dim), dtype=np.float32), "scale")])
    scores = g.op("Add", [scores, mask_bias])
    probs = g.op("Softmax", [scores], axis=-1)
    ctx = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    ctx = g.op("Reshape", [ctx, merge])
    out = g.linear(
        ctx, w[f"{p}.attention.output.dense.weight"], w[f"{p}.attention.output.dense.bias"], "attn_out"
    )
    return g.op("Add", [out, x])


def _gelu(g: _Graph, x: str) -> str:
    """Exact GELU, 0.5 * x * (1 + erf(x / sqrt(2))), as BERT's ``hidden_act: gelu``."""
    e = g.op("Erf", [g.op("Mul", [x, g.const(np.array(1.0 / math.sqrt(2.0), dtype=np.float32), "rsqrt2")])])
    e = g.op("Add", [e, g.const(np.array(1.0, dtype=np.float32), "one")])
    return g.op("Mul", [g.op("Mul", [x, e]), g.const(np.array(0.5, dtype=np.float32), "half")])


def _build_graph(w: dict[str, np.ndarray], cfg: dict) -> onnx.ModelProto:
    hidden, heads, eps = cfg["hidden_size"], cfg["num_attention_heads"], float(cfg["layer_norm_eps"])
    if cfg.get("hidden_act") != "gelu" or cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only BERT encoders with exact GELU and absolute positions are supported")
    g = _Graph()

    # Embeddings: word[ids] + position[0:S] + token_type[0] (single-segment input), then LayerNorm.
    words = g.op("Gather", [g.const(w["embeddings.word_embeddings.weight"], "word_emb"), INPUT_IDS], axis=0)
    seq_len = g.op(
        "Gather", [g.op("Shape", [INPUT_IDS]), g.const(np.array([1], dtype=np.int64), "one_idx")], axis=0
    )
    positions = g.op(
        "Slice",
        [
            g.const(w["embeddings.position_embeddings.weight"], "pos_emb"),
            g.const(np.array([0], dtype=np.int64), "zero"),
            seq_len,
            g.const(np.array([0], dtype=np.int64), "axis0"),
        ],
    )
    type0 = w["embeddings.token_type_embeddings.weight"][0]
    x = g.op("Add", [g.op("Add", [words, positions]), g.const(type0, "type0_emb")])
    x = g.layer_norm(x, w, "embeddings.LayerNorm", eps)

    # Additive attention mask [B, 1, 1, S]: 0 for tokens, float32 min for padding (as transformers does).
    mask_f = g.op("Cast", [ATTENTION_MASK], to=TensorProto.FLOAT)
    inverted = g.op("Sub", [g.const(np.array(1.0, dtype=np.float32), "one"), mask_f])
    bias = g.op("Mul", [inverted, g.const(np.array(np.finfo(np.float32).min, dtype=np.float32), "neg")])
    mask_bias = g.op("Unsqueeze", [bias, g.const(np.array([1, 2], dtype=np.int64), "axes12")])

    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        x = g.layer_norm(
            _attention(g, x, mask_bias, w, p, heads, hidden), w, f"{p}.attention.output.LayerNorm", eps
        )
        inter = _gelu(
            g, g.linear(x, w[f"{p}.intermediate.dense.weight"], w[f"{p}.intermediate.dense.bias"], "ffn_in")
        )
        out = g.linear(inter, w[f"{p}.output.dense.weight"], w[f"{p}.output.dense.bias"], "ffn_out")
        x = g.layer_norm(g.op("Add", [out, x]), w, f"{p}.output.LayerNorm", eps)

    # Mean pooling over real tokens, then L2 normalization (sentence_transformers Pooling + Normalize).
    mask3 = g.op("Unsqueeze", [mask_f, g.const(np.array([2], dtype=np.int64), "axis2")])
    axis1 = g.const(np.array([1], dtype=np.int64), "axis1")
    summed = g.op("ReduceSum", [g.op("Mul", [x, mask3]), axis1], keepdims=0)
    counts = g.op(
        "Clip",
        [
            g.op("ReduceSum", [mask3, axis1], keepdims=0),
            g.const(np.array(1e-9, dtype=np.float32), "min_count"),
        ],
    )
    mean = g.op("Div", [summed, counts])
    norm = g.op("ReduceL2", [mean], axes=[1], keepdims=1)  # axes is an attribute until opset 18
    norm = g.op("Clip", [norm, g.const(np.array(1e-12, dtype=np.float32), "min_norm")])
    g.op("Div", [mean, norm], out=EMBEDDING_OUTPUT)

    graph = helper.make_graph(
        g.nodes,
        "all_minilm_l6_v2",
        inputs=[
            helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])
            for n in (INPUT_IDS, ATTENTION_MASK)
        ],
        outputs=[helper.make_tensor_value_info(EMBEDDING_OUTPUT, TensorProto.FLOAT, ["batch", hidden])],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="medinfer/models/note_embedding"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def export_onnx(model_dir: Path, out_path: Path) -> Path:
    """Write ``out_path`` (ONNX) from ``model_dir`` (``config.json`` + ``model.safetensors``)."""
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    weights = load_file(str(Path(model_dir) / "model.safetensors"))
    model = _build_graph(weights, cfg)
    Path(out_path).write_bytes(model.SerializeToString())
    return Path(out_path)
