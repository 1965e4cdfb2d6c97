"""Medical record numbers, found by the words that introduce them (MRN, MR#, chart no., unit no.)."""

from __future__ import annotations

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import (
    ClinicalRegexRecognizer,
    context_id_rule,
)

__all__ = ["MrnRecognizer"]


class MrnRecognizer(ClinicalRegexRecognizer):
    """A bare 7-digit number is ambiguous; after "MRN" it is certain, so context is required."""

    ENTITIES = ("MRN",)
    RULES = (
        context_id_rule([r"MRN", r"MR", r"medical\s+record", r"med\s+rec", r"record", r"chart", r"unit",
                         r"hospital", r"patient", r"pt", r"EMPI", r"MPI", r"CMRN"], "MRN", 0.95,
                        ),
    )

    def accept(self, match, rule, text):
        # "patient"/"record"/"unit"/"hospital" alone are too common: demand an explicit number marker.
        head = match.group(0)[: match.start("phi") - match.start()].lower()
        if not any(k in head for k in ("mrn", "mr", "#", "no", "number", "num", "id", "med", "chart", "empi",
                                       "mpi")):
            return
        yield from super().accept(match, rule, text)
