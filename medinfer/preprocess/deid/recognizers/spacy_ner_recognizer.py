"""Person and place names from spaCy's statistical NER (en_core_web_sm, NER pipe only)."""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from medinfer.preprocess.deid import lexicon
from medinfer.preprocess.deid.vocab import EPONYM_HEADS, STATE_CODES, STATE_NAMES, cannot_be_name

__all__ = ["SpacyNerRecognizer"]

_PARTICLES = {"van", "von", "de", "der", "den", "del", "della", "di", "da", "la", "le", "du", "bin", "ibn", "al"}
_AFTER = re.compile(r"^[’']?s?\s+(\w+)")
_TOKEN = re.compile(r"\S+")


class SpacyNerRecognizer(EntityRecognizer):
    """Reads the entities the NLP engine already mapped to NAME/LOCATION and drops the clinical
    false positives the small model makes: eponyms ('Parkinson disease'), lab and section words
    ('INR', 'Cr 1.7', 'Assessment'), abbreviations ('EF', 'NC') and US states (not PHI)."""

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
            start = ent.start_char
            tokens = list(_TOKEN.finditer(text, start, ent.end_char))
            while tokens and cannot_be_name(tokens[0].group()):
                tokens.pop(0)
            while tokens and cannot_be_name(tokens[-1].group()):
                tokens.pop()
            if not tokens:
                continue
            words = [t.group().strip(".,;:()'’\"") for t in tokens]
            if any(w.lower() in EPONYM_HEADS for w in words):
                continue
            # Names carry no lower-case words besides particles ("van", "de"); "Started X per Y" is prose.
            if any(w[:1].islower() and w.lower() not in _PARTICLES for w in words):
                continue
            # A lone all-caps token from the model is an abbreviation far more often than a name
            # (capitalised headers are covered by the context recognizers).
            if len(words) == 1 and words[0].isupper() and len(words[0]) <= 5:
                continue
            # One safe word ('Biopsy', 'Mediterranean'), or a common word opening a sentence ('Check'),
            # is the small model's guess from capitalisation alone.
            if len(words) == 1 and (lexicon.is_safe(words[0]) or lexicon.sentence_initial(text, tokens[0].start())
                                    and lexicon.zipf(words[0].lower()) >= 3.0
                                    and not any(lexicon.name_evidence(words[0]))):
                continue
            after = _AFTER.match(text[ent.end_char:ent.end_char + 24])
            if after and after.group(1).lower() in EPONYM_HEADS:
                continue
            s, e = tokens[0].start(), tokens[-1].end()
            while e > s and text[e - 1] in ".,;:)('’\"":
                e -= 1
            while s < e and text[s] in "('\"":
                s += 1
            value = text[s:e]
            if label == "LOCATION" and (value in STATE_CODES or value.lower() in STATE_NAMES):
                continue
            if e > s:
                out.append(RecognizerResult(label, s, e, self.scores[label]))
        return out
