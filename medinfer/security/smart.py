"""SMART on FHIR scopes mapped onto per-model rights, explicitly (FHIR route only).

A hospital's SMART backend-services client typically holds scopes such as
``system/*.read`` or ``system/Observation.read`` (SMART v1) or
``system/Observation.rs`` (v2), not our ``infer``. On ``POST /fhir/r4/$infer``
SMART scopes grant ``infer:<model>`` for the models the operator mapped to the
submitted resource types (``MEDINFER_GATEWAY_SMART_SCOPE_MODELS``, resource
type -> model names; default the shipped models: ``Observation`` ->
breast_cancer, ``DocumentReference`` -> note_embedding, ``ImagingStudy`` ->
image_quality), and only when the scopes

- have the context ``system`` or ``user`` (``patient/`` scopes belong to
  patient-facing apps launched for one patient and are not accepted),
- grant read (v1 ``read`` or ``*``; v2 a permission string containing ``r``), and
- name ``*`` or every resource type the request submits (a Bundle of
  Observations needs ``Observation``; a note ``DocumentReference`` or
  ``Binary``; an imaging Bundle ``ImagingStudy`` and ``Binary``).

``system/*.read`` therefore grants the models mapped to the types submitted,
never "all models"; a model no resource type maps to needs ``infer`` or
``infer:<model>``. Our own scopes keep working unchanged; other routes ignore
SMART scopes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from medinfer.security.principal import Principal

__all__ = ["fhir_principal", "is_smart_scope", "may_use_fhir", "smart_grants_infer", "smart_models",
           "smart_read_types", "DEFAULT_SMART_SCOPE_MODELS"]

# Resource type -> models a SMART read scope on it grants (the shipped models; operators map their own).
DEFAULT_SMART_SCOPE_MODELS: dict[str, list[str]] = {
    "Observation": ["breast_cancer"], "DocumentReference": ["note_embedding"], "ImagingStudy": ["image_quality"],
}

_SMART = re.compile(r"^(system|user|patient)/([A-Za-z]+|\*)\.([a-z*]+)$")
_V2_PERMS = re.compile(r"^c?r?u?d?s?$")
# Envelope types a request may carry without needing their own scope.
_ENVELOPES = frozenset({"Bundle", "Parameters"})


def is_smart_scope(scope: str) -> bool:
    return bool(_SMART.fullmatch(scope))


def smart_read_types(scopes: Iterable[str]) -> frozenset[str]:
    """Resource types (``*`` for all) that ``system/`` or ``user/`` scopes allow reading."""
    out = set()
    for s in scopes:
        m = _SMART.fullmatch(s)
        if not m or m.group(1) == "patient":
            continue
        perm = m.group(3)
        if perm in ("read", "*") or (_V2_PERMS.fullmatch(perm) and "r" in perm):
            out.add(m.group(2))
    return frozenset(out)


def smart_grants_infer(scopes: Iterable[str], resource_types: Iterable[str]) -> bool:
    readable = smart_read_types(scopes)
    if "*" in readable:
        return True
    needed = set(resource_types) - _ENVELOPES
    return bool(needed) and needed <= readable


def smart_models(scopes: Iterable[str], resource_types: Iterable[str],
                 mapping: dict[str, list[str]]) -> frozenset[str]:
    """The models SMART ``scopes`` grant for a request submitting ``resource_types`` (empty: none)."""
    types = set(resource_types)
    if not smart_grants_infer(scopes, types):
        return frozenset()
    return frozenset(m for t in types - _ENVELOPES for m in mapping.get(t, ()))


def may_use_fhir(principal: Principal, mapping: dict[str, list[str]] | None = None) -> bool:
    """Any chance of being allowed (checked before the body is read, so a caller without scopes learns nothing)."""
    mapping = DEFAULT_SMART_SCOPE_MODELS if mapping is None else mapping
    readable = smart_read_types(principal.scopes)
    return principal.may_infer_any() or bool(
        readable and any(models and ("*" in readable or t in readable) for t, models in mapping.items()))


def fhir_principal(principal: Principal, resource_types: Iterable[str],
                   mapping: dict[str, list[str]] | None = None) -> Principal:
    """The principal with ``infer:<model>`` added for each model its SMART scopes grant on these resource types."""
    mapping = DEFAULT_SMART_SCOPE_MODELS if mapping is None else mapping
    granted = smart_models(principal.scopes, resource_types, mapping)
    extra = {f"infer:{m}" for m in granted} - principal.scopes
    return replace(principal, scopes=principal.scopes | extra) if extra else principal
