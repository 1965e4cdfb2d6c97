"""Telephone and fax numbers (NANP formats, +1, extensions); FAX when the nearest cue word says fax."""

from __future__ import annotations

import re

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import ClinicalRegexRecognizer, Rule

__all__ = ["PhoneFaxRecognizer"]

_CUE = re.compile(r"(?i)\b(fax(?:ed)?|facsimile|f|phone|ph|tel|telephone|cell|mobile|pager|beeper|call(?:ed)?|"
                  r"callback|home|work|office|contact|reached|p|c|h|w)\b")
_FAX_CUES = {"fax", "faxed", "facsimile", "f"}


class PhoneFaxRecognizer(ClinicalRegexRecognizer):
    """One recognizer for both labels: the digits look the same, only the cue word differs."""

    ENTITIES = ("PHONE", "FAX")
    RULES = (
        Rule(r"(?<![\w+])(?P<phi>(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}"
             r"(?:\s*+(?:x|ext\.?|extension)\s*+\d{1,5})?)(?!\d)", "PHONE", 0.85),
        Rule(r"(?i:\b(?:phone|tel|fax|cell|pager|ext)\b\.?\s*+[:#]?\s*+)(?P<phi>\d{4,5})(?!\d)", "PHONE", 0.6),
    )

    def accept(self, match, rule, text):
        for start, end, _label, score in super().accept(match, rule, text):
            window = text[max(0, start - 40):start]
            cues = _CUE.findall(window)
            label = "FAX" if cues and cues[-1].lower() in _FAX_CUES else "PHONE"
            yield start, end, label, score
