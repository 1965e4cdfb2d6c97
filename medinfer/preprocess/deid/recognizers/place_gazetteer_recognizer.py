"""Cities and counties named in prose ('from Sacramento', 'a Phoenix clinic', 'Harris County')."""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts


from medinfer.preprocess.deid import lexicon
from medinfer.preprocess.deid.budget import checkpoint

__all__ = ["PlaceGazetteerRecognizer"]

_CUE_BEFORE = re.compile(r"(?i)\b(?:in|from|to|near|at|of|outside|around|a|an|our|the|their|his|her)[ \t]+$")
_CUE_AFTER = re.compile(r"(?i)[ \t,]+(?:clinic|office|hospital|area|resident|native|campus|location|site|branch|"
                        r"county|metro|region|suburbs?)\b")
_LOWER_OK = frozenset("de del la las los le les di da do dos das du of the upon on am an der el al sur".split())


class PlaceGazetteerRecognizer(EntityRecognizer):
    """Looks every capitalised word up in the packaged place list (GeoNames cities of 15,000+
    people, US counties; states and countries are not PHI and are not listed) and takes the
    longest place name that starts there. A place name that is also a common English word
    ('Mobile', 'Phoenix', 'Reading') counts only with a cue before or after it."""

    ENTITIES = ("LOCATION",)

    def __init__(self, supported_language: str = "en", common_zipf: float = 3.8, score: float = 0.6,
                 cue_score: float = 0.7) -> None:
        self.common_zipf, self.score, self.cue_score = common_zipf, score, cue_score
        super().__init__(supported_entities=list(self.ENTITIES), supported_language=supported_language)

    def load(self) -> None:
        lexicon.place_names()

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        checkpoint()                         # word scans are linear; one budget check per note
        places = lexicon.place_names()
        out: list[RecognizerResult] = []
        lowered = text.lower()
        pos = 0
        for m in lexicon.WORD.finditer(text):
            if m.start() < pos or not m.group()[0].isupper():
                continue
            word = lexicon.core(m.group())
            candidates = places.get(word.lower())
            if not candidates:
                continue
            s = m.start()
            for name in candidates:
                e = s + len(name)
                if lowered[s:e] != name or (e < len(text) and (text[e].isalnum())):
                    continue
                words = text[s:e].split()
                if not all(w[0].isupper() or w.lower() in _LOWER_OK for w in words):
                    continue
                if len(words) == 1 and lexicon.is_safe(words[0]):
                    break
                cue = _CUE_BEFORE.search(text, max(0, s - 8), s) or _CUE_AFTER.match(text, e)
                common = len(words) == 1 and lexicon.zipf(name) >= self.common_zipf
                if not cue and (common or text[s:e].isupper()
                                or lexicon.sentence_initial(text, s) and name in lexicon.common_words()):
                    break
                out.append(RecognizerResult("LOCATION", s, e, self.cue_score if cue else self.score))
                pos = e
                break
        return out
