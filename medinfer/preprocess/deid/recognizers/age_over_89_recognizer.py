"""Ages over 89 ("92-year-old", "92 yo", "aged 95", "age: 101", "93F"); younger ages are not PHI."""

from __future__ import annotations

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import ClinicalRegexRecognizer, Rule

__all__ = ["AgeOver89Recognizer"]

_AGE = r"(?P<phi>9\d|1[0-2]\d)"


class AgeOver89Recognizer(ClinicalRegexRecognizer):
    """Safe Harbor aggregates ages over 89 into '90 or older'; only the number is the entity so the
    surrogate can write '90+' and keep 'year-old' in place."""

    ENTITIES = ("AGE",)
    RULES = (
        Rule(r"(?<![\d.])" + _AGE + r"\s*+-?\s*+(?i:years?|yrs?|y/o|y\.o\.?|yo|y|year-old|yr-old|"
             r"years-old|-year-old|-yo)\b", "AGE", 0.9),
        Rule(r"(?i:\b(?:aged?|age\s*+:|age\s++of|is\s++now|turned|turns|turning)\s*+)" + _AGE + r"(?!\d|\.\d|%)", "AGE", 0.85),
        Rule(r"(?<![\w.])" + _AGE + r"(?:[MF]|\s?(?:M|F|male|female|man|woman))\b", "AGE", 0.7),
        Rule(r"(?<![\w.])" + _AGE + r"(?i:th)\s+(?i:birthday)", "AGE", 0.9),
    )
