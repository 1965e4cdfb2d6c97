"""Date formats clinicians write: one regex per format, used both to find dates
(``ClinicalDateRecognizer``) and to parse and re-render them when the
``surrogate`` operator shifts them.

Keeping recognition and parsing in one table means every date we can flag we
can also shift in its original format; a date that matches no format here is
never emitted as a shiftable DATE and falls back to a tag.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DATE_PATTERNS", "DatePattern", "ParsedDate", "parse_date", "shift_date"]

_MONTH_NAMES = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTH_NAMES.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTH_NAMES["sept"] = 9

MONTH = (r"(?P<mon>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
         r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)(?P<dot>\.?)")
DAY = r"(?P<d>3[01]|[12]\d|0?[1-9])(?P<suf>st|nd|rd|th)?"
Y4 = r"(?P<y>(?:19|20)\d{2})"
NUM_M = r"(?P<m>1[0-2]|0?[1-9])"
NUM_D = r"(?P<d>3[01]|[12]\d|0?[1-9])"


@dataclass(frozen=True)
class ParsedDate:
    """A date with the precision the text gave (day, month or year) and a renderer for its format."""

    value: dt.date
    precision: str  # "day", "month", "monthday", "year"
    render: Callable[[dt.date], str]


@dataclass(frozen=True)
class DatePattern:
    name: str
    regex: re.Pattern[str]
    score: float
    parse: Callable[[re.Match[str]], ParsedDate | None]


def _year(text: str) -> int:
    y = int(text.lstrip("'"))
    if len(text.lstrip("'")) == 2:
        y += 2000 if y <= (dt.date.today().year % 100) else 1900
    return y


def _safe(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _month_name_renderer(token: str, dot: str) -> Callable[[int], str]:
    """Render a month the way the note wrote it: full name, 3-letter, upper case, with a dot."""
    full = len(token) > 4 or token.lower() in ("may", "june", "july")
    upper = token.isupper() and len(token) > 1
    def render(month: int) -> str:
        name = calendar.month_name[month] if full else calendar.month_abbr[month]
        name = name.upper() if upper else name
        return name + dot
    return render


def _ordinal(n: int) -> str:
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10 if not 10 <= n % 100 <= 20 else 0, "th")


def _numeric(m: re.Match[str]) -> ParsedDate | None:
    ys, sep = m.group("y"), m.group("sep")
    value = _safe(_year(ys), int(m.group("m")), int(m.group("d")))
    if value is None:
        return None
    pad_m, pad_d = len(m.group("m")) == 2, len(m.group("d")) == 2
    two = len(ys) == 2
    def render(d: dt.date) -> str:
        mm = f"{d.month:02d}" if pad_m else str(d.month)
        dd = f"{d.day:02d}" if pad_d else str(d.day)
        yy = f"{d.year % 100:02d}" if two else str(d.year)
        return f"{mm}{sep}{dd}{sep}{yy}"
    return ParsedDate(value, "day", render)


def _iso(m: re.Match[str]) -> ParsedDate | None:
    sep = m.group("sep")
    value = _safe(int(m.group("y")), int(m.group("m")), int(m.group("d")))
    return None if value is None else ParsedDate(value, "day", lambda d: f"{d.year}{sep}{d.month:02d}{sep}{d.day:02d}")


def _mdy_named(m: re.Match[str]) -> ParsedDate | None:
    mon = _month_name_renderer(m.group("mon"), m.group("dot"))
    value = _safe(int(m.group("y")), _MONTH_NAMES[m.group("mon").lower()], int(m.group("d")))
    if value is None:
        return None
    comma, suf, pad = m.group("comma") or "", m.group("suf"), len(m.group("d")) == 2
    def render(d: dt.date) -> str:
        day = f"{d.day:02d}" if pad else str(d.day)
        return f"{mon(d.month)} {day}{_ordinal(d.day) if suf else ''}{comma} {d.year}"
    return ParsedDate(value, "day", render)


def _dmy_named(m: re.Match[str]) -> ParsedDate | None:
    mon = _month_name_renderer(m.group("mon"), m.group("dot"))
    value = _safe(int(m.group("y")), _MONTH_NAMES[m.group("mon").lower()], int(m.group("d")))
    if value is None:
        return None
    s1, s2, pad = m.group("s1"), m.group("s2"), len(m.group("d")) == 2
    def render(d: dt.date) -> str:
        return (f"{d.day:02d}" if pad else str(d.day)) + s1 + mon(d.month) + s2 + str(d.year)
    return ParsedDate(value, "day", render)


def _md_named(m: re.Match[str]) -> ParsedDate | None:
    mon = _month_name_renderer(m.group("mon"), m.group("dot"))
    value = _safe(2000, _MONTH_NAMES[m.group("mon").lower()], int(m.group("d")))
    if value is None:
        return None
    suf = m.group("suf")
    return ParsedDate(value, "monthday", lambda d: f"{mon(d.month)} {d.day}{_ordinal(d.day) if suf else ''}")


def _md_numeric(m: re.Match[str]) -> ParsedDate | None:
    value = _safe(2000, int(m.group("m")), int(m.group("d")))
    if value is None:
        return None
    pad_m, pad_d = len(m.group("m")) == 2, len(m.group("d")) == 2
    return ParsedDate(value, "monthday", lambda d: (f"{d.month:02d}" if pad_m else str(d.month)) + "/"
                      + (f"{d.day:02d}" if pad_d else str(d.day)))


def _my_named(m: re.Match[str]) -> ParsedDate | None:
    mon = _month_name_renderer(m.group("mon"), m.group("dot"))
    sep = m.group("sep")
    value = dt.date(int(m.group("y")), _MONTH_NAMES[m.group("mon").lower()], 15)
    return ParsedDate(value, "month", lambda d: f"{mon(d.month)}{sep}{d.year}")


def _my_numeric(m: re.Match[str]) -> ParsedDate | None:
    pad = len(m.group("m")) == 2
    value = dt.date(int(m.group("y")), int(m.group("m")), 15)
    return ParsedDate(value, "month", lambda d: (f"{d.month:02d}" if pad else str(d.month)) + "/" + str(d.year))


def _year_only(m: re.Match[str]) -> ParsedDate | None:
    return ParsedDate(dt.date(int(m.group("y")), 7, 1), "year", lambda d: str(d.year))


_B = r"(?<![\w/.-])"   # not glued to a number, word or another date part
_E = r"(?![\w/]|\.\d|-\d)"

DATE_PATTERNS: tuple[DatePattern, ...] = tuple(
    DatePattern(name, re.compile(rx, flags), score, fn) for name, rx, flags, score, fn in (
        ("numeric_mdy", _B + NUM_M + r"(?P<sep>[/.-])" + NUM_D + r"(?P=sep)(?P<y>(?:19|20)\d{2}|'?\d{2})" + _E,
         0, 0.9, _numeric),
        ("iso", _B + Y4 + r"(?P<sep>[-/.])" + NUM_M + r"(?P=sep)" + NUM_D + _E, 0, 0.95, _iso),
        ("month_day_year", r"\b" + MONTH + r"\s+" + DAY + r"(?P<comma>,?)\s+" + Y4 + r"\b",
         re.IGNORECASE, 0.95, _mdy_named),
        ("day_month_year", r"\b" + DAY.replace("(?P<suf>st|nd|rd|th)?", "") + r"(?P<s1>[\s-])" + MONTH
         + r"(?P<s2>,?[\s-])" + Y4 + r"\b", re.IGNORECASE, 0.95, _dmy_named),
        ("month_day", r"\b" + MONTH + r"\s+" + DAY + r"\b(?!\s*+(?:mg|mcg|ml|units?|%|,?\s*+(?:19|20)\d{2}))",
         re.IGNORECASE, 0.8, _md_named),
        ("month_year", r"\b" + MONTH + r"(?P<sep>,?\s+|-)" + Y4 + r"\b", re.IGNORECASE, 0.9, _my_named),
        ("numeric_month_year", _B + NUM_M + r"/" + Y4 + _E, 0, 0.85, _my_numeric),
        ("numeric_month_day", _B + NUM_M + r"/" + NUM_D + _E, 0, 0.6, _md_numeric),
        ("birth_year", r"(?i:\b(?:born(?:\s+in)?|year\s+of\s+birth|YOB|DOB|b\.)\s*+:?\s*+)" + Y4 + r"\b",
         0, 0.9, _year_only),
    )
)

_BY_NAME = {p.name: p for p in DATE_PATTERNS}


def parse_date(text: str) -> ParsedDate | None:
    """Parse a whole DATE span in any known format; ``None`` when no format matches all of it."""
    text = text.strip()
    for pattern in DATE_PATTERNS:
        if pattern.name == "birth_year":
            m = re.fullmatch(Y4, text)
            if m:
                return _year_only(m)
            continue
        m = pattern.regex.fullmatch(text)
        if m:
            parsed = pattern.parse(m)
            if parsed is not None:
                return parsed
    return None


def shift_date(parsed: ParsedDate, days: int) -> str:
    """Shift by ``days`` and re-render in the original format (intervals between day dates are kept)."""
    return parsed.render(parsed.value + dt.timedelta(days=days))
