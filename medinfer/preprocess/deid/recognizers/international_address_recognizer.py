"""Street addresses outside the US pattern and postal codes: 'Hauptstraße 12', '12 rue de la Paix',
'Calle Mayor 5', 'Via Roma 10', '4 Herengracht', '88 mill road', 'NW1 6XE', 'M5H 1K5', '1015 BS',
'75002 Paris'."""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts


from medinfer.preprocess.deid import lexicon
from medinfer.preprocess.deid.budget import checkpoint
from medinfer.preprocess.deid.vocab import STATE_CODES

__all__ = ["InternationalAddressRecognizer"]

# Street-type words that come first ('Rue de la Paix', 'Calle Mayor', 'Via Roma', 'ul. Długa', 'Jalan Sudirman').
_LEAD = (r"rue|avenue|av\.|avda\.?|avenida|boulevard|bd\.?|blvd\.?|chemin|allée|impasse|quai|place|calle|c/|carrer|"
         r"carrera|paseo|plaza|camino|ronda|via|viale|piazza|corso|vicolo|largo|rua|travessa|praça|alameda|"
         r"estrada|ulica|ul\.|aleja|al\.|strada|str\.|șoseaua|soseaua|bulevardul|calea|aleea|splaiul|piața|"
         r"sokak|sokağı|caddesi|cad\.|jalan|jl\.|gang|đường|phố|ngõ|utca|út")
# Street-type endings glued to the name ('Hauptstraße', 'Kirchweg', 'Herengracht', 'Storgatan').
_SUFFIX = (r"straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|steig|gracht|straat|laan|plein|kade|singel|"
           r"dreef|vej|gade|gatan|vägen|väg|gränd|katu|tie|kuja|polku|veien|gata|utca|körút")
# English street types in any case ('88 mill road', '5 STATION RD').
_EN = (r"street|st\.?|road|rd\.?|avenue|ave\.?|lane|ln\.?|drive|dr\.?|way|court|ct\.?|close|crescent|cres\.?|"
       r"terrace|place|pl\.?|grove|gardens|square|sq\.?|parade|row|mews|hill|park|walk|boulevard|blvd\.?")
_STOP = (r"(?!(?i:at|the|to|of|a|an|per|in|on|by|for|and|or|with|from|into|is|was|were|then|times?|units?|mg|ml|"
         r"tabs?|m|km|mi|miles?|min|minutes?|hours?|hrs?|days?|weeks?|months?|years?|steps|blocks|feet|ft|meters)\b)")
_NAMEWORD = _STOP + r"[^\W\d_][^\W\d_'’-]{0,24}"
# after a leading type word the name is capitalised, bar particles ('Rue de la Paix', 'Via dei Mille')
_NOT_UNIT = r"(?!(?i:nr|no|nº|bl|sc|ap|apt|et|piso|dpto|flat|unit|suite)\b)"
_CAPWORD = _NOT_UNIT + r"(?:[A-ZÀ-Ý][^\W\d_'’-]{0,24}|de|la|del|della|dei|di|da|do|dos|das|du|des|le|les|los|las|el|y)"
_UNIT = (r"(?:,?[ \t]{1,2}(?i:nr\.?|no\.?|nº|n°|bl\.?|sc\.?|ap\.?|apt\.?|et\.?|piso|dpto\.?|puerta|flat|unit|"
         r"suite|stg\.?|bus|#)[ \t]?\d{1,5}[a-zA-Z]?){0,4}")
_NUM = r"\d{1,5}[a-zA-Z]?(?:[-/]\d{1,4}[a-zA-Z]?)?"

