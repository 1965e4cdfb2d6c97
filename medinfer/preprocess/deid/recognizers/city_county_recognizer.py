"""Counties ('Hampden County') and places named after residence cues ('lives in', 'moved to')."""

from __future__ import annotations

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import ClinicalRegexRecognizer, Rule
from medinfer.preprocess.deid.vocab import is_not_name

__all__ = ["CityCountyRecognizer"]

_PLACE = r"(?P<phi>[A-Z][a-z'’.-]+(?:[ \t]+[A-Z][a-z'’.-]+){0,2})"


class CityCountyRecognizer(ClinicalRegexRecognizer):
    """spaCy's small model finds well-known cities as GPE but misses small towns; residence cues
    are nearly always followed by a place, so the capitalised words after them are taken."""

    ENTITIES = ("LOCATION",)
    RULES = (
        Rule(r"(?<![\w])(?P<phi>(?:[A-Z][a-z'’.-]+[ \t]+){1,2}(?:County|Parish|Borough|Township))\b", "LOCATION", 0.85),
        Rule(r"(?i:\b(?:lives|living|lived|resides|residing|resident|reside|moved|relocated|native|grew\s+up|"
             r"visiting|visited|traveled|travelled|returned|emigrated|immigrated|born)\s++(?:\w++\s++)?"
             r"(?:in|to|from|of|at|near)\s++)" + _PLACE, "LOCATION", 0.7),
        Rule(r"(?i:\b(?:city|town|village|hometown)\s*+(?:of|:)\s*+)" + _PLACE, "LOCATION", 0.8),
        Rule(r"(?i:\bfrom\s+)" + _PLACE + r"(?=[ \t]*(?:,|\.|;|\)|$))", "LOCATION", 0.5),
    )

    def accept(self, match, rule, text):
        value = match.group("phi")
        if value.split()[0].lower() in ("the", "a", "an", "his", "her", "their", "home") or is_not_name(value.split()[0]):
            return
        yield from super().accept(match, rule, text)
