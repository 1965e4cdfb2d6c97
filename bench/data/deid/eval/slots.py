# ruff: noqa: E501  (tables of names, places and sentences: one entry a line reads better than wrapped)
"""Slot values for the evaluation-set templates, already in gold markup.

Every generator here returns marked-up text (``[[NAME:Priya Raman]]``); values that
are not PHI (drugs, findings, roles, states, countries) come back as plain text.
Faker supplies names, streets, postcodes and phone numbers per locale; the lists
below add real places and name families Faker lacks in Latin script.
"""

from __future__ import annotations

import random
import re
from datetime import date, timedelta

from faker import Faker

# Locales whose first/last names are in Latin script (or romanised by Faker).
NAME_LOCALES = [
    "en_US", "en_GB", "en_IN", "en_AU", "en_NZ", "en_IE", "en_NG", "yo_NG", "ig_NG", "ha_NG", "en_KE",
    "sw", "zu_ZA", "tw_GH", "en_PK", "de_DE", "de_AT", "fr_FR", "fr_CA", "es_ES", "es_MX", "es_CO",
    "es_AR", "it_IT", "nl_NL", "pt_BR", "pt_PT", "pl_PL", "cs_CZ", "sk_SK", "hu_HU", "ro_RO", "hr_HR",
    "tr_TR", "sv_SE", "fi_FI", "da_DK", "no_NO", "ga_IE", "vi_VN", "id_ID", "ja_JP", "zh_CN", "zh_TW",
]
ROMANISED = {"ja_JP", "zh_CN", "zh_TW"}
# Locales with Latin-script streets, cities and postcodes, for addresses.
ADDRESS_LOCALES = {
    "en_US": "US", "en_GB": "UK", "en_AU": "Australia", "en_NZ": "New Zealand", "en_IN": "India",
    "de_DE": "Germany", "de_AT": "Austria", "de_CH": "Switzerland", "fr_FR": "France", "es_ES": "Spain",
    "es_MX": "Mexico", "it_IT": "Italy", "nl_NL": "the Netherlands", "pt_BR": "Brazil", "pt_PT": "Portugal",
    "pl_PL": "Poland", "cs_CZ": "Czechia", "sv_SE": "Sweden", "fi_FI": "Finland", "da_DK": "Denmark",
    "no_NO": "Norway", "hr_HR": "Croatia", "es_CO": "Colombia", "es_AR": "Argentina", "fr_CA": "Canada",
}
PHONE_LOCALES = [
    "en_US", "en_GB", "en_AU", "en_IN", "de_DE", "fr_FR", "es_ES", "es_MX", "it_IT", "nl_NL", "pt_BR",
    "pl_PL", "sv_SE", "tr_TR", "cs_CZ", "fi_FI", "da_DK", "de_CH", "de_AT", "es_CO", "es_AR", "tw_GH",
    "ja_JP", "zh_CN", "en_NZ", "pt_PT", "hu_HU", "ro_RO",
]

