"""Philter-style safe-list stage: a capitalised word that is not provably safe is flagged."""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts


from medinfer.preprocess.deid import lexicon
from medinfer.preprocess.deid.budget import checkpoint
from medinfer.preprocess.deid.vocab import ABBREVIATIONS, CREDENTIALS, EPONYM_HEADS, GENERIC_FACILITY_WORDS

__all__ = ["SafeListRecognizer"]

_PLACE_CUE = re.compile(r"(?i)\b(?:at|from|to|in|into|via|near|our|the)[ \t]+$")
# After these a capitalised name is a place or an organisation ('at Quest Diagnostics', 'seen in Arsoyberg').
_FACILITY_CUE = re.compile(r"\b(?i:at|from|to|in|into|via)[ \t]+(?:the[ \t]+)?(?=[A-Z])")
_STRONG_PLACE_CUE = re.compile(r"(?i)\b(?:at|from|in|near|via|to)[ \t]+(?:the[ \t]+)?$")
_NEXT_CAP = re.compile(r"[ \t](?:(?:of|de|del|la|&)[ \t])?(?P<w>[A-ZÀ-Ý][^\W\d_'’-]*)(?:['’]s)?")
_HEAD_AFTER = re.compile(r"[ \t]+([^\W\d_]+)")
_CREDENTIALS = frozenset(CREDENTIALS)
# Words that make a capitalised run after a place cue a facility ('to Mass General', 'from Good Samaritan').
_FACILITY_HINTS = frozenset("""general medical memorial mercy samaritan presbyterian baptist methodist adventist
lutheran regional children's childrens university health healthcare kaiser rehab clinic hospital infirmary
hopkins sinai""".split())
_RUN = re.compile(r"(?P<run>(?:[A-Z][\w'’-]*[ \t]){1,3}[A-Z][\w'’-]*)")
_FIELD_LABEL = re.compile(r"[ \t]{0,2}(?:#|:|No\.|number\b)")
_FACILITY_WORDS = GENERIC_FACILITY_WORDS | {"practice", "diagnostics", "group", "associates", "partners", "labs"}


class SafeListRecognizer(EntityRecognizer):
    """Philter (Norgeot et al., 2020) reaches its recall by removing every token that is not on a
    safe list in context, instead of only tokens that look like PHI. In free text most words are
    safe by case: a lower-case word is prose. So this stage looks only at capitalised words that
    do not open a sentence, line or field, and flags each one that is

    - not clinical vocabulary, an abbreviation, a credential or an eponym head (``lexicon.CLINICAL_SAFE``),
    - not a drug name (drug-named-entity-recognition's dictionary), and
    - not a common English word (wordfreq Zipf frequency below ``max_zipf``: 'Okafor' 2.6 and
      'Dlamini' 2.3 are flagged; 'Vanderbilt' 3.3 only after a place cue; 'Quest', 'Epic' are not).

    After a place cue ('at', 'from', 'in') the bar is higher (Zipf below ``place_zipf``) and the
    capitalised words that follow are taken too: 'at Quest Diagnostics', 'seen in Arsoyberg'.
    Countries and states are not PHI and are left. Unknown all-caps words of 3 to 6 letters
    ('OHSU', 'UCSF') are flagged only after a place cue, since most such words in notes are
    abbreviations. Output is NAME, or
    LOCATION after a place cue, at a low score: the overlap merge lets a more specific recognizer
    name the span."""

    ENTITIES = ("NAME", "LOCATION")

    def __init__(self, supported_language: str = "en", max_zipf: float = 3.0, acronym_zipf: float = 2.6,
                 place_zipf: float = 4.5, score: float = 0.5) -> None:
        self.max_zipf, self.acronym_zipf, self.place_zipf, self.score = max_zipf, acronym_zipf, place_zipf, score
        super().__init__(supported_entities=list(self.ENTITIES), supported_language=supported_language)

    def load(self) -> None:
        lexicon.drug_words()

    def _unsafe(self, word: str) -> bool:
        return not (lexicon.is_safe(word) or word in ABBREVIATIONS or word in _CREDENTIALS
                    or word.lower() in EPONYM_HEADS)

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        checkpoint()                         # word scans are linear; one budget check per note
        out: list[RecognizerResult] = []
        for cue in _FACILITY_CUE.finditer(text):
            run = _RUN.match(text, cue.end())
            if not run:
                continue
            words = [lexicon.core(w).lower() for w in run.group("run").split()]
            if (any(w in _FACILITY_HINTS for w in words)
                    and any(w not in GENERIC_FACILITY_WORDS and w not in lexicon.CLINICAL_SAFE for w in words)):
                out.append(RecognizerResult("LOCATION", run.start(), run.start() + len(lexicon.core(run.group())),
                                            self.score))
        for m in lexicon.WORD.finditer(text):
            word = lexicon.core(m.group())
            if not word[0].isupper() or len(word) < 2:
                continue
            s, e = m.start(), m.start() + len(word)
            if (s and text[s - 1].isdigit()) or text[e:e + 1].isdigit() or _FIELD_LABEL.match(text, e):
                continue                     # 'SpO2', 'A1c'; a field label such as 'Callback #:'
            cue = _PLACE_CUE.search(text, max(0, s - 8), s)
            if word.isupper():
                if (cue and 3 <= len(word) <= 6 and word.isascii() and self._unsafe(word)
                        and lexicon.zipf(word.lower()) < self.acronym_zipf):
                    out.append(RecognizerResult("LOCATION", s, e, self.score))
                continue
            if not self._unsafe(word):
                continue
            z = lexicon.zipf(word.lower())
            if (z < self.place_zipf and _STRONG_PLACE_CUE.search(text, max(0, s - 12), s)
                    and word.lower() not in lexicon.country_names()):
                # a named place or organisation: take the capitalised words that follow (up to 4)
                for _ in range(4):
                    nxt = _NEXT_CAP.match(text, e)
                    if not nxt or (nxt.group("w").lower() in lexicon.CLINICAL_SAFE
                                   and nxt.group("w").lower() not in _FACILITY_WORDS):
                        break
                    e = nxt.end()
                value = text[s:e]
                if value.lower() in lexicon.country_names():
                    continue
                e = s + len(lexicon.core(value))
                out.append(RecognizerResult("LOCATION", s, e, self.score))
                continue
            if lexicon.sentence_initial(text, s) or z >= self.max_zipf:
                continue
            after = _HEAD_AFTER.match(text, e)
            if after and after.group(1).lower() in EPONYM_HEADS:      # 'Caprini score', 'Wells criteria'
                continue
            out.append(RecognizerResult("LOCATION" if cue else "NAME", s, e, self.score))
        return out
