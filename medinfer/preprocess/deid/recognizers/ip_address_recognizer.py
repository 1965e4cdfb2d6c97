"""IPv4 and IPv6 addresses."""

from __future__ import annotations

import ipaddress

from medinfer.preprocess.deid.recognizers.clinical_regex_recognizer import ClinicalRegexRecognizer, Rule

__all__ = ["IpAddressRecognizer"]


class IpAddressRecognizer(ClinicalRegexRecognizer):
    """Candidates are validated with ``ipaddress`` so '10.2.3.4' scores, '300.1.1.1' does not."""

    ENTITIES = ("IP_ADDRESS",)
    RULES = (
        Rule(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)", "IP_ADDRESS", 0.9),
        Rule(r"(?i)(?<![\w:])(?:[0-9a-f]{1,4}:){2,7}(?::|[0-9a-f]{1,4})(?::[0-9a-f]{1,4})*(?![\w:])",
             "IP_ADDRESS", 0.9),
        Rule(r"(?i)(?<![\w:])(?:[0-9a-f]{1,4}:){1,7}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?(?![\w:])",
             "IP_ADDRESS", 0.9),
    )

    def accept(self, match, rule, text):
        try:
            ipaddress.ip_address(match.group(0))
        except ValueError:
            return
        yield match.start(), match.end(), rule.label, rule.score
