"""Triton ``config.pbtxt`` as typed dataclasses.

Generation and parsing go through Triton's own ``ModelConfig`` protobuf (shipped
in ``tritonclient.grpc.model_config_pb2``) and protobuf's text format, so the
files we write are exactly what Triton reads; nothing is pasted as strings.
``ModelConfig.from_pbtxt(cfg.to_pbtxt()) == cfg`` is tested as a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as pb

__all__ = [
    "TensorSpec",
    "DynamicBatching",
    "InstanceGroup",
    "ModelConfig",
    "Backend",
    "DTYPE_TO_TRITON",
    "TRITON_TO_NUMPY",
]

Backend = Literal["python", "onnxruntime"]

# KServe v2 datatype names <-> Triton config enum names.
DTYPE_TO_TRITON = {
    "BOOL": "TYPE_BOOL", "UINT8": "TYPE_UINT8", "UINT16": "TYPE_UINT16", "UINT32": "TYPE_UINT32",
    "UINT64": "TYPE_UINT64", "INT8": "TYPE_INT8", "INT16": "TYPE_INT16", "INT32": "TYPE_INT32",
    "INT64": "TYPE_INT64", "FP16": "TYPE_FP16", "FP32": "TYPE_FP32", "FP64": "TYPE_FP64",
    "BYTES": "TYPE_STRING",
}
_TRITON_TO_DTYPE = {v: k for k, v in DTYPE_TO_TRITON.items()}
TRITON_TO_NUMPY = {
    "BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
    "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64", "FP16": "float16",
    "FP32": "float32", "FP64": "float64", "BYTES": "object",
}


@dataclass(frozen=True)
class TensorSpec:
    """One input or output; ``datatype`` uses the KServe v2 names (FP32, INT64, BYTES...).
    ``dims`` excludes the batch dimension when the model batches; -1 is variable."""

    name: str
    datatype: str
    dims: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.datatype not in DTYPE_TO_TRITON:
            raise ValueError(f"unsupported datatype {self.datatype!r}")


@dataclass(frozen=True)
class DynamicBatching:
    max_queue_delay_microseconds: int = 100
    preferred_batch_size: tuple[int, ...] = ()


@dataclass(frozen=True)
class InstanceGroup:
    count: int = 1
    kind: Literal["KIND_CPU", "KIND_GPU", "KIND_AUTO"] = "KIND_CPU"


@dataclass(frozen=True)
class ModelConfig:
    name: str
    backend: Backend
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    max_batch_size: int = 0
    dynamic_batching: DynamicBatching | None = None
    instance_groups: tuple[InstanceGroup, ...] = ()
    parameters: dict[str, str] = field(default_factory=dict)
    # None: Triton's default (latest 1); () : all versions; (1, 3): those versions.
    versions: tuple[int, ...] | None = None

    def to_proto(self) -> pb.ModelConfig:
        msg = pb.ModelConfig(name=self.name, backend=self.backend, max_batch_size=self.max_batch_size)
        if self.versions is not None:
            if self.versions:
                msg.version_policy.specific.versions.extend(self.versions)
            else:
                msg.version_policy.all.SetInParent()
        for spec, target in ((self.inputs, msg.input), (self.outputs, msg.output)):
            for t in spec:
                item = target.add()
                item.name = t.name
                item.data_type = pb.DataType.Value(DTYPE_TO_TRITON[t.datatype])
                item.dims.extend(t.dims)
        if self.dynamic_batching is not None:
            msg.dynamic_batching.max_queue_delay_microseconds = (
                self.dynamic_batching.max_queue_delay_microseconds
            )
            msg.dynamic_batching.preferred_batch_size.extend(self.dynamic_batching.preferred_batch_size)
        for g in self.instance_groups:
            grp = msg.instance_group.add()
            grp.count = g.count
            grp.kind = pb.ModelInstanceGroup.Kind.Value(g.kind)
        for k, v in sorted(self.parameters.items()):
            msg.parameters[k].string_value = v
        return msg

    def to_pbtxt(self) -> str:
        return text_format.MessageToString(self.to_proto())

    @classmethod
    def from_proto(cls, msg: pb.ModelConfig) -> ModelConfig:
        def tensors(items) -> tuple[TensorSpec, ...]:
            return tuple(
                TensorSpec(t.name, _TRITON_TO_DTYPE[pb.DataType.Name(t.data_type)], tuple(t.dims))
                for t in items
            )

        policy = msg.version_policy.WhichOneof("policy_choice")
        versions: tuple[int, ...] | None
        if policy == "specific":
            versions = tuple(msg.version_policy.specific.versions)
        elif policy == "all":
            versions = ()
        else:
            versions = None
        dyn = None
        if msg.HasField("dynamic_batching"):
            dyn = DynamicBatching(
                msg.dynamic_batching.max_queue_delay_microseconds,
                tuple(msg.dynamic_batching.preferred_batch_size),
            )
        return cls(
            name=msg.name,
            backend=msg.backend,  # type: ignore[arg-type]
            inputs=tensors(msg.input),
            outputs=tensors(msg.output),
            max_batch_size=msg.max_batch_size,
            dynamic_batching=dyn,
            instance_groups=tuple(
                InstanceGroup(g.count, pb.ModelInstanceGroup.Kind.Name(g.kind))  # type: ignore[arg-type]
                for g in msg.instance_group
            ),
            parameters={k: v.string_value for k, v in msg.parameters.items()},
            versions=versions,
        )

    @classmethod
    def from_pbtxt(cls, text: str) -> ModelConfig:
        return cls.from_proto(text_format.Parse(text, pb.ModelConfig()))
