"""Health plan beneficiary numbers: member, subscriber, policy, group, Medicare/Medicaid ids."""

from __future__ import annotations

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import (
    ClinicalRegexRecognizer,
    context_id_rule,
)

__all__ = ["HealthPlanIdRecognizer"]


class HealthPlanIdRecognizer(ClinicalRegexRecognizer):
    """Plan ids have no fixed format across payers, so the introducing words carry the decision."""

    ENTITIES = ("HEALTH_PLAN_ID",)
    RULES = (
        context_id_rule([r"member", r"subscriber", r"policy", r"group", r"insurance", r"insurance\s+card",
                         r"health\s+plan(?:\s+beneficiary)?", r"beneficiary", r"medicare", r"medicaid",
                         r"MBI", r"HICN", r"plan", r"payer", r"coverage"], "HEALTH_PLAN_ID", 0.9),
    )
