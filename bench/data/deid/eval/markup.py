"""Inline gold markup for the frozen de-identification evaluation set.

``[[LABEL:value]]`` marks a PHI span; ``parse`` strips the markup and returns the
plain text with character offsets, so gold spans are exact by construction.
``N``, ``L`` and ``D`` are short for NAME, LOCATION and DATE in hand-written lines.
``validate`` is the one gold check the builder and the unit test share.
"""

from __future__ import annotations

import re

LABELS = (
    "NAME", "LOCATION", "DATE", "AGE", "PHONE", "FAX", "EMAIL", "SSN", "MRN", "HEALTH_PLAN_ID",
    "ACCOUNT", "LICENSE", "VEHICLE_ID", "DEVICE_ID", "URL", "IP_ADDRESS", "ID_OTHER",
)
ALIASES = {"N": "NAME", "L": "LOCATION", "D": "DATE"}
MARK = re.compile(r"\[\[([A-Z_]+):(.+?)\]\]")


class MarkupError(ValueError):
    pass


def parse(marked: str) -> tuple[str, list[dict]]:
    """Plain text and spans of one marked-up string."""
    out: list[str] = []
    spans: list[dict] = []
    pos = length = 0
    for m in MARK.finditer(marked):
        label = ALIASES.get(m.group(1), m.group(1))
        if label not in LABELS:
            raise MarkupError(f"unknown label {m.group(1)!r} in {marked!r}")
        before = marked[pos:m.start()]
        out.append(before)
        length += len(before)
        value = m.group(2)
        spans.append({"start": length, "end": length + len(value), "label": label})
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(marked[pos:])
    text = "".join(out)
    if "[[" in text or "]]" in text:
        raise MarkupError(f"unbalanced markup in {marked!r}")
    validate(text, spans)
    return text, spans


def validate(text: str, spans: list[dict]) -> None:
    """Raise MarkupError unless every span is in range, trimmed, labelled and disjoint."""
    last_end = 0
    for s in sorted(spans, key=lambda s: s["start"]):
        start, end, label = s["start"], s["end"], s["label"]
        if label not in LABELS:
            raise MarkupError(f"bad label {label!r}")
        if not (0 <= start < end <= len(text)):
            raise MarkupError(f"span {start}:{end} out of range in {text!r}")
        if start < last_end:
            raise MarkupError(f"overlapping span at {start} in {text!r}")
        value = text[start:end]
        if value != value.strip():
            raise MarkupError(f"untrimmed span {value!r} in {text!r}")
        # A span must start and end on token boundaries: no half words.
        if start > 0 and text[start - 1].isalnum() and value[0].isalnum():
            raise MarkupError(f"span {value!r} starts inside a word in {text!r}")
        if end < len(text) and text[end].isalnum() and value[-1].isalnum():
            raise MarkupError(f"span {value!r} ends inside a word in {text!r}")
        last_end = end
