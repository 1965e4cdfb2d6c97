"""Dates written out and years: 'since 1998', 'in the summer of 2003', 'the third of March',
'the 14th of February', 'Monday, June 5th', 'Christmas 2017', '23.05.2001' (day first)."""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from medinfer.preprocess.deid.budget import checkpoint


__all__ = ["WrittenDateRecognizer"]

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
          r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_ORDINAL_WORD = (r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|"
                 r"fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|thirtieth|"
                 r"(?:twenty|thirty)[- ](?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth))")
_ORDINAL = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)|" + _ORDINAL_WORD
_YEAR = r"(?:19\d{2}|20[0-4]\d)"
_WEEKDAY = r"(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?"
_NOT_QUANTITY = (r"(?![ \t]*(?:mg|mcg|g|kg|ml|l|units?|iu|kcal|cal|cc|mm|cm|m|patients|cases|people|beds|steps|"
                 r"calories|dollars|%|x|times|/))")

# Years after a time preposition: 'since 1998', 'in 2015', 'the summer of 2003', 'back in 1987'.
# Found as bare years first, then the word before is looked up (one cheap scan, no alternation per word).
_YEAR_AT = re.compile(r"(?<![\w.,/-])(?P<phi>" + _YEAR + r")(?!\d|[.,]\d|[/-]\d)" + _NOT_QUANTITY, re.IGNORECASE)
_WORD_BEFORE = re.compile(r"([A-Za-z.]+)[ \t]$")
_YEAR_CUES = frozenset("""in since from until till til by during circa ca. around early late mid summer winter spring
fall autumn of year before after through thru between and to on dated born diagnosed""".split())
_RULES = tuple((re.compile(rx, re.IGNORECASE), score) for rx, score in (
    # 'the third of March [2020]', '14th of February'
    (r"(?P<phi>(?:the[ \t])?(?:" + _ORDINAL + r")[ \t]of[ \t]" + _MONTH + r"(?:,?[ \t]" + _YEAR + r")?)\b", 0.85),
    # 'March the 3rd', 'June 5th' with a weekday in front: 'Monday, June 5th'
    (r"(?P<phi>" + _WEEKDAY + r",?[ \t](?:the[ \t])?(?:" + _MONTH + r"[ \t](?:the[ \t])?(?:[12]\d|3[01]|0?[1-9])"
     r"(?:st|nd|rd|th)?|(?:" + _ORDINAL + r")(?:[ \t]of)?[ \t]" + _MONTH + r"))\b", 0.85),
    (r"(?P<phi>" + _MONTH + r"[ \t]the[ \t](?:" + _ORDINAL + r"))\b", 0.85),
    # holiday + year: 'Christmas 2017', 'Easter of 2019'
    (r"(?P<phi>(?:christmas|easter|thanksgiving|new[ \t]year'?s|halloween|ramadan|diwali|hanukkah)[ \t](?:of[ \t])?"
     + _YEAR + r")\b", 0.8),
    # day-first numeric dates: '23.05.2001', '23/05/2001' (month-first ones are ClinicalDateRecognizer's)
    (r"(?<![\w./-])(?P<phi>(?:3[01]|[12]\d|0?[1-9])(?P<sep>[./-])(?:1[0-2]|0?[1-9])(?P=sep)" + _YEAR + r")"
     r"(?![\w/]|\.\d)", 0.85),
    # a weekday as a point in time: 'since Sunday', 'last Tuesday', 'on Friday'
    (r"\b(?:on|since|last|next|this|by|until|from|before|after)[ \t](?P<phi>(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day)\b",
     0.6),
    # an apostrophe year: 'in '98', 'since '05'
    (r"\b(?:in|since|from|until|of|summer|winter|spring|fall)[ \t](?P<phi>['’]\d{2})\b", 0.6),
))

# A substring each rule needs (a cheap test before the regex): 'of', a weekday's 'day', 'the'.
_NEEDLES = ("of", "day", "the", "", "", "day", "")

class WrittenDateRecognizer(EntityRecognizer):
    """Safe Harbor removes every date element but the year; third-party gold standards mark years
    too, and a year next to other details narrows a record, so years after a time preposition are
    flagged (not quantities: 'in 2000 mg' stays). A span here may not parse for the date shift;
    the surrogate operator then writes '[DATE]'."""

    ENTITIES = ("DATE",)

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_entities=list(self.ENTITIES), supported_language=supported_language)

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        checkpoint()                         # linear scans; one budget check per note
        out: list[RecognizerResult] = []
        for m in _YEAR_AT.finditer(text):
            before = _WORD_BEFORE.search(text, max(0, m.start() - 12), m.start())
            if before and before.group(1).lower() in _YEAR_CUES:
                out.append(RecognizerResult("DATE", m.start("phi"), m.end("phi"), 0.6))
        lowered = text.lower()
        for (rx, score), needle in zip(_RULES, _NEEDLES):
            if needle and needle not in lowered:
                continue
            for m in rx.finditer(text):
                out.append(RecognizerResult("DATE", m.start("phi"), m.end("phi"), score))
        return out
