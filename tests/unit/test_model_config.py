from pathlib import Path

import pytest

from medinfer.shipped_models import build_model
from medinfer.triton.model_config import DynamicBatching, InstanceGroup, ModelConfig, TensorSpec
from medinfer.triton.onnx_signature import config_from_onnx

CONFIGS = [
    ModelConfig("tab", "python", (TensorSpec("features", "FP32", (30,)),), (TensorSpec("probability", "FP32", (1,)),),
                max_batch_size=64, dynamic_batching=DynamicBatching(200), instance_groups=(InstanceGroup(2),),
                parameters={"EXECUTION_ENV_PATH": "/x"}, versions=(1, 3)),
    ModelConfig("txt", "onnxruntime", (TensorSpec("text", "BYTES", (1,)),), (TensorSpec("emb", "FP32", (384,)),),
                max_batch_size=0, versions=()),
    ModelConfig("img", "python", (TensorSpec("image", "FP32", (1, 64, 64)), TensorSpec("m", "INT64", (-1,))),
                (TensorSpec("p", "FP64", (4,)),), max_batch_size=8,
                dynamic_batching=DynamicBatching(500, (4, 8)), versions=None),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.name)
def test_generate_then_parse_is_identity(config: ModelConfig) -> None:
    text = config.to_pbtxt()
    assert ModelConfig.from_pbtxt(text) == config
    assert f'name: "{config.name}"' in text


def test_version_policies_render_as_triton_expects() -> None:
    assert "specific" in CONFIGS[0].to_pbtxt() and "versions: 3" in CONFIGS[0].to_pbtxt()
    assert "all {" in CONFIGS[1].to_pbtxt()
    assert "version_policy" not in CONFIGS[2].to_pbtxt()


def test_unknown_datatype_is_refused() -> None:
    with pytest.raises(ValueError):
        TensorSpec("x", "FLOAT32", (1,))


def test_config_from_the_shipped_onnx_signature(tmp_path: Path) -> None:
    build_model("breast_cancer", tmp_path)
    cfg = config_from_onnx("breast_cancer", tmp_path / "model.onnx")
    assert cfg.max_batch_size == 64 and cfg.dynamic_batching is not None
    assert cfg.inputs == (TensorSpec("features", "FP32", (30,)),)
    assert cfg.outputs == (TensorSpec("probability", "FP32", (1,)),)
    onnx_cfg = config_from_onnx("breast_cancer", tmp_path / "model.onnx", backend="onnxruntime")
    assert onnx_cfg.backend == "onnxruntime"
    assert ModelConfig.from_pbtxt(onnx_cfg.to_pbtxt()) == onnx_cfg
