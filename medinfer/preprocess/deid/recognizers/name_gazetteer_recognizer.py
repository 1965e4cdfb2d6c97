"""Person names with evidence from packaged name lists: 'Maria T.', 'José Luis Hernández',
'Nguyen Van Minh', lower-case 'priya raman', possessive 'Wei C.'s'."""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from medinfer.preprocess.deid import lexicon
from medinfer.preprocess.deid.vocab import ABBREVIATIONS, EPONYM_HEADS

__all__ = ["NameGazetteerRecognizer"]

_PARTICLES = frozenset("van von de der den del della di da la le du bin ibn al el dos das ter ten".split())
_GAP = re.compile(r"[ \t]{1,2}|[ \t]?-[ \t]?")     # what may separate two words of one name
_HEAD_AFTER = re.compile(r"[ \t]+([^\W\d_]+)")


class NameGazetteerRecognizer(EntityRecognizer):
    """Runs of capitalised words (and initials) joined by single spaces, kept as a NAME when a word
    is a known given or family name of some Faker locale and no word is clinical vocabulary or a
    drug. Very common English words ('Will', 'Rose', 'Grant') count as evidence only next to
    another name word. Lower-case runs count when every word is a known name and none is a common
    English word ('priya raman', not 'will smith'). A pure look-up stage: linear in the note."""

    ENTITIES = ("NAME",)

    def __init__(self, supported_language: str = "en", common_zipf: float = 4.0, score: float = 0.7,
                 single_score: float = 0.6, lower_score: float = 0.6) -> None:
        self.common_zipf = common_zipf
        self.score, self.single_score, self.lower_score = score, single_score, lower_score
        super().__init__(supported_entities=list(self.ENTITIES), supported_language=supported_language)

    def load(self) -> None:
        lexicon.first_names(), lexicon.last_names(), lexicon.drug_words()

    # a token: (start, end-of-core, word-core, kind) with kind "cap", "upper", "lower", "initial"
    @staticmethod
    def _tokens(text: str) -> list[tuple[int, int, str, str]]:
        out = []
        for m in lexicon.WORD.finditer(text):
            word = lexicon.core(m.group())
            s, e = m.start(), m.start() + len(word)
            if len(word) == 1 and word.isupper() and text[e:e + 1] == ".":
                out.append((s, e + 1, word, "initial"))
            elif word[0].isupper():
                out.append((s, e, word, "upper" if word.isupper() and len(word) > 1 else "cap"))
            elif word.islower():
                out.append((s, e, word, "lower"))
        return out

    def _is_name(self, word: str, kind: str) -> tuple[bool, bool]:
        """(name evidence, common English word) for one capitalised word."""
        if lexicon.is_safe(word) or word in ABBREVIATIONS or word.lower() in EPONYM_HEADS:
            return False, True
        first, last = lexicon.name_evidence(word)
        if kind == "upper" and len(word) <= 3:
            return False, True
        return first or last, lexicon.zipf(word.lower()) >= self.common_zipf

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        tokens = self._tokens(text)
        out: list[RecognizerResult] = []
        i = 0
        while i < len(tokens):
            j = i
            kinds = tokens[i][3]
            # grow a run of same-case tokens separated by a name gap
            while (j + 1 < len(tokens) and _GAP.fullmatch(text[tokens[j][1]:tokens[j + 1][0]])
                   and (tokens[j + 1][3] == "lower") == (kinds == "lower")
                   and (kinds != "lower" or j - i < 3)):
                j += 1
            run = tokens[i:j + 1]
            out.extend(self._judge(text, run))
            i = j + 1
        return out

    def _judge(self, text: str, run: list[tuple[int, int, str, str]]) -> list[RecognizerResult]:
        if run[0][3] == "lower":
            return self._judge_lower(run)
        # split the run at words that cannot be part of a name; judge each piece
        pieces: list[list[tuple[int, int, str, str, bool, bool]]] = [[]]
        for s, e, word, kind in run:
            if kind == "initial":
                pieces[-1].append((s, e, word, kind, False, False))
                continue
            if word.lower() in _PARTICLES and pieces[-1]:
                pieces[-1].append((s, e, word, kind, False, False))
                continue
            evidence, common = self._is_name(word, kind)
            if common and not evidence:
                pieces.append([])
                continue
            pieces[-1].append((s, e, word, kind, evidence, common))
        out = []
        for piece in pieces:
            while piece and piece[-1][2].lower() in _PARTICLES:
                piece.pop()
            while piece and piece[0][3] != "initial" and piece[0][2].lower() in _PARTICLES:
                piece.pop(0)
            words = [p for p in piece if p[3] != "initial"]
            if not words:
                continue
            strong = [p for p in words if p[4] and not p[5]]
            weak = [p for p in words if p[4] and p[5]]
            initials = len(piece) - len(words)
            if len(words) == 1 and not initials:
                s, e, word, _kind, _ev, _common = words[0]
                if not strong or lexicon.sentence_initial(text, s) and lexicon.zipf(word.lower()) >= 3.0:
                    continue
                after = _HEAD_AFTER.match(text, e)
                if after and after.group(1).lower() in EPONYM_HEADS:
                    continue
                out.append(RecognizerResult("NAME", s, e, self.single_score))
                continue
            # several words: a strong word, or two weak ones, or a name word plus an initial
            if strong or len(weak) >= 2 or (weak and initials):
                out.append(RecognizerResult("NAME", piece[0][0], piece[-1][1], self.score))
        return out

    def _judge_lower(self, run: list[tuple[int, int, str, str]]) -> list[RecognizerResult]:
        if len(run) < 2:
            return []
        out = []
        for k in range(len(run) - 1):
            a, b = run[k], run[k + 1]
            if any(lexicon.is_safe(t[2]) or t[2] in lexicon.common_words() and lexicon.zipf(t[2]) >= 3.5
                   for t in (a, b)):
                continue
            first_a, _ = lexicon.name_evidence(a[2])
            first_b, last_b = lexicon.name_evidence(b[2])
            if first_a and (last_b or first_b):
                out.append(RecognizerResult("NAME", a[0], b[1], self.lower_score))
        return out
