"""In-memory view of the model repository's metadata, for the request path.

Reads each version's ``medinfer.json`` once and caches it; ``refresh()`` rereads
the folder (called at start-up and when the registry changes a model), so a
request never touches the disk.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from medinfer.common.errors import ModelNotFound
from medinfer.triton.model_config import ModelConfig
from medinfer.triton.repository import ModelRepository

__all__ = ["ModelCatalog", "CatalogEntry"]


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    version: int
    metadata: dict[str, Any]
    # Triton's config.pbtxt for the model (inputs, outputs, max_batch_size): what /v2 and gRPC requests are
    # validated against before anything is forwarded. None when the repository has no readable config.
    config: ModelConfig | None = None

    @property
    def kind(self) -> str:
        return self.metadata.get("kind", "tensor")


class ModelCatalog:
    def __init__(self, repository: ModelRepository) -> None:
        self.repository = repository
        self._entries: dict[str, dict[int, CatalogEntry]] = {}
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
        entries: dict[str, dict[int, CatalogEntry]] = {}
        for name in self.repository.models():
            versions = {}
            try:
                config: ModelConfig | None = self.repository.read_config(name)
            except Exception:  # noqa: BLE001 - a missing or unparsable config.pbtxt: Triton will not load it either
                config = None
            for v in self.repository.versions(name):
                try:
                    versions[v] = CatalogEntry(name, v, self.repository.metadata(name, v), config)
                except (ModelNotFound, ValueError):
                    continue
            if versions:
                entries[name] = versions
        with self._lock:
            self._entries = entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def versions(self, name: str) -> list[int]:
        return sorted(self._entries.get(name, {}))

    def get(self, name: str, version: int | None = None) -> CatalogEntry:
        """``version=None`` means the latest version present (the registry refines this with tags)."""
        versions = self._entries.get(name)
        if not versions:
            raise ModelNotFound("unknown model")
        if version is None:
            version = max(versions)
        entry = versions.get(version)
        if entry is None:
            raise ModelNotFound("the model has no such version")
        return entry
