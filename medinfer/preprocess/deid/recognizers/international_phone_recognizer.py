"""International and non-US local phone numbers ('+44 20 7946 0958', '030 901820', '(0151) 1234 567'),
validated by Google's libphonenumber metadata (the ``phonenumbers`` package Presidio also uses)."""

from __future__ import annotations

import re

import phonenumbers
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from medinfer.preprocess.deid.budget import checkpoint


__all__ = ["InternationalPhoneRecognizer"]

# A phone-shaped run: '+', '(' or a digit, then digits, spaces, dots, hyphens and parentheses, ending
# in a digit. One bounded character class: linear time, the number itself is checked in Python.
_CANDIDATE = re.compile(r"(?<![\w+/.-])(?P<num>[+(\d][\d() .-]{5,22}\d(?:[ \t]?(?:x|ext\.?)[ \t]?\d{1,5})?)"
                        r"(?![\w/]|\.\d)")
_EXTENSION = re.compile(r"[ \t]?(?:x|ext\.?)[ \t]?\d{1,5}$")
_GROUPS = re.compile(r"[ .()-]+")
_SPACES = re.compile(r"\s{2,}")
_NANP = re.compile(r"\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}")
_CUE = re.compile(r"(?i)\b(?:phone|tel|telephone|cell|mobile|mob|call|contact|reached|number|fax|whatsapp|ph|"
                  r"on|at)\b[^\n\d]{0,12}$|[A-Za-z]+,[ \t]$")
_DATE_LIKE = re.compile(r"\d{1,4}([./-])\d{1,2}\1\d{2,4}")


class InternationalPhoneRecognizer(EntityRecognizer):
    """A candidate with a leading ``+``/``00`` must be a *valid* number for its country code.
    Without it, it must be valid in one of ``regions`` and either follow a phone cue word or
    carry 9 or more digits; dates, decimals and SSN-shaped runs are left to their recognizers."""

    ENTITIES = ("PHONE",)

    def __init__(self, supported_language: str = "en",
                 regions: tuple[str, ...] = ("GB", "DE", "FR", "IN", "ES", "IT", "NL", "AU", "CA", "BR", "MX",
                                             "NG", "KE", "PL", "SE", "TR", "IE", "PT"),
                 score: float = 0.7) -> None:
        self.regions, self.score = tuple(regions), score
        super().__init__(supported_entities=list(self.ENTITIES), supported_language=supported_language)

    def load(self) -> None:
        pass

    def _valid(self, raw: str, cue: bool) -> bool:
        raw = _EXTENSION.sub("", raw)
        digits = sum(c.isdigit() for c in raw)
        if not 7 <= digits <= 15 or _DATE_LIKE.search(raw) or _SPACES.search(raw) or raw.count("(") != raw.count(")"):
            return False
        if raw.startswith(("+", "00")):
            try:
                number = phonenumbers.parse("+" + raw[2:] if raw.startswith("00") else raw, None)
                # a known country code and a plausible length: numbers of unassigned ranges still identify
                return phonenumbers.is_valid_number(number) or phonenumbers.is_possible_number(number)
            except phonenumbers.NumberParseException:
                return False
        if cue and digits >= 8 and len(_GROUPS.findall(raw)) >= 2:
            return True                     # 'reached at 21 13 54 35', 'contact: 95 6237-9511'
        if not (cue or digits >= 9) or not raw.startswith(("0", "(")) or _NANP.fullmatch(raw):
            return False                    # NANP shapes are PhoneFaxRecognizer's
        for region in self.regions:
            try:
                if phonenumbers.is_valid_number(phonenumbers.parse(raw, region)):
                    return True
            except phonenumbers.NumberParseException:
                continue
        return False

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        checkpoint()                         # linear scans; one budget check per note
        out: list[RecognizerResult] = []
        for m in _CANDIDATE.finditer(text):
            raw = m.group("num")
            if text[m.end():m.end() + 1] == ":":       # a time: '2000 22:00'
                continue
            cue = bool(_CUE.search(text, max(0, m.start() - 24), m.start()))
            if self._valid(raw, cue):
                out.append(RecognizerResult("PHONE", m.start("num"), m.end("num"), self.score))
        return out
