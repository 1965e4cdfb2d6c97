"""Initials: dotted ('J.S.', 'J. S.') anywhere, bare ('JS') only after a sign-off cue or before ', RN'."""

from __future__ import annotations

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import ClinicalRegexRecognizer, Rule
from medinfer.preprocess.deid.vocab import ABBREVIATIONS

__all__ = ["InitialsRecognizer"]

_DOTTED_NOT_INITIALS = {"A.M.", "P.M.", "U.S.", "M.D.", "D.O.", "R.N.", "N.P.", "P.A.", "B.I.D.", "T.I.D.",
                        "Q.I.D.", "P.O.", "I.V.", "E.R.", "O.R.", "D.C.", "U.K.", "Q.D.", "H.S.", "P.R.N.",
                        "N.P.O.", "S.P.", "C.C.", "B.P.", "O.D.", "O.S.", "O.U.", "A.D.", "A.S.", "A.U.", "Y.O."}


class InitialsRecognizer(ClinicalRegexRecognizer):
    """Bare two- and three-letter capitals are usually abbreviations (ED, BP, CHF), so they count
    only in sign-off positions; dotted pairs are filtered against dotted abbreviations."""

    ENTITIES = ("NAME",)
    RULES = (
        Rule(r"(?<![\w.])(?P<phi>[A-Z]\.[ ]?[A-Z]\.(?:[ ]?[A-Z]\.)?)(?![\w])", "NAME", 0.7),
        Rule(r"(?i:\b(?:transcribed(?:\s+by)?|initials|initialed|typed\s+by|scribe|tech|technologist|"
             r"entered\s+by|by)\s*+:?\s*+)(?P<phi>[A-Z]\.[ ]?[A-Z]\.(?:[ ]?[A-Z]\.)?|[A-Z]{2,3}\b)", "NAME", 0.75),
        Rule(r"(?:--|—|/|\b(?:discussed\s+with|per|cc)\b)[ \t]*(?P<phi>[A-Z]{2,3})(?=[ \t]*(?:,|\(|$|\n|/))", "NAME", 0.7),
        Rule(r"(?<![\w.])(?P<phi>[A-Z]{2,3}),?[ \t]+(?:RN|LPN|NP|PA-C|MD|CNA|RT|PT|OT)\b", "NAME", 0.75),
    )

    def accept(self, match, rule, text):
        value = match.group("phi")
        # A sign-off cue (rules 1 and 3: "Transcribed: PM", "TO, RN") outweighs the look of an abbreviation.
        strong = rule is self.RULES[1] or rule is self.RULES[3]
        if not strong and (value.replace(" ", "") in _DOTTED_NOT_INITIALS or value in ABBREVIATIONS):
            return
        yield match.start("phi"), match.end("phi"), "NAME", rule.score
