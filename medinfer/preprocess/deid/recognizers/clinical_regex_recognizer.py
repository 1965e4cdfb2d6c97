r"""Base class for the format + context recognizers.

Presidio's ``PatternRecognizer`` scores a bare match and then boosts it when a
context word sits within a few lemmas. Clinical identifiers are the other way
round: "MRN 00123456" is certain, a bare 8-digit number is not. So each of our
patterns puts the context words *in* the regex and captures the identifier as
the named group ``phi``; only that group becomes the entity, the context word
stays in the text. Regexes are compiled once per class, not per call.

Every pattern must stay linear in the note's length: no two adjacent quantifiers that can
match the same characters (``\s*(?:x)?\s*`` is cubic on a run of spaces), so whitespace runs
are possessive (``\s*+``) and words and look-aheads are bounded. Matches are read through
``budget.finditer`` so a note's time budget is checked while they run. The ReDoS regression
test (tests/unit/test_deid_redos.py) runs every configured recognizer on 20 kB worst cases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import ClassVar

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from medinfer.preprocess.deid.budget import finditer

__all__ = ["ClinicalRegexRecognizer", "Rule", "context_id_rule"]

_TRAIL = ".,;:)]}'\"-/"


class Rule:
    """One compiled regex, the label it yields and its score."""

    __slots__ = ("label", "regex", "score")

    def __init__(self, regex: str | re.Pattern[str], label: str, score: float, flags: int = 0) -> None:
        self.regex = regex if isinstance(regex, re.Pattern) else re.compile(regex, flags)
        self.label = label
        self.score = score


# An identifier value: starts with a letter or digit, holds at least one digit.
ID_VALUE = r"(?P<phi>(?=[A-Z0-9-]{0,19}\d)[A-Z0-9](?:[A-Z0-9]|-(?=[A-Z0-9])){3,19})(?![A-Za-z0-9])"


def context_id_rule(context_words: Sequence[str], label: str, score: float = 0.9,
                    value: str = ID_VALUE, gap: str = r"(?:\s*+(?:(?:number|num|no|id|identifier)\b\.?|#))?") -> Rule:
    """``<context word> [number|no.|#] [:|#|is] <identifier>``, context matched case-insensitively."""
    words = "|".join(sorted(context_words, key=len, reverse=True))
    rx = (r"(?i:\b(?:" + words + r"))" + r"(?i:" + gap + r")" + r"\s*+(?:[:#=]|\bis\b)?\s*+#?\s*+" + value)
    return Rule(rx, label, score)


class ClinicalRegexRecognizer(EntityRecognizer):
    """Runs ``RULES``; a subclass may refine matches in ``accept``."""

    RULES: ClassVar[Sequence[Rule]] = ()
    ENTITIES: ClassVar[Sequence[str]] = ()

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_entities=list(self.ENTITIES), supported_language=supported_language)

    def load(self) -> None:  # regexes are compiled at import
        pass

    def accept(self, match: re.Match[str], rule: Rule, text: str) -> Iterable[tuple[int, int, str, float]]:
        """Yield ``(start, end, label, score)`` for a match; default: the ``phi`` group or the whole match."""
        group = "phi" if "phi" in match.re.groupindex else 0
        start, end = match.span(group)
        if start < 0:
            return
        while end > start and text[end - 1] in _TRAIL:
            end -= 1
        if end > start:
            yield start, end, rule.label, rule.score

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for rule in self.RULES:
            for match in finditer(rule.regex, text):
                for start, end, label, score in self.accept(match, rule, text):
                    results.append(RecognizerResult(label, start, end, score))
        return results
