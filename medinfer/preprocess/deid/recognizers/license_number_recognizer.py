"""Certificate and licence numbers (medical licence, DEA, board certificate, driver's licence)."""

from __future__ import annotations

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import (
    ClinicalRegexRecognizer,
    context_id_rule,
)

__all__ = ["LicenseNumberRecognizer"]


class LicenseNumberRecognizer(ClinicalRegexRecognizer):
    """'license plate' belongs to VehicleIdRecognizer, so 'plate' after the word is excluded."""

    ENTITIES = ("LICENSE",)
    RULES = (
        context_id_rule([r"licen[cs]e(?!\s+plate)", r"lic\.?", r"DEA", r"certificate", r"cert\.?",
                         r"driver'?s\s+licen[cs]e", r"DL", r"board\s+certification", r"NPI", r"permit"],
                        "LICENSE", 0.9),
    )