EXTRA_NAMES = {  # (first names, surnames) Faker has no Latin-script locale for
    "arabic": (["Mohammed", "Ahmad", "Omar", "Khalid", "Youssef", "Hamza", "Tariq", "Fatima", "Aisha", "Layla",
                "Mariam", "Noor", "Huda", "Rania", "Samir", "Karim", "Zainab", "Ibrahim", "Salma", "Bilal"],
               ["Al-Farsi", "Haddad", "Nasser", "El-Sayed", "Khoury", "Mansour", "Al-Harbi", "Benali", "Saleh",
                "Abdullah", "Hamdan", "Qasim", "Darwish", "Al-Mutairi", "Aziz", "Bakr", "Sabbagh", "El Amrani"]),
    "slavic": (["Dmitri", "Oksana", "Sergei", "Natalia", "Yuri", "Olena", "Vladimir", "Svetlana", "Taras",
                "Irina", "Bohdan", "Lyudmila", "Aleksandr", "Yevgenia", "Mykola", "Anastasia"],
               ["Volkov", "Kovalenko", "Ivanova", "Petrenko", "Smirnov", "Shevchenko", "Sokolova", "Bondarenko",
                "Kuznetsov", "Melnyk", "Popova", "Tkachenko", "Morozov", "Lysenko"]),
    "korean": (["Ji-hoon", "Min-jun", "Seo-yeon", "Ji-woo", "Hyun-woo", "Soo-ah", "Eun-ji", "Dong-hyun",
                "Ha-eun", "Jae-won"],
               ["Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim"]),
    "pacific": (["Sione", "Malia", "Tevita", "Mele", "Keala", "Leilani", "Tamatea", "Aroha", "Losana",
                 "Viliami", "Kalani", "Moana", "Inoke", "Salote"],
                ["Tupou", "Fonoti", "Fifita", "Vainikolo", "Kahananui", "Ngata", "Taufa", "Tuilagi",
                 "Kealoha", "Mahe", "Faleolo", "Naufahu", "Peleke"]),
    "ethiopian": (["Abebe", "Tigist", "Dawit", "Meron", "Yonas", "Selam", "Bereket", "Hiwot"],
                  ["Bekele", "Tesfaye", "Haile", "Girma", "Alemu", "Wolde", "Getachew", "Mengistu"]),
    "south_asian": (["Venkatesh", "Lakshmi", "Harpreet", "Gurpreet", "Anjali", "Rohan", "Sanjana", "Farhan",
                     "Nusrat", "Tahmina", "Dilshan", "Chamari", "Prakash", "Kavitha"],
                    ["Subramanian", "Narayanan", "Sandhu", "Gill", "Chatterjee", "Iyer", "Reddy", "Hossain",
                     "Rahman", "Perera", "Fernando", "Bhattarai", "Shrestha", "Menon"]),
}

US_CITIES = [
    "Sacramento", "Phoenix", "Tulsa", "Boise", "Fresno", "Albuquerque", "Omaha", "Des Moines", "Spokane",
    "Tacoma", "Eugene", "Salem", "Reno", "Provo", "Tucson", "El Paso", "Lubbock", "Amarillo", "Wichita",
    "Topeka", "Lincoln", "Fargo", "Sioux Falls", "Duluth", "Madison", "Green Bay", "Rockford", "Peoria",
    "Dayton", "Akron", "Toledo", "Erie", "Scranton", "Allentown", "Trenton", "Newark", "Hartford",
    "Worcester", "Lowell", "Providence", "Burlington", "Portland", "Bangor", "Albany", "Syracuse",
    "Buffalo", "Rochester", "Baltimore", "Richmond", "Norfolk", "Raleigh", "Durham", "Charlotte",
    "Greenville", "Savannah", "Macon", "Tallahassee", "Gainesville", "Tampa", "Orlando", "Mobile",
    "Jackson", "Memphis", "Knoxville", "Chattanooga", "Lexington", "Louisville", "Little Rock",
    "Shreveport", "Baton Rouge", "Lafayette", "Tulare", "Modesto", "Stockton", "Bakersfield", "Oxnard",
    "Pasadena", "Riverside", "Anaheim", "Chula Vista", "Flagstaff", "Yuma", "Billings", "Missoula",
    "Cheyenne", "Casper", "Anchorage", "Fairbanks", "Honolulu", "Hilo", "Yakima", "Olympia", "Medford",
    "Bend", "Santa Fe", "Las Cruces", "Laredo", "McAllen", "Brownsville", "Waco", "Killeen", "Joplin",
    "Springfield", "Columbia", "Evansville", "Gary", "Flint", "Lansing", "Kalamazoo", "Saginaw",
]
US_STATES = ["Oregon", "Texas", "Ohio", "California", "New York", "Georgia", "Arizona", "Michigan", "Iowa",
             "Florida", "Washington", "Tennessee", "Kansas", "Virginia", "Maine", "Nevada"]
