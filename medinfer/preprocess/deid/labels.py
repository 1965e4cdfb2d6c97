"""The Safe Harbor categories that appear in text, as output labels.

45 CFR 164.514(b)(2) lists 18 identifiers; these are the ones a clinical note
can carry. Every recognizer emits one of them, so the engine needs no label
translation table and callers see the category the identifier belongs to.
"""

from __future__ import annotations

from typing import Final

__all__ = ["LABELS", "STRUCTURED_LABELS", "priority"]

LABELS: Final[tuple[str, ...]] = (
    "NAME", "LOCATION", "DATE", "AGE", "PHONE", "FAX", "EMAIL", "SSN", "MRN", "HEALTH_PLAN_ID",
    "ACCOUNT", "LICENSE", "VEHICLE_ID", "DEVICE_ID", "URL", "IP_ADDRESS", "ID_OTHER",
)

# Labels found by format + context: when their spans overlap a NER guess, they win.
STRUCTURED_LABELS: Final[frozenset[str]] = frozenset(LABELS) - {"NAME", "LOCATION", "ID_OTHER"}

_PRIORITY = {label: i for i, label in enumerate((
    "ID_OTHER", "LOCATION", "NAME", "AGE", "DATE", "URL", "IP_ADDRESS", "PHONE", "FAX", "VEHICLE_ID",
    "DEVICE_ID", "LICENSE", "ACCOUNT", "HEALTH_PLAN_ID", "MRN", "SSN", "EMAIL",
))}


def priority(label: str) -> int:
    """Tie-breaker when overlapping spans have equal scores: the more specific label wins."""
    return _PRIORITY.get(label, -1)