_STREETS = tuple(re.compile(rx) for rx in (
    # [12] Rue de la Paix [12], Via Roma 10, Calle Mayor 5
    r"(?<![\w-])(?P<phi>(?:" + _NUM + r",?[ \t])?(?i:" + _LEAD + r")[ \t](?:" + _CAPWORD + r"[ \t]){0,4}"
    + _NOT_UNIT + r"[A-ZÀ-Ý][^\W\d_'’-]{0,24}(?:(?:[ \t]" + _NUM + r"|,[ \t]\d{1,4}[a-zA-Z]?)(?!\w|\.\d))?" + _UNIT + r")",
    # Hauptstraße 12, Kirchweg 3a, 4 Herengracht
    r"(?<![\w-])(?P<phi>(?:" + _NUM + r"[ \t])?(?:[A-ZÀ-Ý][^\W\d_]{0,24}[ \t-]){0,2}[A-ZÀ-Ý][^\W\d_]{0,30}(?i:" + _SUFFIX
    + r")(?:[ \t]" + _NUM + r")?" + _UNIT + r")(?![^\W\d_])",
    # Flat 73X, Maurice Causeway; Studio 5, Jane Station; H.No. 03, Sama Road
    r"(?<![\w-])(?P<phi>(?i:flat|studio|unit|apt\.?|apartment|suite|h\.[ \t]?no\.?|house[ \t]no\.?)[ \t]?\d{1,4}"
    r"[a-zA-Z]?,?[ \t](?:" + _CAPWORD + r"[ \t]){0,3}[A-ZÀ-Ý][^\W\d_'’-]{1,24})",
    # 88 mill road, 5 STATION RD, Flat 3, 14 Baker Street
    r"(?<![\w-])(?P<phi>(?:(?i:flat|unit|apt\.?|apartment)[ \t]\d{1,4}[a-zA-Z]?,[ \t])?" + _NUM + r"[ \t]"
    r"(?:" + _NAMEWORD + r"[ \t]){1,3}(?i:" + _EN + r")(?:[ \t](?i:north|south|east|west|n|s|e|w))?)(?![\w])",
))
_POSTCODES = tuple(re.compile(rx) for rx in (
    r"(?<![\w-])(?P<phi>(?:GIR|[A-Z]{1,2}\d[A-Z\d]?)[ \t]?\d[A-Z]{2})(?![\w-])",         # UK
    r"(?<![\w-])(?P<phi>[A-Z]\d[A-Z][ \t]?\d[A-Z]\d)(?![\w-])",                           # Canada
    r"(?<![\w-])(?P<phi>[ACDEFHKNPRTVWXY]\d[\dW][ \t]?[0-9ACDEFHKNPRTVWXY]{4})(?![\w-])",      # Ireland (Eircode)
    r"(?<![\w-])(?P<phi>\d{4}[ \t]?[A-Z]{2})(?=[ \t]+[A-Z][^\W\d_]+)",                   # Netherlands + city
))
# '10115 Berlin', '75002 Paris', '00-950 Warszawa', '168064 Tulcea' after a comma or a line start.
_CODE_CITY = re.compile(r"(?:^|(?<=[,;:])|(?<=\n))[ \t]{0,2}(?P<code>(?:[A-Z]{1,2}-)?\d{2,3}[- ]?\d{3}|\d{4}-\d{3}|\d{3} \d{2}|\d{4,6})[ \t]"
                        r"(?P<city>[A-ZÀ-Ý][^\W\d_'’-]{1,30}(?:[ -][A-ZÀ-Ý][^\W\d_'’-]{1,30}){0,2})", re.M)
# A capitalised street name of rare words and a house number: 'Kayleehof 12', 'Intrarea Nistor Nr. 680'.
_NAME_NUMBER = re.compile(r"(?<![\w-])(?P<phi>(?:[A-ZÀ-Ý][^\W\d_'’-]{1,24}(?:-[A-ZÀ-Ý]?[^\W\d_'’-]{1,24}){0,3}[ \t]"
                          r"(?:(?:de|da|do|dos|das|del|la|di|van|von)[ \t])?){1,4}" + _NUM + r"(?!\w|[.,]\d|[ \t]?(?:%|/|mg|ml|"
                          r"mcg|units?|x\b|times|days?|weeks?|hours?|h\b|am|pm))" + _UNIT + ")")
_PARTICLE_WORDS = frozenset("de la del di da do dos das du des le les los las el van von".split())
_BEFORE_CODE = re.compile(r"(?:^|[:;(\n]|\),)[ \t]{0,2}(?P<street>[^:;()\n]{3,70}),[ \t]{0,2}$")
# After an address cue, the rest of the clause is the address when it holds a house number.
_ADDRESS_CUE = re.compile(r"(?i:\b(?:address(?:[ \t]on[ \t]file)?|addr\.?|lives?[ \t]at|living[ \t]at|resides?[ \t]at|"
                          r"residing[ \t]at|moved[ \t]to|relocated[ \t]to|(?:ship|mail|send|deliver|post|forward)"
                          r"(?:[ \t][a-z]+){0,3}[ \t]to|still[ \t]lives?[ \t]at|home[ \t]is[ \t]at)[ \t]{0,3}[:,-]?[ \t]{0,3})"
                          r"(?P<phi>[A-ZÀ-Ý0-9][^.?!\n;:()]{2,90})")
_CLAUSE_END = re.compile(r"[ \t](?:and|but|for|with|since|because|which|who|where|when|if|until|after|before|on|in)[ \t]")
_ZIP_CUE = re.compile(r"(?i:\b(?:zip(?:[ \t]?code)?|postal[ \t]code|post[ \t]?code|plz|cep)[ \t]{0,3}(?:is|:|#|=|-)?"
                      r"[ \t]{0,3})(?P<phi>[A-Z0-9]{2,5}(?:[ -][A-Z0-9]{2,4})?)(?![\w-])")
_ZIP_AFTER = re.compile(r"(?P<city>[A-ZÀ-Ý][^\W\d_'’.-]{1,30}(?:[ \t][A-ZÀ-Ý][^\W\d_'’.-]{1,30}){0,2}),?[ \t]"
                        r"(?:[A-Z]{2}[ \t])?(?P<code>\d{5}(?:-\d{4})?|[A-Z]\d[A-Z][ \t]?\d[A-Z]\d)(?![\w-])")


