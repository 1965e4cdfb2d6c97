"""Other unique identifying numbers: accession, specimen, order, case, encounter, claim."""

from __future__ import annotations

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import (
    ClinicalRegexRecognizer,
    Rule,
    context_id_rule,
)

__all__ = ["OtherIdRecognizer"]


class OtherIdRecognizer(ClinicalRegexRecognizer):
    """Context ids score high; a bare long code with 5+ digits is still flagged, at low score.

    The bare rule trades a little precision for recall: in clinical prose a
    token with five or more digits that is not a date, phone or measurement is
    almost always some identifier, and Safe Harbor's last category covers it.
    """

    ENTITIES = ("ID_OTHER",)
    RULES = (
        context_id_rule([r"accession", r"specimen", r"order", r"case", r"requisition", r"encounter", r"visit",
                         r"claim", r"reference", r"ref\.?", r"ticket", r"barcode", r"sample", r"lab"],
                        "ID_OTHER", 0.85),
        Rule(r"(?<![\w.:/-])(?P<phi>(?=(?:[A-Z-]*\d){5})[A-Z0-9](?:[A-Z0-9]|-(?=[A-Z0-9])){5,24})(?![\w/]|\.\d)",
             "ID_OTHER", 0.45),
    )
