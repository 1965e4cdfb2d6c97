"""Observations -> a tabular model's feature record, by the codes in its metadata.

A model that accepts FHIR declares in ``medinfer.json``::

    "fhir": {"loinc": {"<feature>": {"system": "http://loinc.org", "code": "8302-2", "unit": "cm"}, ...}}

``system`` defaults to LOINC. Each feature needs exactly one Observation with
that code and a ``valueQuantity`` in a unit convertible (pint) to ``unit``.
Observations whose code is not declared are ignored; an Observation with no
coding in a system the model declares is refused (``unsupported-code-system``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medinfer.common.errors import ValidationFailed
from medinfer.fhir.units import UCUM_SYSTEM, convert

__all__ = ["LOINC", "FeatureCode", "FeatureMap"]

LOINC = "http://loinc.org"


@dataclass(frozen=True)
class FeatureCode:
    feature: str
    system: str
    code: str
    unit: str
    display: str | None = None


class FeatureMap:
    def __init__(self, codes: list[FeatureCode]) -> None:
        self.codes = codes
        self.by_code = {(c.system, c.code): c for c in codes}
        self.systems = frozenset(c.system for c in codes) | {LOINC}

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> FeatureMap:
        block = (metadata.get("fhir") or {}).get("loinc")
        if not isinstance(block, dict) or not block:
            raise ValidationFailed("this model does not declare FHIR codes for its features", field="model",
                                   code="model-not-fhir-mapped")
        order = [f["name"] for f in metadata.get("features", [])] or list(block)
        codes = [FeatureCode(name, block[name].get("system", LOINC), block[name]["code"], block[name]["unit"],
                             block[name].get("display")) for name in order]
        return cls(codes)

    def record(self, observations: list[tuple[str, dict[str, Any]]]) -> tuple[dict[str, float], list[int]]:
        """The feature record and the indexes of the Observations used (the RiskAssessment's basis)."""
        values: dict[str, float] = {}
        used: list[int] = []
        for idx, (where, obs) in enumerate(observations):
            codings = (obs.get("code") or {}).get("coding") or []
            known = [c for c in codings if c.get("system") in self.systems]
            if not known:
                raise ValidationFailed("Observation.code has no coding in a code system this model declares",
                                       field=f"{where}.code.coding", code="unsupported-code-system",
                                       extra={"supported_systems": sorted(self.systems)})
            fc = next((self.by_code[(c["system"], c.get("code"))] for c in known
                       if (c["system"], c.get("code")) in self.by_code), None)
            if fc is None:
                continue
            if fc.feature in values:
                raise ValidationFailed(f"more than one Observation for {fc.system}|{fc.code}", field=f"{where}.code",
                                       code="duplicate-observation")
            values[fc.feature] = self._value(fc, obs, where)
            used.append(idx)
        missing = [c for c in self.codes if c.feature not in values]
        if missing:
            first = missing[0]
            raise ValidationFailed(
                f"missing required Observation {first.system}|{first.code} ({first.feature})"
                + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""),
                field="Bundle.entry", code="missing-observation",
                extra={"missing": [{"system": c.system, "code": c.code} for c in missing]},
            )
        return values, used

    @staticmethod
    def _value(fc: FeatureCode, obs: dict[str, Any], where: str) -> float:
        q = obs.get("valueQuantity")
        if not isinstance(q, dict) or not isinstance(q.get("value"), (int, float)) or isinstance(q.get("value"), bool):
            raise ValidationFailed(f"Observation {fc.system}|{fc.code} needs a valueQuantity with a value",
                                   field=f"{where}.valueQuantity", code="value-not-quantity")
        if q.get("system") not in (None, UCUM_SYSTEM):
            raise ValidationFailed("Quantity.system must be UCUM (http://unitsofmeasure.org)",
                                   field=f"{where}.valueQuantity.system", code="unknown-unit")
        code = q.get("code") or q.get("unit")
        try:
            return convert(float(q["value"]), code, fc.unit)
        except ValidationFailed as err:
            err.extra["field"] = f"{where}.valueQuantity"
            err.detail = f"Observation {fc.system}|{fc.code}: {err.detail}"
            raise
