"""Adopt version folders that exist in the model repository but not in the registry.

``medinfer up`` builds the shipped models straight into the repository; before
the gateway routes by release tags those versions must be registered (checksums,
signature, validation) and one of them made current. Adoption is explicit and
recorded: each adopted version gets an ``adopt`` history entry and audit event,
and the promotion that follows is an ordinary audited promotion with the given
actor and reason. Versions already registered are left alone, so running it at
every start is safe. A ledger that is down at start-up does not stop it: the
events are committed in the outbox and delivered once the ledger is back.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from medinfer.common.errors import BackendUnavailable, Conflict, MedinferError
from medinfer.registry.audit import make_event
from medinfer.registry.db import VersionRow, utcnow
from medinfer.registry.routing import GraceDrain
from medinfer.registry.service import Registry
from medinfer.registry.validation import find_candidate, signature_dict, validate_candidate
from medinfer.triton.model_config import ModelConfig
from medinfer.triton.repository import ORT_RUNNER

__all__ = ["adopt_version", "adopt_repository"]

log = logging.getLogger("medinfer.registry")

# The change committed but the ledger is behind: the outbox delivers the event later, so
# start-up goes on (the runtime retries; the pending gauge shows the backlog).
AUDIT_BEHIND = frozenset({"audit-unavailable", "audit-pending"})


def _is_custom(folder: Path) -> bool:
    """A version whose ``model.py`` is not the generic ONNX Runtime runner (text models:
    tokenizer or spaCy inside the Python backend) cannot be smoke-tested in-process."""
    runner = folder / "model.py"
    onnx_files = list(folder.glob("*.onnx"))
    return len(onnx_files) != 1 or (runner.is_file() and runner.read_bytes() != ORT_RUNNER.read_bytes())


def _config_signature(cfg: ModelConfig) -> dict[str, Any]:
    sig = signature_dict(cfg.inputs, cfg.outputs)
    sig["max_batch_size"] = cfg.max_batch_size
    return sig


def adopt_version(reg: Registry, name: str, version: int, *, actor: str, reason: str) -> dict[str, Any]:
    """Register an existing version folder with the repository's own config (what Triton
    serves). ONNX-runner versions get the full validation; custom Python-backend versions
    are recorded by checksum and config (their smoke test is Triton loading them)."""
    folder = reg.repository.root / name / str(version)
    cfg = replace(reg.repository.read_config(name), versions=None)
    if _is_custom(folder):
        signature = _config_signature(cfg)
        results: dict[str, Any] = {
            "kind": "custom",
            "passed": True,
            "config": "parsed",
            "smoke": "not run in-process: custom Python-backend model, checked by Triton loading it",
        }
    else:
        report = validate_candidate(find_candidate(folder))
        signature, results = report.signature, report.results | {"kind": "onnx"}
    with reg.store.session() as s:
        model = reg.store.model_or_new(s, name, actor)
        if any(v.version == version for v in model.versions):
            raise Conflict(f"model '{name}' version {version} is already registered", code="version-exists")
        row = VersionRow(
            model_id=model.id,
            version=version,
            publisher=actor,
            published_at=utcnow(),
            status="ready",
            breaking=False,
            signature=signature,
            config_pbtxt=cfg.to_pbtxt(),
            model_card=(folder / "README.md").read_text() if (folder / "README.md").is_file() else "",
            validation=results | {"validated_at": utcnow().isoformat(), "adopted": True},
        )
        s.add(row)
        s.flush()
        reg.store.add_files(s, row, folder)
        reg.store.add_event(s, model, "adopt", actor=actor, reason=reason, after=version)
        outbox_id = reg.outbox.add(
            s, make_event("model.adopt", model=name, actor=actor, reason=reason, after=version)
        )
    reg._record(outbox_id)
    return {"name": name, "version": version}


def adopt_repository(
    reg: Registry, *, actor: str, reason: str, promote_latest: bool = True, load_in_triton: bool = False
) -> list[dict]:
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
                except BackendUnavailable as exc:
                    if exc.code not in AUDIT_BEHIND:
                        raise
                    done.append({"name": name, "version": version})  # adopted; its audit event is queued
                    log.warning("audit event queued", extra={"model": name, "version": version, "code": exc.code})
                except Conflict:
                    continue  # another process adopted it first
                except MedinferError as exc:
                    # One unusable folder must not stop the gateway; it stays unrouted.
                    log.warning(
                        "version not adopted", extra={"model": name, "version": version, "code": exc.code}
                    )
        model = reg.get_model(name)
        ready = [v["version"] for v in model["versions"] if v["status"] == "ready"]
        if promote_latest and model["current"] is None and ready:
            try:
                reg.promote(name, max(ready), actor=actor, reason=reason)
            except BackendUnavailable as exc:
                if exc.code not in AUDIT_BEHIND:
                    raise
                log.warning("audit event queued", extra={"model": name, "code": exc.code})
            except Conflict:
                continue  # a concurrent start promoted it
    return done
