"""Hospital, clinic and other facility names ("St. Mary's Medical Center", "Barnes Family Clinic")."""

from __future__ import annotations

import re

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import ClinicalRegexRecognizer, Rule
from medinfer.preprocess.deid.vocab import ABBREVIATIONS, CREDENTIALS, GENERIC_FACILITY_WORDS

__all__ = ["FacilityNameRecognizer"]

_HEADS = (r"Hospitals?|Medical\s+Cent(?:er|re)|Health\s+Cent(?:er|re)|Health\s+System|Healthcare|Health\s+Care|"
          r"Clinics?|Infirmary|Nursing\s+Home|Nursing\s+Facility|Skilled\s+Nursing\s+Facility|Rehabilitation\s+"
          r"(?:Center|Hospital|Institute)|Rehab(?:ilitation)?|Hospice|Urgent\s+Care|Surgery\s+Center|Surgical\s+"
          r"(?:Center|Associates)|Cancer\s+(?:Center|Institute)|Heart\s+Institute|Eye\s+Institute|Institute|"
          r"Dialysis\s+Center|Pharmacy|Medical\s+Group|Medical\s+Associates|Physicians|Pavilion|Sanatorium|"
          r"Care\s+Center|Children'?s\s+Hospital|Memorial|Imaging\s+Center|Laboratories|Associates|"
          r"Home\s+Health|Assisted\s+Living|Senior\s+Living|Manor|Retirement\s+(?:Home|Community)|VA\s+Medical\s+Center")
_NAMEWORD = r"(?:[A-Z][\w'’-]{0,39}+|&)"
_FACILITY = re.compile(
    r"(?<![\w.])(?P<phi>(?:(?:St\.?|Saint|Mount|Mt\.?)[ \t]+)?" + _NAMEWORD
    + r"(?:[ \t]+(?:of|the|for|" + _NAMEWORD + r")){0,6}[ \t]+(?:" + _HEADS + r"))(?![\w'’])"
    + r"(?:[ \t]+(?:of|at)[ \t]+(?P<tail>(?:[A-Z][\w'’.-]{0,39}+)(?:[ \t]++[A-Z][\w'’.-]{0,39}+){0,2}))?")
_LEADING_JUNK = re.compile(r"^(?:(?:The|At|From|To|In|Seen|Transferred|Admitted|Discharged|Records|Per|Via|"
                           r"Called|Faxed|Sent|Follow|Followed|Outside|Prior|Previous|Our|Your|His|Her|Their|"
                           r"Patient|Pt|Contact|Dear|Dr\.?|Mr\.?|Mrs\.?|Ms\.?)[ \t]+)+")


class FacilityNameRecognizer(ClinicalRegexRecognizer):
    """A run of capitalised words ending in a facility word. It is kept only when at least one word
    is not generic, so 'Cardiology Clinic' or 'General Hospital' alone stay in the text."""

    ENTITIES = ("LOCATION",)
    RULES = (Rule(_FACILITY, "LOCATION", 0.85),)

    def accept(self, match, rule, text):
        start, end = match.span("phi")
        phrase = match.group("phi")
        junk = _LEADING_JUNK.match(phrase)
        if junk:
            start += junk.end()
            phrase = phrase[junk.end():]
        while True:   # leading abbreviations/credentials: "ED Smith Hospital", "NP Johnson Clinic"
            first = phrase.split(" ", 1)
            if len(first) == 2 and (first[0] in ABBREVIATIONS or first[0] in CREDENTIALS):
                start += len(first[0]) + 1
                phrase = first[1].lstrip()
                continue
            break
        if match.group("tail"):
            end = match.end("tail")
            phrase = text[start:end]
        words = [w.strip(".,") for w in phrase.split()]
        if not any(w.lower() not in GENERIC_FACILITY_WORDS and w[:1].isupper() and w not in ABBREVIATIONS
                   and w not in CREDENTIALS for w in words):
            return
        if end > start:
            yield start, end, "LOCATION", rule.score
