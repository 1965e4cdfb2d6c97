"""A version's input contract: what callers depend on beyond the ONNX signature.

The contract is the ``medinfer.json`` metadata that shapes the API: the input kind
(tabular, text, image or tensor), the named feature schema, output names and
classes, FHIR codes, the OOD policy, and the drift/OOD reference profile file. A
new version inherits the current version's contract unless it brings its own (a
bare ``model.onnx`` retrained on new data keeps answering the same requests), and
one whose contract differs from current's needs ``--breaking``: clients of the
old contract would get 422s. Per-build facts (metrics, training data, weights)
are never inherited: they describe the artefact, not the API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medinfer.common.errors import Conflict
from medinfer.monitoring.profile import PROFILE_FILENAME

__all__ = ["contract_view", "resolve_contract", "PER_BUILD_KEYS"]

PER_BUILD_KEYS = frozenset({"name", "signature", "metrics", "training_data", "weights", "pipeline", "inherited"})
# Parts a version brought with medinfer.json may leave out and still take from current.
_INHERITABLE_PARTS = ("fhir", "features", "ood_policy", "reference_profile")


def contract_view(meta: dict[str, Any]) -> dict[str, Any]:
    """The parts of the metadata a caller's request or answer depends on."""
    inp = meta.get("input") or {}
    return {
        "kind": meta.get("kind", "tensor"),
        "input": {k: inp.get(k) for k in ("name", "datatype", "shape")} if inp else None,
        "features": [f.get("name") for f in meta.get("features") or []],
        "outputs": [(o.get("name"), o.get("datatype"), o.get("classes")) for o in meta.get("outputs") or []],
        "classes": meta.get("classes"),
        "fhir": meta.get("fhir"),
    }


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    a, b = contract_view(old), contract_view(new)
    return [part for part in a if a[part] != b[part]]


def resolve_contract(
    own: dict[str, Any] | None,
    own_profile: Path | None,
    current: dict[str, Any] | None,
    current_folder: Path | None,
    *,
    signature_compatible: bool,
    breaking: bool,
) -> tuple[dict[str, Any], Path | None, list[str]]:
    """``(metadata, profile file, inherited parts)`` for a new version.

    ``own`` is the candidate's ``medinfer.json`` (None for a bare ONNX file);
    ``current``/``current_folder`` describe the current version (None without one).
    A signature that changed (allowed with ``--breaking``) inherits nothing: the old
    schema could not describe the new inputs.
    """
    if current is None or not signature_compatible:
        return (dict(own) if own is not None else {"kind": "tensor"}), own_profile, []
    inherited: list[str] = []
    if own is None:
        meta = {k: v for k, v in current.items() if k not in PER_BUILD_KEYS}
        inherited = sorted(meta)
    else:
        meta = dict(own)
        for part in _INHERITABLE_PARTS:
            if part not in meta and part in current:
                meta[part] = current[part]
                inherited.append(part)
    profile = own_profile
    if profile is None and current_folder is not None and (current_folder / PROFILE_FILENAME).is_file():
        profile = current_folder / PROFILE_FILENAME
        if "reference_profile" not in inherited:
            inherited.append(PROFILE_FILENAME)
    if profile is None:
        meta.pop("reference_profile", None)
    changed = _differences(current, meta)
    if changed and not breaking:
        raise Conflict(
            "the version's input contract differs from the current version's ("
            + ", ".join(changed) + "); clients of the current contract would fail: publish with --breaking "
            "to allow it, or bring the current medinfer.json",
            code="contract-changed",
            extra={"changed": changed},
        )
    return meta, profile, inherited
