"""Dates in every format of ``deid.dates`` (numeric, ISO, named months, month/day, month/year,
birth years) plus holidays."""

from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult

from medinfer.preprocess.deid.budget import finditer
from medinfer.preprocess.deid.dates import DATE_PATTERNS
from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import ClinicalRegexRecognizer

__all__ = ["ClinicalDateRecognizer"]

# "7/10" after these words is a score or a ratio, not July 10th.
_SCORE_CUE = re.compile(r"(?i)\b(?:pain|score|scale|rated|rates|strength|power|motor|grade|murmur|gcs|apgar|"
                        r"bp|blood pressure|ratio|tabs?|tablets?|norco|percocet|vicodin|augmentin|of)\W{0,3}"
                        r"(?:\w+\W{1,3}){0,2}$")
_AFTER_FRACTION = re.compile(r"(?i)^\s*(?:tabs?|tablets?|of|strength|cups?|mg|ml|score|pain|ns|\")")
_HOLIDAY = re.compile(r"\b(?:Christmas(?:\s+(?:Eve|Day))?|Thanksgiving(?:\s+Day)?|Easter(?:\s+Sunday)?|"
                      r"New\s+Year'?s(?:\s+(?:Eve|Day))?|Independence\s+Day|Fourth\s+of\s+July|Halloween|"
                      r"Memorial\s+Day|Labor\s+Day|Veterans\s+Day|Valentine'?s\s+Day)\b")


class ClinicalDateRecognizer(ClinicalRegexRecognizer):
    """Presidio's DateRecognizer misses '14-Mar-2021', 'March 14th' and month/day forms; spaCy's
    DATE also tags '3 days' and 'yesterday'. Formats here are the ones we can also shift.

    Bare years are left alone (Safe Harbor allows them) unless a birth cue precedes them;
    bare month/day ('3/14') scores lower and is dropped after score words ('pain 7/10')."""

    ENTITIES = ("DATE",)

    def analyze(self, text, entities, nlp_artifacts=None):
        results: list[RecognizerResult] = []
        for pattern in DATE_PATTERNS:
            for m in finditer(pattern.regex, text):
                start, end = (m.span("y") if pattern.name == "birth_year" else m.span())
                if pattern.name == "numeric_month_day":
                    if _SCORE_CUE.search(text[max(0, start - 30):start]) or _AFTER_FRACTION.match(text[end:end + 8]):
                        continue
                    if m.group("d") == "10" and re.search(r"(?i)\b(?:of|out of)\s*$", text[max(0, start - 8):start]):
                        continue
                if pattern.parse(m) is None:
                    continue
                results.append(RecognizerResult("DATE", start, end, pattern.score))
        for m in finditer(_HOLIDAY, text):
            results.append(RecognizerResult("DATE", m.start(), m.end(), 0.7))
        return results
