"""Web addresses: with a scheme, with ``www.``, or a bare host under a common TLD."""

from __future__ import annotations

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import ClinicalRegexRecognizer, Rule

__all__ = ["WebAddressRecognizer"]


class WebAddressRecognizer(ClinicalRegexRecognizer):
    """Presidio's UrlRecognizer compiles every IANA TLD into one regex; clinical notes mostly quote
    portals and hospital sites, so schemes, ``www.`` and the common TLDs cover them at a fraction
    of the cost."""

    ENTITIES = ("URL",)
    RULES = (
        Rule(r"(?i)\b(?:https?|ftp)://[^\s<>\"']+", "URL", 0.95),
        Rule(r"(?i)(?<![@\w.])www\.[^\s<>\"']+", "URL", 0.9),
        Rule(r"(?i)(?<![@\w.-])(?:[a-z0-9-]+\.)+(?:com|org|net|edu|gov|info|io|us|biz|health|care|co)"
             r"(?:/[^\s<>\"']*)?(?![\w@])", "URL", 0.7),
    )
