"""Fake identifiers for the synthetic de-identification evaluation notes.

Every value is invented: person names, street addresses, e-mail addresses, URLs,
IP addresses, plates and VINs come from the Faker package (MIT licence) seeded
per split; city, county and saint names are public-domain geographic facts typed
in by hand; identifier formats (MRN, member ids, accounts, licences, devices)
are random strings. No real patient record was used.

A template refers to a slot as ``{LABEL:kind}`` (a PHI span with a gold label)
or ``{~kind}`` (clinical filler that is *not* PHI and must survive). ``render``
fills the template and returns the text with the gold spans.
"""

from __future__ import annotations

import random
import re
import string
from typing import Callable

from faker import Faker

__all__ = ["Slots", "render", "REAL_CITIES", "COUNTIES"]

REAL_CITIES = [
    "Springfield", "Boston", "Worcester", "Cleveland", "Columbus", "Dayton", "Toledo", "Akron",
    "Pittsburgh", "Scranton", "Allentown", "Baltimore", "Richmond", "Norfolk", "Raleigh",
    "Durham", "Charlotte", "Atlanta", "Savannah", "Tampa", "Orlando", "Gainesville", "Mobile",
    "Memphis", "Nashville", "Louisville", "Lexington", "Indianapolis", "Fort Wayne", "Detroit",
    "Flint", "Lansing", "Milwaukee", "Madison", "Green Bay", "Minneapolis", "Duluth", "Des Moines",
    "Omaha", "Wichita", "Topeka", "Tulsa", "Little Rock", "Shreveport", "El Paso", "San Antonio",
    "Lubbock", "Albuquerque", "Tucson", "Phoenix", "Boise", "Spokane", "Tacoma", "Eugene",
    "Sacramento", "Fresno", "Bakersfield", "Oakland", "San Diego", "Reno", "Provo", "Billings",
    "Fargo", "Sioux Falls", "Burlington", "Portland", "Hartford", "New Haven", "Providence",
    "Albany", "Syracuse", "Rochester", "Buffalo", "Trenton", "Newark", "Wilmington",
]
COUNTIES = [
    "Cook", "Middlesex", "Franklin", "Cuyahoga", "Allegheny", "Wake", "Fulton", "Shelby",
    "Jefferson", "Marion", "Wayne", "Dane", "Hennepin", "Polk", "Douglas", "Sedgwick", "Bexar",
    "Maricopa", "Pima", "Ada", "Spokane", "Lane", "Fresno", "Washoe", "Hampden", "Worcester",
]
SAINTS = ["Mary", "Joseph", "Luke", "Francis", "Vincent", "Elizabeth", "Anne", "Jude", "Peter", "Agnes"]
STATES = ["Ohio", "Iowa", "Kansas", "Utah", "Vermont", "Maryland", "Michigan", "Nebraska"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
MON3 = [m[:3] for m in MONTHS]

_SLOT = re.compile(r"\{(~?)([A-Z_]*):?([a-z0-9_]+)\}")


def _ordinal(n: int) -> str:
    suf = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suf}"


