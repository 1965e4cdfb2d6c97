"""Person and place names from spaCy's statistical NER (en_core_web_sm, NER pipe only)."""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from medinfer.preprocess.deid.vocab import EPONYM_HEADS, is_not_name

__all__ = ["SpacyNerRecognizer"]

_AFTER = re.compile(r"^[’']?s?\s+(\w+)")


class SpacyNerRecognizer(EntityRecognizer):
    """Reads the entities the NLP engine already mapped to NAME/LOCATION and drops the clinical
    false positives the small model makes: eponyms ('Parkinson disease'), drug brands and section
    words ('Lasix', 'Assessment') and spans of digits/punctuation only."""

    ENTITIES = ("NAME", "LOCATION")

    def __init__(self, supported_language: str = "en", name_score: float = 0.75, location_score: float = 0.7) -> None:
        self.scores = {"NAME": name_score, "LOCATION": location_score}
        super().__init__(supported_entities=list(self.ENTITIES), supported_language=supported_language)

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        if nlp_artifacts is None:
            return []
        out: list[RecognizerResult] = []
        for ent in nlp_artifacts.entities:
            label = ent.label_
            if label not in self.scores:
                continue
            words = [w for w in re.findall(r"[A-Za-z][\w'’.-]*", ent.text)]
            if not words or all(is_not_name(w) for w in words) or not any(w[0].isupper() for w in words):
                continue
            after = _AFTER.match(text[ent.end_char:ent.end_char + 24])
            if after and after.group(1).lower() in EPONYM_HEADS:
                continue
            start, end = ent.start_char, ent.end_char
            # Trim leading/trailing non-name words the model swept in ("Dr. Smith" -> "Smith").
            tokens = list(re.finditer(r"\S+", text[start:end]))
            while tokens and is_not_name(tokens[0].group()):
                tokens.pop(0)
            while tokens and is_not_name(tokens[-1].group()):
                tokens.pop()
            if not tokens:
                continue
            s, e = start + tokens[0].start(), start + tokens[-1].end()
            while e > s and text[e - 1] in ".,;:)('’":
                e -= 1
            if e > s:
                out.append(RecognizerResult(label, s, e, self.scores[label]))
        return out
