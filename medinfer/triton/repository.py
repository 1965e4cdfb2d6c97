"""The Triton model repository on disk: ``<root>/<name>/config.pbtxt`` and
``<root>/<name>/<version>/`` holding ``model.onnx``, ``model.py`` (the ONNX Runtime
runner for the Python backend) and ``medinfer.json`` (what the gateway and the
preprocessor need to know about the model: its kind and input schema).

Version folders are written atomically: built in a hidden temporary folder in
the same directory and renamed into place, so a crash half-way leaves nothing
Triton or the gateway would see. A written version is never modified.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medinfer.common.errors import Conflict, ModelNotFound
from medinfer.triton.model_config import ModelConfig

__all__ = ["ModelRepository", "ModelVersionInfo", "ORT_RUNNER", "METADATA_FILE"]

ORT_RUNNER = Path(__file__).parent / "python_backend" / "ort_model.py"
METADATA_FILE = "medinfer.json"


@dataclass(frozen=True)
class ModelVersionInfo:
    name: str
    version: int
    path: Path
    metadata: dict[str, Any]


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class ModelRepository:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def models(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "config.pbtxt").is_file())

    def versions(self, name: str) -> list[int]:
        d = self.root / name
        if not d.is_dir():
            return []
        return sorted(int(p.name) for p in d.iterdir() if p.is_dir() and p.name.isdigit())

    def has_version(self, name: str, version: int) -> bool:
        return (self.root / name / str(version)).is_dir()

    def read_config(self, name: str) -> ModelConfig:
        path = self.root / name / "config.pbtxt"
        if not path.is_file():
            raise ModelNotFound(f"model '{name}' is not in the repository")
        return ModelConfig.from_pbtxt(path.read_text())

    def write_config(self, config: ModelConfig) -> None:
        (self.root / config.name).mkdir(parents=True, exist_ok=True)
        _atomic_write_text(self.root / config.name / "config.pbtxt", config.to_pbtxt())

    def metadata(self, name: str, version: int) -> dict[str, Any]:
        path = self.root / name / str(version) / METADATA_FILE
        if not path.is_file():
            raise ModelNotFound(f"model '{name}' version {version} is not in the repository")
        return json.loads(path.read_text())

    def info(self, name: str, version: int) -> ModelVersionInfo:
        return ModelVersionInfo(name, version, self.root / name / str(version), self.metadata(name, version))

    def write_version(
        self,
        config: ModelConfig,
        version: int,
        files: dict[str, Path | bytes],
        metadata: dict[str, Any],
    ) -> Path:
        """Write ``<name>/<version>/`` atomically, then the model's ``config.pbtxt``."""
        model_dir = self.root / config.name
        model_dir.mkdir(parents=True, exist_ok=True)
        final = model_dir / str(version)
        if final.exists():
            raise Conflict(f"model '{config.name}' version {version} already exists; versions are immutable")
        tmp = Path(tempfile.mkdtemp(dir=model_dir, prefix=f".tmp-{version}-"))
        try:
            if config.backend == "python":
                shutil.copyfile(ORT_RUNNER, tmp / "model.py")
            for fname, content in files.items():
                target = tmp / fname
                target.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, bytes):
                    target.write_bytes(content)
                elif content.is_dir():
                    shutil.copytree(content, target)
                else:
                    shutil.copyfile(content, target)
            (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True))
            for p in tmp.rglob("*"):
                if p.is_file():
                    with open(p, "rb") as fh:
                        os.fsync(fh.fileno())
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.write_config(config)
        return final
