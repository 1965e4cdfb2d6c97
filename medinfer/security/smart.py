"""SMART on FHIR scopes mapped onto medinfer's ``infer`` scopes (FHIR route only).

A hospital's SMART backend-services client typically holds scopes such as
``system/*.read`` or ``system/Observation.read`` (SMART v1) or
``system/Observation.rs`` (v2), not our ``infer``. On ``POST /fhir/r4/$infer``
a SMART scope counts as ``infer`` (all models) when it

- has the context ``system`` or ``user`` (``patient/`` scopes belong to
  patient-facing apps launched for one patient and are not accepted), and
- grants read (v1 ``read`` or ``*``; v2 a permission string containing ``r``), and
- names ``*`` or every resource type the request submits (a Bundle of
  Observations needs ``Observation``; a note ``DocumentReference`` or
  ``Binary``; an imaging Bundle ``ImagingStudy`` and ``Binary``).

Our own scopes (``infer``, ``infer:<model>``) keep working unchanged. The
mapping only widens what the FHIR route accepts; other routes ignore SMART scopes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from medinfer.security.principal import Principal

__all__ = ["fhir_principal", "is_smart_scope", "may_use_fhir", "smart_grants_infer", "smart_read_types"]

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


def may_use_fhir(principal: Principal) -> bool:
    """Any chance of being allowed (checked before the body is read, so a caller without scopes learns nothing)."""
    return principal.may_infer_any() or bool(smart_read_types(principal.scopes))


def fhir_principal(principal: Principal, resource_types: Iterable[str]) -> Principal:
    """The principal with ``infer`` added when its SMART scopes cover the submitted resource types."""
    if "infer" in principal.scopes or not smart_grants_infer(principal.scopes, resource_types):
        return principal
    return replace(principal, scopes=principal.scopes | {"infer"})
