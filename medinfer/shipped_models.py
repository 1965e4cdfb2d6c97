"""The models medinfer ships, built into the local model repository when missing.

Each entry names a build script under ``models/<name>/`` with a
``build(out_dir) -> metadata`` function that trains or exports the model
deterministically and writes ``model.onnx`` (plus any extra files) to
``out_dir``. The result becomes version 1 of the model.
"""

from __future__ import annotations

import runpy
import tempfile
from pathlib import Path

from medinfer.triton.onnx_signature import config_from_onnx
from medinfer.triton.repository import METADATA_FILE, ModelRepository

__all__ = ["SHIPPED_MODELS", "project_root", "ensure_shipped_models", "build_model"]

SHIPPED_MODELS: dict[str, str] = {
    "breast_cancer": "models/breast_cancer/train.py",
}


def project_root() -> Path:
    return Path(__file__).resolve().parents[1]


def build_model(name: str, out_dir: Path) -> dict:
    module = runpy.run_path(str(project_root() / SHIPPED_MODELS[name]), run_name=f"medinfer_build_{name}")
    return module["build"](out_dir)


def ensure_shipped_models(repo: ModelRepository, backend: str = "python", names: list[str] | None = None) -> list[str]:
    """Build each shipped model that has no version yet; returns the names built."""
    built = []
    for name in names or list(SHIPPED_MODELS):
        if repo.versions(name):
            continue
        with tempfile.TemporaryDirectory(prefix=f"medinfer-build-{name}-") as tmp:
            out = Path(tmp)
            meta = build_model(name, out)
            config = config_from_onnx(name, out / "model.onnx", backend=backend)
            files = {p.name: p for p in out.iterdir() if p.name not in (METADATA_FILE,)}
            repo.write_version(config, 1, files, meta)
        built.append(name)
    return built
