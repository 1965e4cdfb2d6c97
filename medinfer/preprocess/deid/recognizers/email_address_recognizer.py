"""E-mail addresses."""

from __future__ import annotations

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import ClinicalRegexRecognizer, Rule

__all__ = ["EmailAddressRecognizer"]


class EmailAddressRecognizer(ClinicalRegexRecognizer):
    """A plain RFC 5322-ish address regex; no TLD validation (internal hosts count too)."""

    ENTITIES = ("EMAIL",)
    RULES = (Rule(r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}+@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)++", "EMAIL", 0.95),)
