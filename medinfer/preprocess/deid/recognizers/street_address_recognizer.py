"""Street addresses: number + name + USPS street suffix (+ unit), and P.O. boxes."""

from __future__ import annotations

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import ClinicalRegexRecognizer, Rule

__all__ = ["StreetAddressRecognizer"]

# USPS Publication 28, Appendix C1: primary street suffixes and common abbreviations.
_SUFFIXES = """Alley Aly Annex Arcade Avenue Ave Av Bayou Beach Bend Bluffs? Bottom Boulevard Blvd Branch Bridge
Brooks? Burgs? Bypass Camp Canyon Cape Causeway Centers? Ctr Circles? Cir Cliffs? Club Commons? Corners? Course
Courts? Ct Coves? Creek Crescent Crest Crossing Crossroads? Curve Dale Dam Divide Drives? Dr Estates? Expressway
Expy Extensions? Falls? Ferry Fields? Flats? Fords? Forest Forges? Forks? Fort Freeway Fwy Gardens? Gateway Glens?
Greens? Groves? Harbors? Haven Heights Hts Highway Hwy Hills? Hollow Inlet Islands? Isle Junctions? Keys? Knolls?
Lakes? Land Landing Lane Ln Lights? Loaf Locks? Lodge Loop Mall Manors? Meadows? Mews Mills? Mission Motorway
Mount Mountains? Neck Orchard Oval Overpass Parks? Parkways? Pkwy Pass Passage Path Pike Pines? Place Pl
Plains? Plaza Points? Ports? Prairie Radial Ramp Ranch Rapids? Rest Ridges? River Roads? Rd Route Row Rue Run
Shoals? Shores? Skyway Springs? Spurs? Squares? Sq Station Stravenue Stream Streets? St Summit Terrace Ter
Throughway Trace Track Trafficway Trail Trl Trailer Tunnel Turnpike Underpass Unions? Valleys? Via Viaduct
Views? Villages? Ville Vista Walks? Wall Ways? Wells?""".split()

_WORD = r"(?:[A-Z][a-z'’-]+|[A-Z]{2,}|\d+(?:st|nd|rd|th))"
_STREET = (r"(?<![\w-])(?P<phi>\d{1,6}[A-Z]?[ \t]+(?:(?:[NSEW]|N[EW]|S[EW])\.?[ \t]+)?(?:" + _WORD + r"[ \t]+){1,4}"
           r"(?:" + "|".join(_SUFFIXES) + r")\b\.?"
           r"(?:,?[ \t]+(?:(?:[NSEW]|N[EW]|S[EW])\.?\b))?"
           r"(?:,?[ \t]*(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Bldg\.?|Building|Floor|Fl\.?|Rm\.?|Room|#)[ \t]*#?[ \t]*"
           r"[A-Z0-9-]{1,6}\b)?)"
           # The words after an address and a comma are the city ("12 Elm St, Springfield").
           r"(?:,[ \t]*(?P<city>[A-Z][a-z'’.-]+(?:[ \t]+[A-Z][a-z'’.-]+){0,2})(?![ \t]*\d))?")


class StreetAddressRecognizer(ClinicalRegexRecognizer):
    """Presidio ships no street-address recognizer and spaCy tags at most the city; the suffix list
    anchors the match so 'takes 2 Tylenol Extra Strength' does not look like an address."""

    ENTITIES = ("LOCATION",)

    def accept(self, match, rule, text):
        yield from super().accept(match, rule, text)
        if "city" in match.re.groupindex and match.group("city"):
            yield match.start("city"), match.end("city"), "LOCATION", 0.75

    RULES = (
        Rule(_STREET, "LOCATION", 0.85),
        Rule(r"\b(?P<phi>P\.?[ \t]?O\.?[ \t]+Box[ \t]+\d+)\b", "LOCATION", 0.9, ),
    )
