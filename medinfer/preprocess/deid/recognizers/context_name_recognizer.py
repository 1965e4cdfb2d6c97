"""Names introduced by a role or field word: 'Patient: ...', 'daughter ...', 'signed by ...', 'Dear ...',
and the 'LAST, FIRST' form of record headers."""

from __future__ import annotations

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import ClinicalRegexRecognizer, Rule
from medinfer.preprocess.deid.vocab import NAME_TOKEN, trim_name

__all__ = ["ContextNameRecognizer"]

_ROLES = (r"patient's|patient|pt's|pt|name|patient\s+name|attending|physician|provider|surgeon|anesthesiologist|pcp|"
          r"resident|fellow|intern|nurse|caller|re|contact|guardian|emergency\s+contact|proxy|dear|signed|"
          r"signed\s+by|electronically\s+signed\s+by|dictated\s+by|transcribed\s+by|read\s+by|referred\s+by|"
          r"seen\s+by|cc|ordering\s+physician|referring\s+physician|ordering\s+provider|primary\s+care|route\s+to|"
          r"daughter|son|husband|wife|mother|father|sister|brother|spouse|partner|friend|niece|nephew|"
          r"grandson|granddaughter|grandmother|grandfather|aunt|uncle|cousin|caregiver|neighbor|roommate|"
          r"boyfriend|girlfriend|fiance|fiancee|mom|dad|discussed\s+with|spoke\s+with|spoke\s+to|per|"
          r"witness|interpreter|case\s+manager|social\s+worker|chaplain|pharmacist|author|by|attention|attn")
_LOOSE_CUES = {"per", "re", "by", "cc", "attention", "attn", "contact"}
# Longest alternatives first, so "patient name" wins over "patient".
_ROLES = "|".join(sorted(_ROLES.split("|"), key=len, reverse=True))
# Single spaces only: record headers separate fields with runs of spaces.
_NAME = r"(?P<phi>" + NAME_TOKEN + r"(?:[ \t]" + NAME_TOKEN + r"){0,3})"
_LAST_FIRST = r"(?P<phi>[A-Z][A-Za-z'’-]+,[ \t]*[A-Z][A-Za-z'’-]+(?:[ \t]+[A-Z]\.?(?![\w#]))?)"


class ContextNameRecognizer(ClinicalRegexRecognizer):
    """Role words are matched case-insensitively, the name itself must be capitalised."""

    ENTITIES = ("NAME",)
    RULES = (
        Rule(r"(?i:\b(?P<role>" + _ROLES + r"))\b[ \t]*+[:,-]?[ \t]*+(?:\([a-z]++\)[ \t]*+)?" + _NAME, "NAME", 0.8),
        Rule(r"(?i:\b(?:patient|pt|name|patient\s+name|re)\b[ \t]*+:?[ \t]*+)" + _LAST_FIRST, "NAME", 0.9),
        Rule(r"(?m)^[ \t]*+(?i:name|patient|pt)[ \t]*+:[ \t]*+" + _LAST_FIRST, "NAME", 0.9),
    )

    def accept(self, match, rule, text):
        start, end = trim_name(text, *match.span("phi"))
        value = text[start:end]
        # After a loose cue ("per", "re:") a lone short all-caps word is an abbreviation (MRSA, ICU).
        if (rule is self.RULES[0] and match.group("role").lower() in _LOOSE_CUES and " " not in value
                and value.isupper() and len(value) <= 5):
            return
        if end - start >= 2:
            yield start, end, "NAME", rule.score