US_STATE_CODES = ["OR", "TX", "OH", "CA", "NY", "GA", "AZ", "MI", "IA", "FL", "WA", "TN", "KS", "VA", "ME"]
COUNTIES = [
    "Harris County", "Cook County", "Maricopa County", "King County", "Wayne County", "Fulton County",
    "Multnomah County", "Travis County", "Bexar County", "Cuyahoga County", "Dade County", "Kern County",
    "Hennepin County", "Allegheny County", "Orange County", "Marion County", "Jefferson Parish",
    "Lane County", "Pima County", "Salt Lake County", "Washtenaw County", "Dane County",
]
WORLD_CITIES = [
    "Lagos", "Accra", "Nairobi", "Addis Ababa", "Kampala", "Mombasa", "Cairo", "Casablanca", "Tunis",
    "Amman", "Beirut", "Riyadh", "Dubai", "Karachi", "Lahore", "Dhaka", "Chennai", "Mumbai", "Pune",
    "Hyderabad", "Kolkata", "Kathmandu", "Colombo", "Manila", "Cebu", "Hanoi", "Da Nang", "Jakarta",
    "Surabaya", "Shanghai", "Chengdu", "Guangzhou", "Taipei", "Seoul", "Busan", "Osaka", "Sapporo",
    "Apia", "Nuku'alofa", "Suva", "Auckland", "Kyiv", "Lviv", "Warsaw", "Krakow", "Brno", "Bucharest",
    "Belgrade", "Zagreb", "Istanbul", "Izmir", "Tehran", "Guadalajara", "Monterrey", "Oaxaca", "Bogota",
    "Medellin", "Lima", "Quito", "Recife", "Porto Alegre", "Lyon", "Marseille", "Hamburg", "Cologne",
    "Rotterdam", "Gothenburg", "Turin", "Naples", "Seville", "Valencia", "Porto", "Leeds", "Glasgow",
]
COUNTRIES = ["Mexico", "Nigeria", "India", "the Philippines", "Vietnam", "Ukraine", "Poland", "Brazil",
             "Germany", "Ghana", "Kenya", "Pakistan", "Japan", "Korea", "Canada", "Guatemala", "Somalia"]
SAINTS = ["Luke's", "Mary's", "Joseph's", "Vincent", "Francis", "Elizabeth", "Anthony's", "Jude", "Agnes",
          "Peter's", "Catherine", "Michael's", "Rose", "Clare", "Barnabas", "Cloud", "Alphonsus"]
FAC_WORDS = ["Lakeview", "Riverbend", "Cedar Ridge", "Mercy", "Good Shepherd", "Valley View", "Pine Grove",
             "Summit", "Harborview", "Northgate", "Willow Creek", "Bayside", "Highland", "Sunnyvale",
             "Oak Hill", "Crestwood", "Fairview", "Meadowbrook", "Brookside", "Silver Lake"]
UNIVERSITIES = ["Vanderbilt", "OHSU", "UCSF", "UCLA", "Duke", "Emory", "Yale New Haven", "Penn Medicine",
                "Johns Hopkins", "Mass General", "UPMC", "Michigan Medicine", "UW Medicine", "NYU Langone",
                "Stanford Health Care", "UC Davis", "UNC Hospitals", "MUSC", "UAB", "OU Health",
                "Cedars-Sinai", "Mayo Clinic", "Cleveland Clinic", "Geisinger", "Intermountain",
                "Ochsner", "Baylor Scott & White", "Northwestern Memorial", "Rush", "Barnes-Jewish"]
FAC_KINDS = ["Medical Center", "Hospital", "Regional Medical Center", "Community Hospital",
             "Memorial Hospital", "Health Center", "General Hospital", "Rehabilitation Hospital"]
CLINIC_KINDS = ["Family Practice", "Family Medicine", "Pediatrics", "Internal Medicine Associates",
                "Urgent Care", "Dialysis Center", "Cardiology Associates", "Women's Health",
                "Community Health Center", "Nursing and Rehabilitation", "Assisted Living", "Surgery Center"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
MON3 = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
TITLES = ["Dr.", "Dr", "Mr.", "Mrs.", "Ms.", "Miss", "Prof.", "Mx."]
EMAIL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me",
                 "aol.com", "gmx.de", "web.de", "orange.fr", "libero.it", "wp.pl", "uol.com.br", "seznam.cz",
                 "yahoo.co.in", "btinternet.com", "bigpond.com", "mail.ru", "qq.com", "naver.com"]


def mark(label: str, value: str) -> str:
    value = re.sub(r"\s+", " ", value).strip()
    return f"[[{label}:{value}]]"


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


