"""Vehicle identifiers: 17-character VINs anywhere, plates and registrations after their words."""

from __future__ import annotations

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import (
    ClinicalRegexRecognizer,
    Rule,
    context_id_rule,
)

__all__ = ["VehicleIdRecognizer"]

_PLATE = r"(?P<phi>(?=[A-Z0-9 •·-]{0,11}\d)[A-Z0-9]{1,4}[ •·-]?[A-Z0-9]{1,7})(?![A-Za-z0-9])"


class VehicleIdRecognizer(ClinicalRegexRecognizer):
    """A VIN (ISO 3779: 17 characters, no I/O/Q in the modern form) is distinctive enough alone."""

    ENTITIES = ("VEHICLE_ID",)
    RULES = (
        Rule(r"(?<![A-Za-z0-9])(?P<phi>(?=(?:[A-Z]*\d){3})(?=(?:\d*[A-Z]){2})[A-Z0-9]{17})(?![A-Za-z0-9])",
             "VEHICLE_ID", 0.7),
        context_id_rule([r"VIN", r"vehicle\s+identification", r"vehicle"], "VEHICLE_ID", 0.9),
        context_id_rule([r"license\s+plate", r"licence\s+plate", r"plate", r"tag", r"registration"],
                        "VEHICLE_ID", 0.85, value=_PLATE, gap=r"(?:\s*+(?:(?:number|no)\b\.?|#))?"),
    )
