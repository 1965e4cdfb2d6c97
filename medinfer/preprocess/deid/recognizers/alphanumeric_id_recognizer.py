"""Codes that mix letters and digits with no context word ('case AB4471Z', 'ref X7Y2-9913')."""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from medinfer.preprocess.deid.budget import checkpoint


__all__ = ["AlphanumericIdRecognizer"]

# A token of 5 to 20 letters, digits and inner hyphens (bounded, linear).
_TOKEN = re.compile(r"(?<![\w./-])(?P<phi>[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){4,19})(?![\w/]|\.\d)")
# Doses, rates and times glued to their number ('1500mg', '10mL', 'q4h', '120bpm', '2020s').
_MEASURE = re.compile(r"(?i)^(?:q?\d+(?:mg|mcg|ug|g|kg|ml|l|cc|mmhg|bpm|cm|mm|m|hrs?|h|min|s|iu|units?|mmol|meq|"
                      r"x|th|st|nd|rd|s|pm|am|yo|yrs?|wks?|days?|d|mo|lbs?|kcal|%))$")


class AlphanumericIdRecognizer(EntityRecognizer):
    """Safe Harbor's last category ('any other unique identifying number, characteristic, or code')
    is open-ended; in prose a token mixing letters with three or more digits is almost always
    such a code. Clinical tokens with letters and digits carry one or two digits ('A1c', 'SpO2',
    'CHA2DS2', 'COVID-19', 'BRCA1', 'L4-L5') or are a number with a unit ('1500mg'); they stay."""

    ENTITIES = ("ID_OTHER",)

    def __init__(self, supported_language: str = "en", min_digits: int = 3, score: float = 0.45) -> None:
        self.min_digits, self.score = min_digits, score
        super().__init__(supported_entities=list(self.ENTITIES), supported_language=supported_language)

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        checkpoint()                         # linear scans; one budget check per note
        out: list[RecognizerResult] = []
        for m in _TOKEN.finditer(text):
            value = m.group("phi")
            digits = sum(c.isdigit() for c in value)
            letters = sum(c.isalpha() for c in value)
            if digits < self.min_digits or not letters or _MEASURE.match(value.replace("-", "")):
                continue
            out.append(RecognizerResult("ID_OTHER", m.start("phi"), m.end("phi"), self.score))
        return out
