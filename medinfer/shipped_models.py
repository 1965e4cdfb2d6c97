"""The models medinfer ships, built into the local model repository when missing.

Each entry names a build script under ``models/<name>/`` with a
``build(out_dir) -> metadata`` function that trains or exports the model
deterministically and writes ``model.onnx`` (plus any extra files) to
``out_dir``. The result becomes version 1 of the model. A script whose model
is not a plain ONNX runner (text models: tokenization or spaCy inside the
Python backend, their own ``model.py``) also defines ``model_config(name)``,
which then replaces the config read from the ONNX signature.
"""

from __future__ import annotations

import runpy
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from medinfer.triton.onnx_signature import config_from_onnx
from medinfer.triton.repository import METADATA_FILE, ModelRepository

__all__ = ["SHIPPED_MODELS", "project_root", "ensure_shipped_models", "build_model", "build_version"]

SHIPPED_MODELS: dict[str, str] = {
    "breast_cancer": "models/breast_cancer/train.py",
    "note_embedding": "models/note_embedding/build.py",
    "ner": "models/ner/build.py",
    "image_quality": "models/image_quality/train.py",
}


def project_root() -> Path:
    return Path(__file__).resolve().parents[1]


def _build_module(name: str) -> dict:
    return runpy.run_path(str(project_root() / SHIPPED_MODELS[name]), run_name=f"medinfer_build_{name}")


def build_model(name: str, out_dir: Path) -> dict:
    return _build_module(name)["build"](out_dir)


def build_version(repo: ModelRepository, name: str, version: int = 1, backend: str = "python") -> Path:
    """Build shipped model ``name`` into ``<repo>/<name>/<version>/`` and write its ``config.pbtxt``."""
    module = _build_module(name)
    with tempfile.TemporaryDirectory(prefix=f"medinfer-build-{name}-") as tmp:
        out = Path(tmp)
        meta = module["build"](out)
        if "model_config" in module:
            config = module["model_config"](name)
        else:
            config = config_from_onnx(name, out / "model.onnx", backend=backend)
        files = {p.name: p for p in out.iterdir() if p.name not in (METADATA_FILE,)}
        return repo.write_version(config, version, files, meta)


def ensure_shipped_models(repo: ModelRepository, backend: str = "python", names: list[str] | None = None,
                          report: Callable[[str], None] | None = None) -> list[str]:
    """Build each shipped model that has no version yet; returns the names built.
    ``report`` hears one line before and after each build (``medinfer up`` prints them)."""
    built = []
    todo = [n for n in names or list(SHIPPED_MODELS) if not repo.versions(n)]
    for i, name in enumerate(todo, 1):
        if report:
            report(f"building model {name} ({i}/{len(todo)}, {SHIPPED_MODELS[name]}) ...")
        started = time.monotonic()
        build_version(repo, name, 1, backend)
        built.append(name)
        if report:
            report(f"built {name} in {time.monotonic() - started:.0f}s")
    return built
