"""Realistic, consistent, keyed surrogates for the ``surrogate`` operator.

Keys
    ``scope = HMAC-SHA256(secret, "patient" || patient_key)`` when a patient key is
    given, else 32 random bytes per call (consistent within that note only).
    Every replacement is drawn from a PRNG seeded with
    ``HMAC-SHA256(scope, label || normalised value)``, so the same identifier of
    the same patient always maps to the same fake, a different secret gives an
    unrelated mapping, and without the secret the mapping cannot be recomputed
    or inverted (HMAC is a PRF; the fake carries no bits of the original).
Dates
    shifted by ``offset = f(HMAC(scope, "date-shift"))`` days, 1..max_shift in
    either direction, the same for all of a patient's notes: intervals are kept.
Ages over 89
    become "90+" (Safe Harbor aggregates them).
Name and place words come from the Faker package's en_US lists (MIT licence),
sampled with our own seeded ``random.Random`` so generation is thread-safe.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import secrets
from collections.abc import Callable

from faker.providers.address.en_US import Provider as _Address
from faker.providers.person.en_US import Provider as _Person

from medinfer.preprocess.deid.dates import parse_date, shift_date
from medinfer.preprocess.deid.name_spans import TITLE
from medinfer.preprocess.deid.vocab import GENERIC_FACILITY_WORDS

__all__ = ["NoteSurrogates", "SurrogateKeys"]

FIRST_NAMES = tuple(_Person.first_names)
LAST_NAMES = tuple(_Person.last_names)
STREET_SUFFIXES = tuple(_Address.street_suffixes)
_CITY_PREFIXES = tuple(_Address.city_prefixes)
_CITY_SUFFIXES = tuple(_Address.city_suffixes)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")
_TITLE = re.compile(TITLE + r"\.?[ \t]+")
_STREET_KEEP = re.compile(r"(?i)^(?:apt|apartment|suite|ste|unit|bldg|building|floor|fl|rm|room|p|o|box|po|"
                          r"n|s|e|w|ne|nw|se|sw|north|south|east|west|" + "|".join(STREET_SUFFIXES) + r")\.?$")


class SurrogateKeys:
    """Holds the secret; derives a per-patient (or per-note) scope key."""

    def __init__(self, secret: bytes, max_shift_days: int = 365) -> None:
        if len(secret) < 16:
            raise ValueError("the surrogate secret must be at least 16 bytes")
        self._secret = secret
        self.max_shift_days = max_shift_days

    def note(self, patient_key: str | None) -> NoteSurrogates:
        if patient_key is None:
            scope = secrets.token_bytes(32)
        else:
            scope = hmac.new(self._secret, b"medinfer-deid/patient\x00" + patient_key.encode("utf-8"),
                             hashlib.sha256).digest()
        return NoteSurrogates(scope, self.max_shift_days)


def _match_case(fake: str, original: str) -> str:
    if original.isupper() and len(original) > 1:
        return fake.upper()
    if original.islower():
        return fake.lower()
    return fake


class NoteSurrogates:
    """Replacement state for one note: a cache so repeats map identically, and the date offset."""

    def __init__(self, scope: bytes, max_shift_days: int) -> None:
        self._scope = scope
        self._cache: dict[tuple[str, str], str] = {}
        self._first_seen: set[tuple[str, str]] = set()
        d = hmac.new(scope, b"date-shift", hashlib.sha256).digest()
        days = 1 + int.from_bytes(d[:8], "big") % max_shift_days
        self.shift_days = days if d[8] & 1 else -days

    def _rng(self, kind: str, value: str) -> random.Random:
        digest = hmac.new(self._scope, kind.encode() + b"\x00" + value.encode("utf-8"), hashlib.sha256).digest()
        return random.Random(int.from_bytes(digest, "big"))

    def replace(self, label: str, value: str) -> str:
        key = (label, re.sub(r"\s+", " ", value.strip()).lower())
        hit = self._cache.get(key)
        if hit is None:
            hit = _GENERATORS.get(label, NoteSurrogates._format_preserving)(self, value)
            self._cache[key] = hit
        return hit

    # ------------------------------------------------------------------ words
    def _word(self, role: str, word: str) -> str:
        """One name/place word -> one fake word, consistent per (role, word) within the scope."""
        rng = self._rng("word:" + role, word.lower())
        pool = FIRST_NAMES if role == "first" else LAST_NAMES
        return _match_case(rng.choice(pool), word)

    def _name(self, value: str) -> str:
        title = _TITLE.match(value)             # 'Dr. Okafor' -> 'Dr. ' + a fake surname
        if title and title.end() < len(value):
            return value[:title.end()] + self._name(value[title.end():])
        if re.fullmatch(r"(?:[A-Z]\.?\s?){1,3}", value.strip()):
            rng = self._rng("initials", value.upper())
            return re.sub(r"[A-Z]", lambda _: rng.choice("ABCDEFGHJKLMNPRSTW"), value)
        words = _WORD.findall(value)
        if "," in value:                      # LAST, FIRST
            roles = ["last"] + ["first"] * (len(words) - 1)
        elif len(words) == 1:                 # a lone word is taken as a surname unless seen as a first name
            roles = ["first" if ("NAME", words[0].lower()) in self._first_seen else "last"]
        else:
            roles = ["first"] * (len(words) - 1) + ["last"]
        out, i = [], 0
        for m in re.finditer(r"[A-Za-z][A-Za-z'’]*|[^A-Za-z]+", value):
            tok = m.group()
            if _WORD.fullmatch(tok):
                role = roles[i]
                i += 1
                if len(tok) == 1:
                    out.append(self._rng("initial", tok).choice("ABCDEFGHJKLMNPRSTW"))
                    continue
                if role == "first":
                    self._first_seen.add(("NAME", tok.lower()))
                out.append(self._word(role, tok))
            else:
                out.append(tok)
        return "".join(out)

    # ------------------------------------------------------------------ places
    def _location(self, value: str) -> str:
        v = value.strip()
        rng = self._rng("loc", v.lower())
        if re.fullmatch(r"\d{5}(?:-\d{4})?", v):
            return "".join(str(rng.randint(0, 9)) if c.isdigit() else c for c in v)
        if re.match(r"\d", v) or re.match(r"(?i)p\.?\s?o\.?\s+box", v):
            return re.sub(r"\d+", lambda m: str(rng.randint(10 ** (len(m.group()) - 1), 10 ** len(m.group()) - 1))
                          if len(m.group()) > 1 else str(rng.randint(1, 9)),
                          _WORD.sub(lambda m: m.group() if _STREET_KEEP.match(m.group())
                                    else self._word("last", m.group()), v))
        words = _WORD.findall(v)
        if any(w.lower() in GENERIC_FACILITY_WORDS for w in words) and len(words) > 1:
            return _WORD.sub(lambda m: m.group() if m.group().lower() in GENERIC_FACILITY_WORDS
                             or m.group() in ("St", "Mount", "Mt", "Saint") else self._word("last", m.group()), v)
        city = rng.choice((
            lambda: f"{rng.choice(_CITY_PREFIXES)} {rng.choice(FIRST_NAMES)}{rng.choice(_CITY_SUFFIXES)}",
            lambda: f"{rng.choice(LAST_NAMES)}{rng.choice(_CITY_SUFFIXES)}",
            lambda: f"{rng.choice(_CITY_PREFIXES)} {rng.choice(LAST_NAMES)}",
        ))()
        return _match_case(city, v)

    # ------------------------------------------------------------------ formats
    def _date(self, value: str) -> str:
        parsed = parse_date(value)
        return shift_date(parsed, self.shift_days) if parsed is not None else "[DATE]"

    def _age(self, value: str) -> str:
        digits = re.sub(r"\D", "", value)
        return "90+" if digits and int(digits) > 89 else value

    def _format_preserving(self, value: str, *, first_digit: str = "") -> str:
        rng = self._rng("fmt", value)
        out = []
        for c in value:
            if c.isdigit():
                out.append(first_digit or str(rng.randint(0, 9)))
                first_digit = ""
            elif c.isupper():
                out.append(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ"))
            elif c.islower():
                out.append(rng.choice("abcdefghijkmnopqrstuvwxyz"))
            else:
                out.append(c)
        return "".join(out)

    def _phone(self, value: str) -> str:
        fake = self._format_preserving(value)
        digits = [i for i, c in enumerate(fake) if c.isdigit()]
        lead = 1 if re.match(r"\s*\+?1[\s.-]", value) else 0
        if len(digits) > lead:                # NANP area codes start 2-9
            i = digits[lead]
            fake = fake[:i] + str(2 + int(fake[i]) % 8) + fake[i + 1:]
        if lead:
            fake = fake[:digits[0]] + "1" + fake[digits[0] + 1:]
        return fake

    def _ssn(self, value: str) -> str:
        return self._format_preserving(value, first_digit="9")   # 9xx is never issued as an SSN

    def _email(self, value: str) -> str:
        rng = self._rng("email", value.lower())
        return f"{rng.choice(FIRST_NAMES).lower()}.{rng.choice(LAST_NAMES).lower()}@example.org"

    def _url(self, value: str) -> str:
        rng = self._rng("url", value.lower())
        scheme = re.match(r"(?i)(https?://|ftp://)?(www\.)?", value)
        host = f"{rng.choice(LAST_NAMES).lower()}{rng.choice(('health', 'clinic', 'care', 'med'))}.example"
        return (scheme.group(1) or "") + (scheme.group(2) or "") + host + "/"

    def _ip(self, value: str) -> str:
        rng = self._rng("ip", value)
        if ":" in value:
            return "fd00:" + ":".join(f"{rng.randint(0, 0xFFFF):x}" for _ in range(7))
        return "10." + ".".join(str(rng.randint(0, 255)) for _ in range(3))


_GENERATORS: dict[str, Callable[[NoteSurrogates, str], str]] = {
    "NAME": NoteSurrogates._name,
    "LOCATION": NoteSurrogates._location,
    "DATE": NoteSurrogates._date,
    "AGE": NoteSurrogates._age,
    "PHONE": NoteSurrogates._phone,
    "FAX": NoteSurrogates._phone,
    "SSN": NoteSurrogates._ssn,
    "EMAIL": NoteSurrogates._email,
    "URL": NoteSurrogates._url,
    "IP_ADDRESS": NoteSurrogates._ip,
}