_PART = re.compile(r"[^,]+")
_STATE_CODES = frozenset(STATE_CODES) | {"ON", "QC", "BC", "AB", "MB", "SK", "NS", "NB", "NL", "PE"}


def _without_regions(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The comma-separated parts of an address, without states, provinces and countries (not PHI)."""
    out = []
    for m in _PART.finditer(text, start, end):
        words = list(re.finditer(r"\S+", m.group()))
        while words and (words[0].group() in _STATE_CODES or words[0].group().lower() in lexicon.country_names()):
            words.pop(0)
        while words and (words[-1].group() in _STATE_CODES or words[-1].group().lower() in lexicon.country_names()):
            words.pop()
        if words and m.group()[words[0].start():words[-1].end()].lower() not in lexicon.country_names():
            out.append((m.start() + words[0].start(), m.start() + words[-1].end()))
    return out


class InternationalAddressRecognizer(EntityRecognizer):
    """Three street shapes (type word first, type glued to the name, English type in any case)
    with house numbers and unit tails, postal codes of the UK, Canada and the Netherlands, and a
    number-then-city pair at the start of an address field. Every quantifier is bounded."""

    ENTITIES = ("LOCATION",)

    def __init__(self, supported_language: str = "en", score: float = 0.75, postcode_score: float = 0.7) -> None:
        self.score, self.postcode_score = score, postcode_score
        super().__init__(supported_entities=list(self.ENTITIES), supported_language=supported_language)

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        checkpoint()                         # linear scans; one budget check per note
        out: list[RecognizerResult] = []
        for rx in _STREETS:
            for m in rx.finditer(text):
                s, e = m.span("phi")
                value = m.group("phi")
                if not any(c.isdigit() for c in value) and rx is not _STREETS[1]:
                    # without a house number the type word must be capitalised ('Via Roma', not 'via the ED')
                    if not value[0].isupper() or len(value.split()) < 2:
                        continue
                words = [w for w in lexicon.WORD.findall(value)]
                if words and all(lexicon.is_safe(w) for w in words[1:]) and not any(c.isdigit() for c in value):
                    continue
                while e > s and text[e - 1] in ",.":
                    e -= 1
                out.append(RecognizerResult("LOCATION", s, e, self.score))
        for rx in _POSTCODES:
            for m in rx.finditer(text):
                out.append(RecognizerResult("LOCATION", m.start("phi"), m.end("phi"), self.postcode_score))
        for m in _NAME_NUMBER.finditer(text):
            words = lexicon.WORD.findall(m.group("phi"))
            if (any(lexicon.is_safe(w) for w in words) or any(lexicon.zipf(w.lower()) >= 4.0 for w in words[:1])
                    or min(lexicon.zipf(w.lower()) for w in words) >= 3.0):
                continue
            out.append(RecognizerResult("LOCATION", m.start("phi"), m.end("phi"), 0.55))
        for m in _CODE_CITY.finditer(text):
            if lexicon.is_safe(m.group("city").split()[0]):
                continue
            # '<street>, <code> <city>': the comma-separated part before the code is the street
            before = _BEFORE_CODE.search(text, max(0, m.start() - 80), m.start() + 1)
            if (before and any(c.isdigit() for c in before.group("street"))
                    and not any(lexicon.zipf(w.lower()) >= 5.5 and w.lower() not in _PARTICLE_WORDS
                                for w in lexicon.WORD.findall(before.group("street")))):
                out.append(RecognizerResult("LOCATION", before.start("street"), before.end("street"), self.score))
            out.append(RecognizerResult("LOCATION", m.start("code"), m.end("code"), self.postcode_score))
            out.append(RecognizerResult("LOCATION", m.start("city"), m.end("city"), self.postcode_score))
        for m in _ADDRESS_CUE.finditer(text):
            s, e = m.span("phi")
            stop = _CLAUSE_END.search(text, s, e)
            if stop:
                e = stop.start()
            while e > s and text[e - 1] in " \t,":
                e -= 1
            value = text[s:e]
            if any(c.isdigit() for c in value) and not all(lexicon.is_safe(w) for w in lexicon.WORD.findall(value)):
                out.extend(RecognizerResult("LOCATION", ps, pe, self.score) for ps, pe in _without_regions(text, s, e))
        for m in _ZIP_CUE.finditer(text):
            if any(c.isdigit() for c in m.group("phi")):
                out.append(RecognizerResult("LOCATION", m.start("phi"), m.end("phi"), self.score))
        for m in _ZIP_AFTER.finditer(text):
            if lexicon.is_safe(m.group("city").split()[-1]):
                continue
            out.append(RecognizerResult("LOCATION", m.start("code"), m.end("code"), self.postcode_score))
        return out
