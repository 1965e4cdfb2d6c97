"""Adopt version folders that exist in the model repository but not in the registry.

``medinfer up`` builds the shipped models straight into the repository; before
the gateway routes by release tags those versions must be registered (checksums,
signature, validation) and one of them made current. Adoption is explicit and
recorded: each adopted version gets an ``adopt`` history entry and audit event,
and the promotion that follows is an ordinary audited promotion with the given
actor and reason. Versions already registered are left alone, so running it at
every start is safe.
"""

from __future__ import annotations

import copy
from typing import Any

import sqlalchemy as sa

from medinfer.common.errors import Conflict
from medinfer.registry.audit import make_event
from medinfer.registry.db import FileRow, ModelRow, VersionRow, utcnow
from medinfer.registry.routing import GraceDrain
from medinfer.registry.service import Registry
from medinfer.registry.validation import find_candidate, sha256_file, validate_candidate

__all__ = ["adopt_version", "adopt_repository"]


def adopt_version(reg: Registry, name: str, version: int, *, actor: str, reason: str) -> dict[str, Any]:
    folder = reg.repository.root / name / str(version)
    report = validate_candidate(find_candidate(folder))
    cfg = reg._config(name, folder / "model.onnx", None)
    with reg.store.session() as s:
        model = s.scalar(sa.select(ModelRow).where(ModelRow.name == name))
        if model is None:
            model = ModelRow(name=name, created_at=utcnow(), created_by=actor)
            s.add(model)
            s.flush()
        if any(v.version == version for v in model.versions):
            raise Conflict(f"model '{name}' version {version} is already registered", code="version-exists")
        row = VersionRow(model_id=model.id, version=version, publisher=actor, published_at=utcnow(),
                         status="ready", breaking=False, signature=report.signature, config_pbtxt=cfg.to_pbtxt(),
                         model_card=(folder / "README.md").read_text() if (folder / "README.md").is_file() else "",
                         validation=report.results | {"validated_at": utcnow().isoformat(), "adopted": True})
        s.add(row)
        s.flush()
        for f in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            s.add(FileRow(version_id=row.id, path=str(f.relative_to(folder)), sha256=sha256_file(f),
                          size=f.stat().st_size))
        reg.store.add_event(s, model, "adopt", actor=actor, reason=reason, after=version)
    reg._record(make_event("model.adopt", model=name, actor=actor, reason=reason, after=version))
    return {"name": name, "version": version}


def adopt_repository(reg: Registry, *, actor: str, reason: str, promote_latest: bool = True,
                     load_in_triton: bool = False) -> list[dict]:
    """Register unknown version folders; promote the highest version of a model without current.

    By default the promotion does not ask Triton to load: at start-up Triton has loaded
    the repository's latest versions itself (and may not be reachable yet from here)."""
    if not load_in_triton:
        reg = copy.copy(reg)
        reg.triton = None
        reg.drain = GraceDrain(0.0)
    done = []
    known = {m["name"]: m for m in reg.list_models()}
    for name in reg.repository.models():
        registered = {v["version"] for v in known.get(name, {}).get("versions", [])}
        for version in reg.repository.versions(name):
            if version not in registered:
                try:
                    done.append(adopt_version(reg, name, version, actor=actor, reason=reason))
                except Conflict:
                    continue  # another process adopted it first
        model = reg.get_model(name)
        ready = [v["version"] for v in model["versions"] if v["status"] == "ready"]
        if promote_latest and model["current"] is None and ready:
            try:
                reg.promote(name, max(ready), actor=actor, reason=reason)
            except Conflict:
                continue  # a concurrent start promoted it
    return done
