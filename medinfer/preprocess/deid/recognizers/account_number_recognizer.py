"""Account numbers (billing, encounter/FIN accounts)."""

from __future__ import annotations

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import (
    ClinicalRegexRecognizer,
    context_id_rule,
)

__all__ = ["AccountNumberRecognizer"]


class AccountNumberRecognizer(ClinicalRegexRecognizer):
    ENTITIES = ("ACCOUNT",)
    RULES = (
        context_id_rule([r"account", r"acct\.?", r"acc\.?", r"billing\s+account", r"billing", r"FIN",
                         r"financial\s+number", r"guarantor"], "ACCOUNT", 0.9),
    )
