"""In-memory view of the model repository's metadata, for the request path.

Reads each version's ``medinfer.json`` once and caches it; ``refresh()`` rereads
the folder (called at start-up and when the registry changes a model). A request
for a version the cache does not know yet (published after start-up, e.g. the
preprocessor asked for the version the gateway just promoted) reads that one
version's ``medinfer.json`` once and caches it: versions are immutable, and a
lookup of a well-formed name and version costs one file read at most, never a scan.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from medinfer.common.errors import ModelNotFound
from medinfer.triton.model_config import ModelConfig
from medinfer.triton.repository import ModelRepository

__all__ = ["ModelCatalog", "CatalogEntry"]

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # the registry's model names (no path characters)


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
        if version is not None and (not versions or version not in versions):
            found = self._load_one(name, version)
            if found is not None:
                return found
        if not versions:
            raise ModelNotFound("unknown model")
        if version is None:
            version = max(versions)
        entry = versions.get(version)
        if entry is None:
            raise ModelNotFound("the model has no such version")
        return entry

    def _load_one(self, name: str, version: int) -> CatalogEntry | None:
        if not isinstance(name, str) or not _NAME_RE.match(name) or isinstance(version, bool) or \
                not isinstance(version, int) or not 0 < version < 2**31:
            return None
        try:
            entry = CatalogEntry(name, version, self.repository.metadata(name, version))
        except (ModelNotFound, ValueError, OSError):
            return None
        with self._lock:
            entries = dict(self._entries)
            entries[name] = {**entries.get(name, {}), version: entry}
            self._entries = entries
        return entry
