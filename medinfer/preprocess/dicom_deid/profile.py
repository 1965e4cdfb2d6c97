"""PS3.15 Annex E Table E.1-1 as data (``annex_e.tsv``) and the action each row resolves to.

The table gives composite codes (``X/Z``, ``Z/D``, ``X/Z/U*``...): the standard lets the
de-identifier pick any listed action that keeps the object conformant. We resolve them
once, here, in favour of the most removing choice the code allows, documented per code:

=========  ===========  =========================================================
code       we do        why
=========  ===========  =========================================================
X, X/...   remove       X is permitted whenever it is listed
Z, Z/D     zero length  permitted for Type 2 attributes; the strongest non-removal
D          dummy        a VR-conformant dummy (sequences: items cleaned, text blanked)
U          new UID      keyed HMAC of the original, consistent across a study
K          keep         (not used by the Basic Profile itself)
=========  ===========  =========================================================

Rows marked ``C`` in the Retain Longitudinal Temporal Information with Modified Dates
Option column are date/time attributes that we keep *shifted* (DA, DT) or keep (TM)
when that option is on; otherwise their basic action applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

__all__ = ["Action", "ProfileRule", "AnnexETable", "load_annex_e", "resolve_action"]

Action = Literal["X", "Z", "D", "U", "K"]


@dataclass(frozen=True)
class ProfileRule:
    tag: str  # GGGGEEEE, lower-case, x = wildcard nibble
    code: str  # the code as printed in the standard, e.g. "X/Z/D"
    modified_dates: bool
    name: str

    @property
    def action(self) -> Action:
        return resolve_action(self.code)


def resolve_action(code: str) -> Action:
    parts = code.replace("*", "").split("/")
    if "X" in parts:
        return "X"
    if "Z" in parts:
        return "Z"
    if "U" in parts:
        return "U"
    if "D" in parts:
        return "D"
    if parts == ["K"]:
        return "K"
    raise ValueError(f"unknown Annex E action code {code!r}")


@dataclass(frozen=True)
class AnnexETable:
    exact: dict[int, ProfileRule]
    masked: tuple[tuple[int, int, ProfileRule], ...]  # (mask, value, rule)

    def rule_for(self, tag: int) -> ProfileRule | None:
        rule = self.exact.get(tag)
        if rule is not None:
            return rule
        for mask, value, masked_rule in self.masked:
            if tag & mask == value:
                return masked_rule
        return None

    def __len__(self) -> int:
        return len(self.exact) + len(self.masked)

    def rules(self) -> list[ProfileRule]:
        return list(self.exact.values()) + [r for _, _, r in self.masked]


def _parse(text: str) -> AnnexETable:
    exact: dict[int, ProfileRule] = {}
    masked: list[tuple[int, int, ProfileRule]] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        tag, code, dates, name = line.split("\t")
        rule = ProfileRule(tag.lower(), code, dates == "C", name)
        resolve_action(code)  # validate at load
        if "x" in rule.tag:
            mask = int("".join("0" if c == "x" else "f" for c in rule.tag), 16)
            value = int(rule.tag.replace("x", "0"), 16)
            masked.append((mask, value, rule))
        else:
            exact[int(rule.tag, 16)] = rule
    return AnnexETable(exact, tuple(masked))


@lru_cache(maxsize=1)
def load_annex_e() -> AnnexETable:
    text = resources.files("medinfer.preprocess.dicom_deid").joinpath("annex_e.tsv").read_text("utf-8")
    return _parse(text)
