"""Device identifiers and serial numbers (implants, pumps, monitors, UDI)."""

from __future__ import annotations

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import (
    ClinicalRegexRecognizer,
    context_id_rule,
)

__all__ = ["DeviceIdRecognizer"]


class DeviceIdRecognizer(ClinicalRegexRecognizer):
    ENTITIES = ("DEVICE_ID",)
    RULES = (
        context_id_rule([r"serial", r"S/N", r"SN", r"device", r"UDI", r"implant", r"generator", r"lead",
                         r"model", r"pump", r"monitor", r"catalog(?:ue)?"], "DEVICE_ID", 0.9),
    )
