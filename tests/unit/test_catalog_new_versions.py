"""The catalog finds a version published after it was built (the preprocessor is never restarted
on a promotion), and only ever for well-formed names and versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from medinfer.common.errors import ModelNotFound
from medinfer.triton.catalog import ModelCatalog
from medinfer.triton.model_config import ModelConfig, TensorSpec
from medinfer.triton.repository import ModelRepository


def _write(repo: ModelRepository, version: int, kind: str = "image") -> None:
    cfg = ModelConfig(name="image_quality", backend="python", inputs=(TensorSpec("image", "FP32", (1, 8, 8)),),
                      outputs=(TensorSpec("y", "FP32", (5,)),))
    repo.write_version(cfg, version, {"model.onnx": b"onnx"}, {"kind": kind, "name": "image_quality"})


def test_a_version_published_after_start_up_is_found(tmp_path: Path) -> None:
    repo = ModelRepository(tmp_path / "models")
    _write(repo, 1)
    catalog = ModelCatalog(repo)
    _write(repo, 2)
    assert catalog.get("image_quality", 2).version == 2
    assert catalog.versions("image_quality") == [1, 2]
    with pytest.raises(ModelNotFound):
        catalog.get("image_quality", 3)


@pytest.mark.parametrize("name", ["../models", "image_quality/../x", "A", ""])
def test_malformed_names_never_reach_the_disk(tmp_path: Path, name: str) -> None:
    catalog = ModelCatalog(ModelRepository(tmp_path / "models"))
    with pytest.raises(ModelNotFound):
        catalog.get(name, 1)