class Slots:
    """Draws marked-up slot values from one seeded RNG and seeded Faker instances."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._fakers: dict[str, Faker] = {}
        self.seed = seed

    def faker(self, locale: str) -> Faker:
        if locale not in self._fakers:
            f = Faker(locale)
            f.seed_instance(self.seed + sum(map(ord, locale)))
            self._fakers[locale] = f
        return self._fakers[locale]

    def choice(self, seq):
        return self.rng.choice(seq)

    # --- names -------------------------------------------------------------
    def person(self, locale: str | None = None) -> tuple[str, str]:
        """(first, last) in Latin script, from a Faker locale or a hand list."""
        if locale is None and self.rng.random() < 0.25:
            firsts, lasts = EXTRA_NAMES[self.choice(sorted(EXTRA_NAMES))]
            return self.choice(firsts), self.choice(lasts)
        loc = locale or self.choice(NAME_LOCALES)
        f = self.faker(loc)
        if loc in ROMANISED:
            return f.first_romanized_name(), f.last_romanized_name()
        return f.first_name(), f.last_name()

    def name_form(self, first: str, last: str, form: str | None = None) -> str:
        """One written form of a person's name (the span includes titles and initials)."""
        form = form or self.choice(["full", "full", "full", "initial", "title", "first", "last_first",
                                    "mid", "lower", "title_full", "first_initial_last"])
        if form == "full":
            v = f"{first} {last}"
        elif form == "initial":
            v = f"{first} {last[0]}."
        elif form == "title":
            v = f"{self.choice(TITLES)} {last}"
        elif form == "title_full":
            v = f"{self.choice(['Dr.', 'Mr.', 'Ms.', 'Mrs.'])} {first} {last}"
        elif form == "first":
            v = first
        elif form == "last_first":
            v = f"{last}, {first}"
        elif form == "mid":
            v = f"{first} {self.choice('ABCDEFGHJKLMNPRSTW')}. {last}"
        elif form == "first_initial_last":
            v = f"{first[0]}. {last}"
        elif form == "lower":
            v = f"{first} {last}".lower()
        else:
            raise ValueError(form)
        return mark("NAME", v)

    def name(self, locale: str | None = None, form: str | None = None) -> str:
        return self.name_form(*self.person(locale), form)

    def doctor(self, locale: str | None = None) -> str:
        first, last = self.person(locale)
        return mark("NAME", self.choice([f"Dr. {last}", f"Dr {last}", f"Dr. {first} {last}",
                                         f"Dr. {first[0]}. {last}"]))

    # --- places ------------------------------------------------------------
    def city(self) -> str:
        return mark("LOCATION", self.choice(US_CITIES if self.rng.random() < 0.6 else WORLD_CITIES))

    def county(self) -> str:
        return mark("LOCATION", self.choice(COUNTIES))

    def facility(self) -> str:
        r = self.rng.random()
        city = self.choice(US_CITIES)
        if r < 0.2:
            v = f"{self.choice(['St.', 'Saint', 'St'])} {self.choice(SAINTS)} {self.choice(FAC_KINDS)}"
        elif r < 0.3:
            v = f"{self.choice(['St.', 'Saint'])} {self.choice(SAINTS)}"
        elif r < 0.45:
            v = self.choice(UNIVERSITIES)
        elif r < 0.55:
            v = self.choice([f"{city} Children's Hospital", f"Children's Hospital of {city}",
                             f"Rady Children's Hospital {city}", f"{city} Children's"])
        elif r < 0.75:
            v = f"{self.choice(FAC_WORDS)} {self.choice(CLINIC_KINDS)}"
        elif r < 0.85:
            v = f"{self.person('en_US')[1]} {self.choice(CLINIC_KINDS[:4])}"
        else:
            v = f"{self.choice([city, self.choice(FAC_WORDS)])} {self.choice(FAC_KINDS)}"
        return mark("LOCATION", v)

    def us_address(self) -> tuple[str, str, str, str]:
        f = self.faker("en_US")
        street = f.street_address()
        return mark("LOCATION", street), mark("LOCATION", self.choice(US_CITIES)), \
            self.choice(US_STATE_CODES), mark("LOCATION", f.postcode())

    def address(self, locale: str, with_country: bool = True) -> str:
        """A one-line postal address in the locale's order; state and country stay unlabelled."""
        f = self.faker(locale)
        street = mark("LOCATION", f.street_address())
        city = mark("LOCATION", f.city())
        pc = mark("LOCATION", f.postcode())
        country = ADDRESS_LOCALES.get(locale, "")
        if not with_country:
            return f"{street}, {pc} {city}"
        if locale == "en_US":
            s, c, st, z = self.us_address()
            return f"{s}, {c}, {st} {z}"
        if locale in ("en_GB", "en_IN", "pt_BR", "es_CO", "en_NZ"):
            return f"{street}, {city} {pc}, {country}"
        if locale in ("en_AU",):
            return f"{street}, {city} {self.choice(['NSW', 'VIC', 'QLD', 'WA', 'SA'])} {pc}"
        if locale == "fr_CA":
            return f"{street}, {city}, QC {pc}"
        return f"{street}, {pc} {city}, {country}"

    # --- dates and ages ----------------------------------------------------
    def _day(self) -> date:
        return date(1990, 1, 1) + timedelta(days=self.rng.randrange(0, 13000))

    def date(self, style: str | None = None, d: date | None = None) -> str:
        d = d or self._day()
        style = style or self.choice(["us", "us_short", "iso", "dot", "long", "dmy_long", "month_year",
                                      "md", "mon_d", "ordinal_of", "d_mon_y", "us2"])
        v = {
            "us": f"{d.month}/{d.day}/{d.year}", "us2": f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",
            "us_short": f"{d.month}/{d.day}", "iso": d.isoformat(), "dot": f"{d.day:02d}.{d.month:02d}.{d.year}",
            "long": f"{MONTHS[d.month - 1]} {d.day}, {d.year}", "dmy_long": f"{d.day} {MONTHS[d.month - 1]} {d.year}",
            "month_year": f"{MONTHS[d.month - 1]} {d.year}", "md": f"{MONTHS[d.month - 1]} {ordinal(d.day)}",
            "mon_d": f"{MON3[d.month - 1]} {d.day}", "ordinal_of": f"the {ordinal(d.day)} of {MONTHS[d.month - 1]}",
            "d_mon_y": f"{d.day:02d}-{MON3[d.month - 1]}-{d.year}",
        }[style]
        return mark("DATE", v)

    def year(self) -> str:
        return mark("DATE", str(self.rng.randrange(1970, 2025)))

    def age90(self) -> str:
        n = self.rng.randrange(90, 106)
        return mark("AGE", str(n))

    def age(self) -> str:
        """An age of 89 or under: not PHI."""
        return str(self.rng.randrange(18, 90))

    # --- numbers -----------------------------------------------------------
    def digits(self, n: int) -> str:
        return "".join(self.choice("0123456789") for _ in range(n))

    def alnum(self, n: int) -> str:
        return "".join(self.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(n))

    def mrn(self) -> str:
        v = self.choice([self.digits(8), self.digits(7), f"{self.digits(3)}-{self.digits(3)}-{self.digits(3)}",
                         f"{self.choice('AMZK')}{self.digits(7)}", f"MR{self.digits(6)}", self.digits(10)])
        return mark("MRN", v)

    def account(self) -> str:
        v = self.choice([self.digits(10), f"{self.digits(2)}-{self.digits(5)}-{self.digits(2)}",
                         f"ACC{self.digits(8)}", f"E{self.digits(4)}-{self.digits(6)}", self.digits(12)])
        return mark("ACCOUNT", v)

    def plan(self) -> str:
        v = self.choice([f"{self.alnum(3)}{self.digits(9)}", f"{self.digits(1)}{self.alnum(3)}-{self.alnum(3)}-{self.alnum(4)}",
                         f"W{self.digits(9)}", f"{self.alnum(2)}{self.digits(8)}", f"U{self.digits(8)}01"])
        return mark("HEALTH_PLAN_ID", v)

    def dea(self) -> str:
        return mark("LICENSE", f"{self.choice('ABFM')}{self.choice('ABCDKLMRSW')}{self.digits(7)}")

    def npi(self) -> str:
        return mark("LICENSE", f"1{self.digits(9)}")

    def driver_license(self) -> str:
        return mark("LICENSE", self.choice([f"{self.choice('DGKSW')}{self.digits(7)}",
                                            f"{self.choice('ABCD')}{self.digits(3)}-{self.digits(4)}-{self.digits(4)}",
                                            f"{self.digits(3)} {self.digits(3)} {self.digits(3)}"]))

    def license(self) -> str:
        return self.choice([self.dea, self.npi, self.driver_license])()

    def device(self) -> str:
        v = self.choice([f"{self.alnum(3)}{self.digits(6)}{self.choice('HSFN')}", f"SN{self.digits(9)}",
                         f"{self.alnum(2)}-{self.digits(4)}-{self.digits(4)}", f"(01){self.digits(14)}(21){self.alnum(6)}"])
        return mark("DEVICE_ID", v)

    def vehicle(self) -> str:
        if self.rng.random() < 0.5:
            return mark("VEHICLE_ID", self.faker("en_US").vin())
        return mark("VEHICLE_ID", self.faker(self.choice(["en_US", "en_GB", "de_DE", "fr_FR", "nl_NL"])).license_plate())

    def ssn(self) -> str:
        return mark("SSN", self.faker("en_US").ssn())

    def passport(self) -> str:
        return mark("ID_OTHER", self.faker(self.choice(["en_US", "en_GB", "de_DE", "fr_FR", "en_IN"])).passport_number())

    def employee(self) -> str:
        return mark("ID_OTHER", self.choice([f"EMP-{self.digits(6)}", f"E{self.digits(5)}", f"{self.alnum(2)}{self.digits(5)}"]))

    def claim(self) -> str:
        return mark("ID_OTHER", self.choice([f"WC-{self.rng.randrange(2015, 2025)}-{self.digits(6)}",
                                             f"{self.digits(3)}-{self.digits(7)}", f"CLM{self.digits(9)}"]))

    def accession(self) -> str:
        return mark("ID_OTHER", self.choice([f"S{self.digits(2)}-{self.digits(5)}", f"ACC{self.digits(8)}",
                                             f"{self.choice('CMR')}{self.digits(2)}-{self.digits(6)}"]))

    def other_id(self) -> str:
        return self.choice([self.passport, self.employee, self.claim, self.accession])()

    def phone(self, locale: str | None = None) -> str:
        f = self.faker(locale or self.choice(PHONE_LOCALES))
        return mark("PHONE", f.phone_number())

    def us_phone(self, label: str = "PHONE") -> str:
        a, b, c = self.rng.randrange(201, 990), self.digits(3), self.digits(4)
        return mark(label, self.choice([f"({a}) 555-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"+1 {a} {b} {c}"]))

    def pager(self) -> str:
        return mark("PHONE", self.digits(self.choice([4, 5])))

    def email(self, first: str | None = None, last: str | None = None) -> str:
        if first is None:
            first, last = self.person(self.choice(["en_US", "en_GB", "de_DE", "es_MX", "fr_FR", "en_IN"]))
        ascii_ = lambda s: re.sub(r"[^a-z]", "", s.lower().encode("ascii", "ignore").decode()) or "pt"
        user = self.choice([f"{ascii_(first)}.{ascii_(last)}", f"{ascii_(first)[0]}{ascii_(last)}",
                            f"{ascii_(first)}{self.digits(2)}", f"{ascii_(last)}_{ascii_(first)}"])
        return mark("EMAIL", f"{user}@{self.choice(EMAIL_DOMAINS)}")

    def url(self) -> str:
        f = self.faker("en_US")
        v = self.choice([f"https://www.{f.domain_name()}/{f.uri_path()}", f"http://{f.domain_name()}/~{f.user_name()}",
                         f"www.facebook.com/{f.user_name()}", f"https://portal.{f.domain_name()}/patient/{self.digits(6)}"])
        return mark("URL", v)

    def ip(self) -> str:
        f = self.faker("en_US")
        return mark("IP_ADDRESS", f.ipv4() if self.rng.random() < 0.8 else f.ipv6())
