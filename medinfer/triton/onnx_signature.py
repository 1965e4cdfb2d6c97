"""Read an ONNX model's signature and turn it into a Triton ``ModelConfig``."""

from __future__ import annotations

from pathlib import Path

import onnx

from medinfer.triton.model_config import DynamicBatching, InstanceGroup, ModelConfig, TensorSpec

__all__ = ["onnx_signature", "config_from_onnx", "ONNX_TO_V2"]

ONNX_TO_V2 = {
    onnx.TensorProto.FLOAT: "FP32", onnx.TensorProto.DOUBLE: "FP64", onnx.TensorProto.FLOAT16: "FP16",
    onnx.TensorProto.INT8: "INT8", onnx.TensorProto.INT16: "INT16", onnx.TensorProto.INT32: "INT32",
    onnx.TensorProto.INT64: "INT64", onnx.TensorProto.UINT8: "UINT8", onnx.TensorProto.BOOL: "BOOL",
    onnx.TensorProto.STRING: "BYTES",
}


def _dims(value_info: onnx.ValueInfoProto) -> tuple[int, ...]:
    shape = value_info.type.tensor_type.shape
    return tuple(d.dim_value if d.HasField("dim_value") else -1 for d in shape.dim)


def onnx_signature(model: onnx.ModelProto) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Inputs and outputs with their full shapes (first dim included)."""
    initializers = {i.name for i in model.graph.initializer}

    def spec(vi: onnx.ValueInfoProto) -> TensorSpec:
        elem = vi.type.tensor_type.elem_type
        if elem not in ONNX_TO_V2:
            raise ValueError(f"tensor '{vi.name}' has an unsupported element type")
        return TensorSpec(vi.name, ONNX_TO_V2[elem], _dims(vi))

    inputs = tuple(spec(i) for i in model.graph.input if i.name not in initializers)
    outputs = tuple(spec(o) for o in model.graph.output)
    return inputs, outputs


def config_from_onnx(
    name: str,
    onnx_path: Path,
    *,
    backend: str = "python",
    max_batch_size: int = 64,
    versions: tuple[int, ...] | None = None,
    queue_delay_us: int = 200,
) -> ModelConfig:
    """A batching config when every tensor's first dim is variable, else a non-batching one."""
    inputs, outputs = onnx_signature(onnx.load(str(onnx_path), load_external_data=False))
    batching = max_batch_size > 0 and all(t.dims and t.dims[0] == -1 for t in inputs + outputs)
    if batching:
        inputs = tuple(TensorSpec(t.name, t.datatype, t.dims[1:]) for t in inputs)
        outputs = tuple(TensorSpec(t.name, t.datatype, t.dims[1:]) for t in outputs)
    return ModelConfig(
        name=name,
        backend=backend,  # type: ignore[arg-type]
        inputs=inputs,
        outputs=outputs,
        max_batch_size=max_batch_size if batching else 0,
        dynamic_batching=DynamicBatching(queue_delay_us) if batching else None,
        instance_groups=(InstanceGroup(1, "KIND_CPU"),),
        versions=versions,
    )
