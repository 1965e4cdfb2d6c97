"""The language gate: text the de-identifier cannot handle is refused, never passed on.

The recognizers and the spaCy model are English; on Spanish notes they catch about a third
of the PHI. So before any analysis ``LanguageGate.check`` decides whether a text is written
in a supported language, and raises ``UnsupportedLanguage`` (422 ``unsupported-language``,
naming the detected language, never quoting the text) when it is not.

Detection uses Lingua (PyPI ``lingua-language-detector``: n-gram models shipped in the wheel,
no download, Rust core) restricted to ``CANDIDATES`` in low-accuracy (trigram) mode, which
loads in under a second.

English notes are full of names and places from other languages ("Pt Maria Guadalupe
Hernández", "Wei Zhang from Guangzhou"), so the gate judges the *prose*, not the names:

- evidence = the words that do not start with a capital letter (names, places, titles and
  abbreviations are capitalised), each at least two letters long. Words in scripts without
  case (Arabic, Chinese...) count too, except when they weigh less than twice the cased prose
  (CJK characters weigh three letters): then they are names inside English prose
  ("Pt محمد عبد الله seen today") and the cased prose alone is judged;
- fewer than ``min_letters`` letters of evidence -> accepted: too little prose to judge, and
  nothing in it that the English rules would handle worse;
- otherwise refused only when the detector puts ``min_confidence`` (default 0.6) on one
  unsupported language *and* less than ``max_supported_confidence`` (0.2) on all supported
  ones together; anything less certain is accepted.

The thresholds were chosen on short English clinical sentences carrying Spanish, Chinese,
Arabic, Vietnamese and Yoruba names (tests/unit/test_deid_language.py): lowercase
fragments of 2-3 words ("c/o chest pain") are where the detector wavers, and the evidence
floor keeps them out. Languages outside ``CANDIDATES`` are reported as the nearest
candidate, which is almost never English, so they are refused too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from medinfer.common.errors import ValidationFailed

__all__ = ["CANDIDATES", "LanguageGate", "UnsupportedLanguage"]

#: ISO 639-1 codes the detector chooses among (the most common languages of US patients
#: and of the clinical literature).
CANDIDATES = ("en", "es", "fr", "de", "it", "pt", "nl", "pl", "ru", "uk", "tr", "ar", "fa", "he", "hi",
              "zh", "ja", "ko", "vi", "tl")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")


class UnsupportedLanguage(ValidationFailed):
    code, title = "unsupported-language", "Unsupported language"


class LanguageGate:
    def __init__(self, supported: Sequence[str] = ("en",), *, min_letters: int = 15,
                 min_confidence: float = 0.6, max_supported_confidence: float = 0.2) -> None:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        self.supported = tuple(dict.fromkeys(s.lower() for s in supported))
        unknown = [s for s in self.supported if not hasattr(IsoCode639_1, s.upper())]
        if unknown:
            raise ValueError(f"unknown ISO 639-1 language codes: {unknown}")
        self.min_letters = min_letters
        self.min_confidence = min_confidence
        self.max_supported_confidence = max_supported_confidence
        codes = dict.fromkeys((*CANDIDATES, *self.supported))
        languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in codes]
        self._detector = (LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode()
                          .with_preloaded_language_models().build())

    @staticmethod
    def evidence(text: str) -> tuple[str, int]:
        """The prose words of ``text`` (see the module docstring) and their weight in letters."""
        cased, caseless = [], []
        for w in _WORD.findall(text):
            if len(w) < 2 or w[0].isupper():
                continue
            (cased if w[0].islower() else caseless).append(w)
        cased_weight = sum(len(w) for w in cased)
        caseless_weight = sum(len(w) + 2 * len(_CJK.findall(w)) for w in caseless)
        if caseless_weight < 2 * cased_weight:
            return " ".join(cased), cased_weight
        return " ".join(cased + caseless), cased_weight + caseless_weight

    def detect(self, text: str) -> str | None:
        """The unsupported language ``text`` is written in (ISO 639-1), or ``None`` when it may pass."""
        prose, letters = self.evidence(text)
        if letters < self.min_letters:
            return None
        values = self._detector.compute_language_confidence_values(prose)
        if not values:
            return None
        top = values[0]
        code = top.language.iso_code_639_1.name.lower()
        if code in self.supported or top.value < self.min_confidence:
            return None
        supported = sum(v.value for v in values if v.language.iso_code_639_1.name.lower() in self.supported)
        return code if supported < self.max_supported_confidence else None

    def check(self, text: str, field: str = "text") -> None:
        code = self.detect(text)
        if code is not None:
            raise UnsupportedLanguage(
                f"'{field}' appears to be written in language '{code}'; de-identification is configured for: "
                f"{', '.join(self.supported)}; the text was not processed",
                field=field, extra={"language": code, "supported": list(self.supported)})
