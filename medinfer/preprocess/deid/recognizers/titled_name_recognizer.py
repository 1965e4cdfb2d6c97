"""Names after a title (Dr., Mr., Mrs., Ms., Prof.) and names before a credential (", MD", ", RN")."""

from __future__ import annotations

import re

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import ClinicalRegexRecognizer, Rule
from medinfer.preprocess.deid.vocab import CREDENTIALS, NAME_TOKEN, trim_name

__all__ = ["TitledNameRecognizer"]

# Single spaces only: record headers separate fields with runs of spaces.
_NAME = r"(?P<phi>" + NAME_TOKEN + r"(?:[ \t]" + NAME_TOKEN + r"){0,3})"
_CRED = "|".join(re.escape(c) for c in sorted(CREDENTIALS, key=len, reverse=True))



class TitledNameRecognizer(ClinicalRegexRecognizer):
    """The title itself is not PHI and stays; only the name after it is the entity. Case matters
    here, so these regexes are case-sensitive except for the title words."""

    ENTITIES = ("NAME",)
    RULES = (
        Rule(r"(?<![\w])(?:Dr|Drs|Doctor|Mr|Mrs|Ms|Mx|Miss|Prof|Professor|DR|MR|MRS|MS)\.?[ \t]+" + _NAME, "NAME", 0.9),
        Rule(r"(?<![\w])" + _NAME.replace("{0,3}", "{1,3}") + r",?[ \t]+(?:" + _CRED + r")(?![\w])", "NAME", 0.85),
    )

    def accept(self, match, rule, text):
        start, end = trim_name(text, *match.span("phi"))
        # Two names in a row after a title ("Dr. Smith Hospital") are trimmed by trim_name;
        # a lone initial is not a name.
        if end - start >= 2:
            yield start, end, "NAME", rule.score
