"""Span rules applied after the recognizers: a NAME takes in its title and a trailing initial;
a possessive 's stays outside NAME and LOCATION spans.

Safe Harbor gold standards (and the third-party sets this engine is measured on) mark the title
as part of the name ('Dr. Okafor', 'Mrs. Delacroix'), and 'Kevin L.' leaks the surname's
initial when only 'Kevin' is masked. Both rules only grow existing NAME spans: they add recall
and cannot create a span where no recognizer found a name.
"""

from __future__ import annotations

import re

__all__ = ["TITLE", "extend_names"]

TITLE = (r"(?:Dr|Drs|Doctor|Mr|Mrs|Ms|Mx|Miss|Prof|Professor|Rev|Reverend|Sr|Sra|Srta|Sister|Fr|Father|Herr|Frau|"
         r"Mme|Mlle|Dame|Sir|Lady|Dña|Sig|Sig\.ra|Bay|Bayan|Pan|Pani|Sayın|Ibu|Bapak|Shri|Smt|Nurse|DR|MR|MRS|MS|PROF)")
_TITLE_BEFORE = re.compile(r"(?<![\w.])" + TITLE + r"\.?[ \t]{1,2}$")
_POSSESSIVE = re.compile(r"['’]s$")
_INITIAL_AFTER = re.compile(r"[ \t][A-Z]\.(?![\w])|[ \t][A-Z](?=[,;:)]|[ \t]*$|[ \t]+\d)")


def extend_names(text: str, spans: list[tuple[int, int, str, float]]) -> list[tuple[int, int, str, float]]:
    out = []
    for start, end, label, score in spans:
        if label == "NAME":
            title = _TITLE_BEFORE.search(text, max(0, start - 14), start)
            if title:
                start = title.start()
            initial = _INITIAL_AFTER.match(text, end)
            if initial:
                end = initial.end()
        if label in ("NAME", "LOCATION"):
            possessive = _POSSESSIVE.search(text, max(start, end - 2), end)
            if possessive and end - start > 2:       # "Okafor's": the name is masked, the 's stays
                end = possessive.start()
        out.append((start, end, label, score))
    return out
