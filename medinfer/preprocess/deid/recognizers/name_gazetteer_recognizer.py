"""Person names with evidence from packaged name lists: 'Maria T.', 'José Luis Hernández',
'Nguyen Van Minh', lower-case 'priya raman', possessive 'Wei C.'s'."""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts


from medinfer.preprocess.deid import lexicon
from medinfer.preprocess.deid.budget import checkpoint
from medinfer.preprocess.deid.vocab import ABBREVIATIONS, EPONYM_HEADS

__all__ = ["NameGazetteerRecognizer"]

_PARTICLES = frozenset("van von de der den del della di da la le du bin ibn al el dos das ter ten".split())
# What may separate two words of one name: one space (headers separate fields with runs of spaces).
_GAP = re.compile(r"[ \t]|[ \t]?-[ \t]?")
_FIELD_LABEL = re.compile(r"[ \t]{0,2}(?:#|No\.)")
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
            if (s and (text[s - 1].isdigit() or text[s - 1] == "_")) or text[e:e + 1].isdigit():
                continue                     # part of a code such as A1c or T2DM
            if _FIELD_LABEL.match(text, e):
                continue                     # a field label: 'Chart #', 'Room No.' 
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
        if not (first or last) and "-" in word:       # 'Hyun-woo', 'Bos-Brands', 'Okonkwo-Eze'
            parts = [p for p in word.split("-") if p]
            evidence = [any(lexicon.name_evidence(p)) for p in parts]
            if any(evidence) and all(e or lexicon.zipf(p.lower()) < 3.0 for p, e in zip(parts, evidence)):
                first = True
        if kind == "upper" and len(word) <= 3:
            return False, True
        return first or last, lexicon.zipf(word.lower()) >= self.common_zipf

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        checkpoint()                         # word scans are linear; one budget check per note
        tokens = self._tokens(text)
        out: list[RecognizerResult] = []
        i = 0
        while i < len(tokens):
            j = i
            kinds = tokens[i][3]
            # grow a run of same-case tokens separated by a name gap
            while (j + 1 < len(tokens) and _GAP.fullmatch(text[tokens[j][1]:tokens[j + 1][0]])
                   and ((tokens[j + 1][3] == "lower") == (kinds == "lower")
                        or self._particle_bridge(tokens, j + 1, text))
                   and (kinds != "lower" or j - i < 4)):
                j += 1
            run = tokens[i:j + 1]
            out.extend(self._judge(text, run))
            i = j + 1
        return out

    @staticmethod
    def _particle_bridge(tokens: list[tuple[int, int, str, str]], k: int, text: str) -> bool:
        """A lower-case particle between two capitalised words stays in the run ('Femke van Gent')."""
        return (tokens[k][3] == "lower" and tokens[k][2] in _PARTICLES and k + 1 < len(tokens)
                and tokens[k + 1][3] != "lower" and bool(_GAP.fullmatch(text[tokens[k][1]:tokens[k + 1][0]])))

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
            # a common word opening the sentence is not part of the name ('Can Aiko Tanaka ...')
            if (len(piece) > 1 and piece[0][3] != "initial" and lexicon.zipf(piece[0][2].lower()) >= 5.0
                    and lexicon.sentence_initial(text, piece[0][0])):
                piece = piece[1:]
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
                s, e, word, _kind, evidence, _common = words[0]
                z = lexicon.zipf(word.lower())
                if lexicon.sentence_initial(text, s) and z >= 3.0:
                    continue
                # a common word is a name here only as a given name in mid-sentence ('Tell Maria her ...')
                if not strong and not (evidence and lexicon.name_evidence(word)[0] and z < 5.0):
                    continue
                after = _HEAD_AFTER.match(text, e)
                if after and after.group(1).lower() in EPONYM_HEADS:
                    continue
                out.append(RecognizerResult("NAME", s, e, self.single_score))
                continue
            # several words: a strong word, or two weak ones, or a weak one with an initial or with a
            # word English does not use ('Hyun-woo Park')
            unknown = [p for p in words
                       if not p[4] and lexicon.zipf(p[2].lower()) < (3.5 if "-" in p[2] else 2.5)]
            if strong or len(weak) >= 2 or (weak and (initials or unknown)):
                out.append(RecognizerResult("NAME", piece[0][0], piece[-1][1], self.score))
        return out

    def _judge_lower(self, run: list[tuple[int, int, str, str]]) -> list[RecognizerResult]:
        """Two or three lower-case words that are each a known name, or a known name next to a word
        English does not use (Zipf < 2.5); no word clinical, a drug or very common (Zipf >= 5)."""
        out = []
        run = list(run)
        k = 0
        while k < len(run) - 1:
            # a particle inside a lower-case name ('stijn van rheineck') joins its neighbours
            if k + 2 < len(run) and run[k + 1][2] in _PARTICLES:
                a, c = self._lower_facts(run[k][2]), self._lower_facts(run[k + 2][2])
                if a and c and (a[0] or a[1] < 2.5) and (c[0] or c[1] < 2.5):
                    out.append(RecognizerResult("NAME", run[k][0], run[k + 2][1], self.lower_score))
                    k += 3
                    continue
            words = [t[2] for t in run[k:k + 3]]
            facts = [self._lower_facts(w) for w in words]
            n = 0
            if all(f is not None for f in facts[:2]):
                (known_a, z_a), (known_b, z_b) = facts[0], facts[1]
                if ((known_a and known_b and max(z_a, z_b) < 4.7)
                        or (known_a and z_b < 2.5 and (z_a < 5.0 or known_b))
                        or (known_b and z_a < 2.5)):
                    n = 2
                    if len(facts) == 3 and facts[2] is not None and (facts[2][0] and facts[2][1] < 4.0
                                                                      or facts[2][1] < 2.5):
                        n = 3
            if n:
                out.append(RecognizerResult("NAME", run[k][0], run[k + n - 1][1], self.lower_score))
                k += n
            else:
                k += 1
        return out

    @staticmethod
    def _lower_facts(word: str) -> tuple[bool, float] | None:
        """(known name word, Zipf frequency), or None when the word cannot be part of a name."""
        if len(word) < 2 or lexicon.is_safe(word) or word in _PARTICLES:
            return None
        z = lexicon.zipf(word)
        first, last = lexicon.name_evidence(word)
        if z >= 5.0 and not first:
            return None
        return first or last, z