class Slots:
    """Value generators keyed by slot kind; one instance per split with its own seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fk = Faker("en_US")
        self.fk.seed_instance(seed)
        self.note: dict[str, str] = {}

    def new_note(self) -> None:
        """Fix one patient/doctor per note so names recur the way they do in real notes."""
        fk = self.fk
        self.note = {"first": fk.first_name(), "last": fk.last_name(),
                     "dfirst": fk.first_name(), "dlast": fk.last_name()}

    # ---------------- helpers
    def _digits(self, n: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    def _alnum(self, n: int) -> str:
        return "".join(self.rng.choice(string.ascii_uppercase + string.digits) for _ in range(n))

    def _date(self):
        r = self.rng
        return r.randint(1995, 2024), r.randint(1, 12), r.randint(1, 28)

    def get(self, kind: str) -> str:
        fn: Callable[[], str] | None = getattr(self, "k_" + kind, None)
        if fn is None:
            raise KeyError(kind)
        return fn()

    # ---------------- names
    def k_pfirst(self): return self.note["first"]
    def k_plast(self): return self.note["last"]
    def k_pfull(self): return f"{self.note['first']} {self.note['last']}"
    def k_pupper(self): return f"{self.note['last'].upper()}, {self.note['first'].upper()}"
    def k_dlast(self): return self.note["dlast"]
    def k_dfull(self): return f"{self.note['dfirst']} {self.note['dlast']}"
    def k_full(self): return f"{self.fk.first_name()} {self.fk.last_name()}"
    def k_first(self): return self.fk.first_name()
    def k_last(self): return self.fk.last_name()
    def k_mi(self): return f"{self.fk.first_name()} {self.rng.choice(string.ascii_uppercase)}. {self.fk.last_name()}"
    def k_initials(self):
        a, b = self.rng.choice(string.ascii_uppercase), self.rng.choice(string.ascii_uppercase)
        return self.rng.choice([f"{a}.{b}.", f"{a}{b}", f"{a}. {b}."])

    # ---------------- places
    def k_hospital(self):
        r, fk = self.rng, self.fk
        return r.choice([
            f"{fk.last_name()} Memorial Hospital", f"St. {r.choice(SAINTS)}'s Medical Center",
            f"{r.choice(REAL_CITIES)} General Hospital", f"{r.choice(REAL_CITIES)} Regional Medical Center",
            f"{fk.last_name()} Family Clinic", f"Mount {fk.last_name()} Hospital",
            f"{r.choice(REAL_CITIES)} Children's Hospital", f"{fk.last_name()} Rehabilitation Center",
            f"University of {r.choice(STATES)} Medical Center", f"{fk.last_name()} Nursing Home",
            f"{r.choice(REAL_CITIES)} Community Health Center", f"{fk.last_name()} Cardiology Clinic",
        ])

    def k_street(self): return self.fk.street_address()
    def k_city(self): return self.rng.choice([self.rng.choice(REAL_CITIES), self.fk.city()])
    def k_county(self): return f"{self.rng.choice(COUNTIES)} County"
    def k_zip(self): return self.rng.choice([self.fk.zipcode(), self.fk.zipcode_plus4()])
    def k_state(self): return self.fk.state_abbr()

    # ---------------- dates
    def k_date_mdy(self):
        y, m, d = self._date()
        return self.rng.choice([f"{m:02d}/{d:02d}/{y}", f"{m}/{d}/{y}", f"{m}/{d}/{y % 100:02d}", f"{m:02d}-{d:02d}-{y}"])
    def k_date_iso(self):
        y, m, d = self._date(); return f"{y}-{m:02d}-{d:02d}"
    def k_date_long(self):
        y, m, d = self._date(); r = self.rng
        return r.choice([f"{MONTHS[m-1]} {d}, {y}", f"{MON3[m-1]} {d} {y}", f"{d} {MONTHS[m-1]} {y}",
                         f"{d:02d}-{MON3[m-1]}-{y}", f"{MONTHS[m-1]} {_ordinal(d)}, {y}"])
    def k_date_md(self):
        _, m, d = self._date(); r = self.rng
        return r.choice([f"{m}/{d}", f"{MONTHS[m-1]} {d}", f"{MON3[m-1]} {_ordinal(d)}"])
    def k_date_my(self):
        y, m, _ = self._date(); return self.rng.choice([f"{MONTHS[m-1]} {y}", f"{m:02d}/{y}", f"{MON3[m-1]} {y}"])
    def k_date(self):
        return self.rng.choice([self.k_date_mdy, self.k_date_iso, self.k_date_long])()

    # ---------------- ages over 89
    def k_age90(self): return str(self.rng.randint(90, 104))

    # ---------------- contact and ids
    def k_phone(self):
        a, b, c = self._digits(3), self._digits(3), self._digits(4)
        a = str(self.rng.randint(2, 9)) + a[1:]
        return self.rng.choice([f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"({a}){b}-{c}",
                                f"+1 {a} {b} {c}", f"1-{a}-{b}-{c}"])
    def k_email(self): return self.fk.email()
    def k_url(self): return self.rng.choice([self.fk.url(), f"www.{self.fk.domain_name()}", self.fk.url() + "portal/" + self._digits(5)])
    def k_ip(self): return self.rng.choice([self.fk.ipv4(), self.fk.ipv4(), self.fk.ipv6()])
    def k_ssn(self):
        s = self.fk.ssn(); return self.rng.choice([s, s.replace("-", " ")])
    def k_mrn(self): return self.rng.choice([self._digits(7), self._digits(8), "00" + self._digits(6), self._alnum(2) + self._digits(6)])
    def k_plan(self): return self.rng.choice([self._alnum(3) + self._digits(9), self._digits(3) + "-" + self._digits(3) + "-" + self._digits(3) + "A", self._alnum(11)])
    def k_account(self): return self.rng.choice([self._digits(9), self._digits(10), "A" + self._digits(8), self._digits(4) + "-" + self._digits(5)])
    def k_license(self): return self.rng.choice(["".join(self.rng.choice("ABFM") for _ in range(2)) + self._digits(7), "MD" + self._digits(6), self._alnum(2) + "-" + self._digits(5)])
    def k_vin(self): return self.fk.vin()
    def k_plate(self): return self.fk.license_plate()
    def k_device(self): return self.rng.choice([self._alnum(3) + self._digits(6), "SN" + self._digits(8), self._alnum(4) + "-" + self._alnum(4) + "-" + self._digits(4)])
    def k_idother(self): return self.rng.choice([f"S{self._digits(2)}-{self._digits(5)}", self._alnum(2) + self._digits(7), f"{self._digits(2)}-{self._alnum(1)}{self._digits(6)}"])

    # ---------------- non-PHI clinical filler (must not be flagged)
    def k_age(self): return str(self.rng.randint(19, 88))
    def k_year(self): return str(self.rng.randint(1998, 2023))
    def k_med(self): return self.rng.choice([
        "Lasix 40 mg PO daily", "metoprolol 25 mg BID", "Coumadin 5 mg", "Eliquis 5 mg BID", "Zofran 4 mg IV q6h PRN",
        "lisinopril 10 mg daily", "Tylenol 650 mg q6h", "insulin glargine 20 units qHS", "Keflex 500 mg QID",
        "atorvastatin 40 mg", "aspirin 81 mg", "Norco 5/325 1 tab q4h PRN", "Augmentin 875/125 BID"])
    def k_lab(self): return self.rng.choice([
        f"Hgb {self.rng.randint(7, 15)}.{self.rng.randint(0, 9)}", f"WBC {self.rng.randint(3, 19)}.{self.rng.randint(0, 9)}",
        f"Cr {self.rng.randint(0, 3)}.{self.rng.randint(1, 9)}", f"K {self.rng.randint(3, 5)}.{self.rng.randint(0, 9)}",
        f"BP {self.rng.randint(95, 180)}/{self.rng.randint(50, 100)}", f"HR {self.rng.randint(55, 120)}",
        f"INR {self.rng.randint(1, 3)}.{self.rng.randint(0, 9)}", f"EF {self.rng.choice([25, 35, 45, 55, 60])}%",
        f"A1c {self.rng.randint(5, 11)}.{self.rng.randint(0, 9)}%", f"SpO2 {self.rng.randint(88, 100)}% on 2L NC"])
    def k_dx(self): return self.rng.choice([
        "Parkinson disease", "Crohn's disease", "Alzheimer dementia", "Hodgkin lymphoma", "Bell's palsy",
        "Graves disease", "Cushing syndrome", "Barrett esophagus", "Hashimoto thyroiditis", "CHF exacerbation",
        "COPD", "type 2 diabetes mellitus", "atrial fibrillation", "community-acquired pneumonia", "C. diff colitis",
        "Guillain-Barre syndrome", "Down syndrome", "Wilson disease", "Lyme disease", "Addison disease"])
    def k_pain(self): return f"{self.rng.randint(1, 9)}/10"
    def k_time(self): return self.rng.choice([f"{self.rng.randint(0, 23):02d}:{self.rng.choice(['00', '15', '30', '45'])}", f"{self.rng.randint(1, 12)}:{self.rng.choice(['00', '30'])} pm"])
    def k_dur(self): return self.rng.choice(["3 days", "2 weeks", "6 months", "48 hours", "several years", "1 week"])
    def k_room(self): return str(self.rng.randint(100, 999))


def render(template: str, slots: Slots) -> tuple[str, list[dict]]:
    """Fill ``template``; return the note and its gold spans ``{start, end, label}``."""
    out: list[str] = []
    spans: list[dict] = []
    pos = 0
    length = 0
    for m in _SLOT.finditer(template):
        lit = template[pos:m.start()]
        out.append(lit)
        length += len(lit)
        filler, label, kind = m.group(1), m.group(2), m.group(3)
        value = slots.get(kind)
        if not filler:
            spans.append({"start": length, "end": length + len(value), "label": label})
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(template[pos:])
    return "".join(out), spans
