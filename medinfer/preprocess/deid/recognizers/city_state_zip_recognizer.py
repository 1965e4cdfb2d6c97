"""'City, ST 12345' lines and ZIP codes: the city and the ZIP are PHI, the state is not."""

from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult

from medinfer.preprocess.deid.budget import finditer
from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import ClinicalRegexRecognizer
from medinfer.preprocess.deid.vocab import STATE_CODES

__all__ = ["CityStateZipRecognizer"]

_STATE_NAMES = ("Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|"
                "Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|"
                "Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|"
                "New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|"
                "South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|"
                "Wisconsin|Wyoming")
_CITY = r"(?P<city>[A-Z][a-z'’.-]+(?:[ \t]+[A-Z][a-z'’.-]+){0,2})"
_ZIP = r"(?P<zip>\d{5}(?:-\d{4})?)"
_LINE = re.compile(_CITY + r",[ \t]*(?P<state>" + "|".join(STATE_CODES) + "|" + _STATE_NAMES + r")\b\.?"
                   r"(?:[ \t,]+" + _ZIP + r")?(?!\d)")
_ZIP_CONTEXT = re.compile(r"(?i:\b(?:zip(?:\s*+code)?|postal\s++code)\s*+[:#]?\s*+)" + _ZIP + r"(?!\d)")
# Two-letter states that are also credentials: "Jones, MD" is a person, not Maryland.
_AMBIGUOUS = {"MD", "DO", "PA", "ME", "OR", "IN", "OK", "MA", "DE", "CO", "HI"}


class CityStateZipRecognizer(ClinicalRegexRecognizer):
    """Ambiguous state codes (MD, DO, PA...) count only with a ZIP after them."""

    ENTITIES = ("LOCATION",)

    def analyze(self, text, entities, nlp_artifacts=None):
        out: list[RecognizerResult] = []
        for m in finditer(_LINE, text):
            has_zip = m.group("zip") is not None
            if m.group("state") in _AMBIGUOUS and not has_zip:
                continue
            out.append(RecognizerResult("LOCATION", m.start("city"), m.end("city"), 0.85 if has_zip else 0.7))
            if has_zip:
                out.append(RecognizerResult("LOCATION", m.start("zip"), m.end("zip"), 0.9))
        for m in finditer(_ZIP_CONTEXT, text):
            out.append(RecognizerResult("LOCATION", m.start("zip"), m.end("zip"), 0.9))
        return out
