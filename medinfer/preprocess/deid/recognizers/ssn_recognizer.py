"""US Social Security numbers."""

from __future__ import annotations

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import (
    ClinicalRegexRecognizer,
    Rule,
    context_id_rule,
)

__all__ = ["SsnRecognizer"]


class SsnRecognizer(ClinicalRegexRecognizer):
    """Unlike Presidio's UsSsnRecognizer we do not drop 'invalid' SSNs (000-, 666-, 9xx-):
    a typo'd or test SSN in a note is still an identifier worth removing."""

    ENTITIES = ("SSN",)
    RULES = (
        Rule(r"(?<![\d-])(?P<phi>\d{3}-\d{2}-\d{4})(?![\d-])", "SSN", 0.85),
        # 3-2-4 digit groups separated by spaces are SSN-shaped too (phones group 3-3-4).
        Rule(r"(?<![\d-])(?P<phi>\d{3} \d{2} \d{4})(?![\d-])", "SSN", 0.7),
        context_id_rule([r"SSN", r"SS#", r"social\s+security", r"soc\s+sec"], "SSN", 0.95,
                        value=r"(?P<phi>\d{3}[ -.]?\d{2}[ -.]?\d{4})(?!\d)"),
    )
